package server_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/server"
)

// resticBinary finds restic: $CAIRN_TEST_RESTIC, the PATH, or the Go bin
// directory (.ci/run installs it there). Only without CI may it be
// missing.
func resticBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAIRN_TEST_RESTIC"); p != "" {
		return p
	}
	if p, err := exec.LookPath("restic"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "restic")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("restic is missing under CI (.ci/run installs it with go install)")
	}
	t.Skip("restic not installed")
	return ""
}

// TestResticClient: restic itself backs up into cairn serve, restores
// byte-exact, checks its data, and forgets and prunes; with append-only
// access it still backs up but can't forget or prune. Proof that the
// protocol is restic's.
func TestResticClient(t *testing.T) {
	t.Parallel()
	restic := resticBinary(t)
	users := htpasswd(t, "alice", "bob")
	if err := users.SetAppendOnly("bob"); err != nil {
		t.Fatal(err)
	}
	ts := start(t, server.Options{Users: users})
	src := t.TempDir()
	files := map[string]string{"a.txt": "alpha", "d/b.bin": strings.Repeat("beta\x00", 200000), "d/e/c": "gamma"}
	for name, content := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	run := func(user string, args ...string) (string, error) {
		loc := "rest:" + strings.Replace(ts.URL, "http://", "http://"+user+":"+user+"-pw@", 1) + "/restic-repo/"
		cmd := exec.Command(restic, append([]string{"-r", loc, "--cache-dir", cache}, args...)...)
		cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=restic-pw")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	must := func(user string, args ...string) string {
		t.Helper()
		out, err := run(user, args...)
		if err != nil {
			t.Fatalf("restic %s as %s: %v\n%s", strings.Join(args, " "), user, err, out)
		}
		return out
	}
	must("alice", "init")
	must("alice", "backup", "--host", "h1", src)
	must("bob", "backup", "--host", "h2", src)
	must("alice", "check", "--read-data")
	dst := t.TempDir()
	must("alice", "restore", "latest", "--host", "h2", "--target", dst)
	for name, content := range files {
		b, err := os.ReadFile(filepath.Join(dst, src, filepath.FromSlash(name)))
		if err != nil || string(b) != content {
			t.Fatalf("restored %s: %d bytes, %v", name, len(b), err)
		}
	}
	// Append-only: bob can't forget or prune; alice can.
	if out, err := run("bob", "forget", "--group-by", "", "--keep-last", "1", "--prune"); err == nil {
		t.Fatalf("append-only restic forget succeeded:\n%s", out)
	}
	must("alice", "snapshots")
	if out := must("alice", "snapshots", "--json"); strings.Count(out, `"hostname"`) != 2 {
		t.Fatalf("snapshots after bob's forget: %s", out)
	}
	must("alice", "forget", "--group-by", "", "--keep-last", "1", "--prune")
	must("alice", "check")
	if !strings.Contains(ts.log.String(), "denied: append-only access can't delete") {
		t.Fatalf("bob's denied delete isn't in the access log:\n%s", ts.log)
	}
}
