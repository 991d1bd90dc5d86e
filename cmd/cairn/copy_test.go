//go:build unix

package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend/backendtest"
)

type snapView struct {
	ID         string `json:"id"`
	Time       string `json:"time"`
	Kind       string `json:"kind"`
	Generation string `json:"generation"`
	Original   string `json:"original"`
}

func listSnapshots(t *testing.T, env []string, opt ...string) []snapView {
	t.Helper()
	var sns []snapView
	if err := json.Unmarshal([]byte(mustCairn(t, env, append(opt, "snapshots", "--json")...)), &sns); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(sns, func(i, j int) bool { return sns[i].Time < sns[j].Time })
	return sns
}

// TestCopyRoundTrip copies three snapshots (incremental, full,
// incremental) local → S3 → SFTP → local: every snapshot restores byte
// for byte from every repository, kinds and generations are kept, and a
// second copy transfers nothing.
func TestCopyRoundTrip(t *testing.T) {
	sftpLoc, command := backendtest.SFTPServer(t)
	s3Loc, key, secret := backendtest.S3Server(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	env0 := []string{"CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw", "AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret}
	opt := []string{"-o", "sftp.command=" + command, "-o", "s3.bucket-lookup=path"}
	repos := []string{
		filepath.Join(base, "local"),
		fmt.Sprintf("%s-copy-%d/repo", s3Loc, os.Getpid()),
		fmt.Sprintf("%s/copy-%d", sftpLoc, os.Getpid()),
		filepath.Join(base, "back"),
	}
	envOf := func(repo string) []string { return append(append([]string{}, env0...), "CAIRN_REPOSITORY="+repo) }
	run := func(repo string, args ...string) string { return mustCairn(t, envOf(repo), append(opt, args...)...) }

	writeSpecial(t, src, 3<<20)
	writeRandom(t, filepath.Join(src, "r1.bin"), 2<<20, 1)
	run(repos[0], "init", "--pack-size", "1")
	run(repos[0], "backup", "-q", src)
	writeRandom(t, filepath.Join(src, "r2.bin"), 1<<20, 2)
	run(repos[0], "backup", "-q", "--full", src)
	write(t, filepath.Join(src, "later.txt"), "third snapshot")
	os.Remove(filepath.Join(src, "r1.bin"))
	run(repos[0], "backup", "-q", src)
	want := listSnapshots(t, envOf(repos[0]), opt...)
	if len(want) != 3 {
		t.Fatalf("%d snapshots in the source", len(want))
	}

	for i := 1; i < len(repos); i++ {
		run(repos[i], "init", "--copy-chunker-params", "--from-repo", repos[i-1])
		if out := run(repos[i], "copy", "--from-repo", repos[i-1]); !strings.Contains(out, "3 snapshots copied, 0 already there") {
			t.Fatalf("copy to %s:\n%s", repos[i], out)
		}
		before := ""
		if i == len(repos)-1 {
			before = strings.Join(listFiles(t, repos[i]), "\n")
		}
		var res struct {
			Copied  []json.RawMessage `json:"copied"`
			Skipped int               `json:"skipped"`
		}
		if err := json.Unmarshal([]byte(run(repos[i], "copy", "--json", "--from-repo", repos[i-1])), &res); err != nil || len(res.Copied) != 0 || res.Skipped != 3 {
			t.Fatalf("second copy to %s: %+v %v", repos[i], res, err)
		}
		if before != "" {
			if after := strings.Join(listFiles(t, repos[i]), "\n"); after != before {
				t.Fatal("a second copy changed the destination")
			}
		}
		got := listSnapshots(t, envOf(repos[i]), opt...)
		if len(got) != 3 {
			t.Fatalf("%s has %d snapshots", repos[i], len(got))
		}
		for j := range got {
			if got[j].Kind != want[j].Kind || got[j].Generation != want[j].Generation || got[j].Time != want[j].Time || got[j].Original != want[j].ID {
				t.Fatalf("copy %d in %s: %+v, source %+v", j, repos[i], got[j], want[j])
			}
		}
	}
	// Every snapshot restores the same from every repository; the last
	// equals the source.
	for j := range want {
		first := ""
		for i, repo := range repos {
			sns := listSnapshots(t, envOf(repo), opt...)
			target := filepath.Join(base, fmt.Sprintf("restore-%d-%d", i, j))
			run(repo, "restore", sns[j].ID, "--target", target)
			if i == 0 {
				first = target
				if j == len(want)-1 {
					compareTrees(t, src, filepath.Join(target, src))
				}
				continue
			}
			compareTrees(t, filepath.Join(first, src), filepath.Join(target, src))
		}
	}
	run(repos[3], "check", "--read-data")
}

// TestCopyChunkerParamsDedup: backups made directly into a repository
// created with --copy-chunker-params deduplicate against the copies; with
// a repository's own chunker they can't.
func TestCopyChunkerParamsDedup(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeRandom(t, filepath.Join(src, "a.bin"), 6<<20, 3)
	writeRandom(t, filepath.Join(src, "b.bin"), 3<<20, 4)
	env := func(repo string) []string {
		return []string{"CAIRN_REPOSITORY=" + filepath.Join(base, repo), "CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw"}
	}
	mustCairn(t, env("a"), "init")
	mustCairn(t, env("a"), "backup", "-q", src)
	growth := func(repo string, initArgs ...string) int64 {
		mustCairn(t, env(repo), append([]string{"init"}, initArgs...)...)
		mustCairn(t, env(repo), "copy", "--from-repo", filepath.Join(base, "a"))
		before := dirSize(t, filepath.Join(base, repo, "data"))
		// --rescan reads and chunks every file again.
		mustCairn(t, env(repo), "backup", "-q", "--rescan", src)
		return dirSize(t, filepath.Join(base, repo, "data")) - before
	}
	same := growth("same", "--copy-chunker-params", "--from-repo", filepath.Join(base, "a"))
	own := growth("own")
	if same > 64<<10 {
		t.Errorf("backup into the copy with the same chunker grew the repository by %d bytes", same)
	}
	if own < 4<<20 {
		t.Errorf("with its own chunker the repository grew by only %d bytes; the test shows nothing", own)
	}
}

// TestKillDuringCopy kills a copy part way: both repositories check clean
// and the next copy finishes it.
func TestKillDuringCopy(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 24; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), 1<<20, byte(100+i))
	}
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	envA := []string{"CAIRN_REPOSITORY=" + a, "CAIRN_PASSWORD=pw"}
	envB := []string{"CAIRN_REPOSITORY=" + b, "CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw", "CAIRN_FROM_REPOSITORY=" + a}
	mustCairn(t, envA, "init", "--pack-size", "1")
	mustCairn(t, envA, "backup", "-q", src)
	mustCairn(t, envB, "init", "--pack-size", "1", "--parity-data", "4")
	killWhen(t, envB, func() bool { return len(listFiles(t, filepath.Join(b, "data"))) >= 4 }, "copy")
	if n := len(listFiles(t, filepath.Join(b, "snapshots"))); n != 0 {
		t.Skipf("the copy finished before the kill")
	}
	for _, env := range [][]string{envA, envB} {
		if r := cairn(t, env, "check", "--read-data"); r.code != 0 {
			t.Fatalf("check after the kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	if out := mustCairn(t, envB, "copy"); !strings.Contains(out, "1 snapshots copied") {
		t.Fatalf("second copy: %s", out)
	}
	target := filepath.Join(base, "out")
	mustCairn(t, envB, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	mustCairn(t, envB, "prune", "--grace", "0")
	if out := mustCairn(t, envB, "check", "--read-data"); strings.Contains(out, "note") {
		t.Fatalf("after prune:\n%s", out)
	}
}

// TestMirrors lists mirrors in the config, copies to all of them, reports
// their lag, and goes on past a mirror that is down.
func TestMirrors(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 1<<20)
	main := filepath.Join(base, "main")
	env := []string{"CAIRN_REPOSITORY=" + main, "CAIRN_PASSWORD=pw"}
	run := func(args ...string) string { return mustCairn(t, env, args...) }
	run("init")
	m1, m2, down := filepath.Join(base, "m1"), filepath.Join(base, "m2"), filepath.Join(base, "gone", "m3")
	run("mirror", "add", "--init", m1)
	// m2 has a password of its own, read from a file.
	pwFile := filepath.Join(base, "m2.pass")
	write(t, pwFile, "other\n")
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + m2, "CAIRN_PASSWORD=other"}, "init")
	run("mirror", "add", m2, "--mirror-password-file", pwFile)
	// Where m2's password comes from is given on this machine (here by
	// the environment for every later command), never by the config.
	env = append(env, "CAIRN_MIRROR_PASSWORD_FILE=/nonexistent")
	mirrorPw := []string{"--mirror-password-file", m2 + "=" + pwFile, "--mirror-password-file", filepath.Join(base, "main.pass")}
	write(t, filepath.Join(base, "main.pass"), "pw\n")
	run = func(args ...string) string { return mustCairn(t, env, append(mirrorPw, args...)...) }
	if r := cairn(t, env, "mirror", "add", m1); r.code == 0 || !strings.Contains(r.stderr, "already a mirror") {
		t.Fatalf("duplicate mirror: %d %s", r.code, r.stderr)
	}
	if r := cairn(t, env, "mirror", "add", filepath.Join(base, "nothing")); r.code != 10 {
		t.Fatalf("mirror that doesn't exist: exit %d %s", r.code, r.stderr)
	}
	if out := run("mirror", "list"); !strings.Contains(out, m1) || !strings.Contains(out, m2) || strings.Contains(out, pwFile) {
		t.Fatalf("mirror list:\n%s", out)
	}
	run("backup", "-q", src)
	if out := run("check", "--mirrors"); strings.Count(out, "lacks 1 snapshots") != 2 {
		t.Fatalf("check --mirrors before copy:\n%s", out)
	}
	out := run("copy", "--mirrors")
	if strings.Count(out, "1 snapshots copied") != 2 {
		t.Fatalf("copy --mirrors:\n%s", out)
	}
	if out := run("check", "--mirrors"); strings.Count(out, "up to date (1 snapshots)") != 2 {
		t.Fatalf("check --mirrors after copy:\n%s", out)
	}
	target := filepath.Join(base, "out")
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + m2, "CAIRN_PASSWORD=other"}, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))

	// A mirror that is down fails its copy and check, the others go on.
	run("mirror", "add", "--no-check", down)
	write(t, filepath.Join(src, "new.txt"), "new")
	run("backup", "-q", src)
	r := cairn(t, env, append(mirrorPw, "copy", "--mirrors")...)
	if r.code == 0 || !strings.Contains(r.stderr, down) || strings.Count(r.stdout, "1 snapshots copied, 1 already there") != 2 {
		t.Fatalf("copy with a mirror down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cairn(t, env, append(mirrorPw, "check", "--mirrors")...)
	if r.code == 0 || !strings.Contains(r.stderr, "mirror "+down+" can't be read") {
		t.Fatalf("check with a mirror down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run("mirror", "remove", down)
	run("copy", "--mirrors")
	if r := cairn(t, env, "copy", "--mirrors", "--from-repo", m1); r.code == 0 {
		t.Fatal("--mirrors with --from-repo accepted")
	}
}
