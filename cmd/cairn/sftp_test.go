//go:build unix

package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend/backendtest"
)

// TestSFTPRepository backs up into a repository on a real sshd (started
// by scripts/test.sh through scripts/sshd.sh), restores byte for byte and
// checks every blob.
func TestSFTPRepository(t *testing.T) {
	loc, command := backendtest.SFTPServer(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 5<<20)
	repo := fmt.Sprintf("%s/e2e-%d", loc, os.Getpid())
	env := []string{"CAIRN_REPOSITORY=" + repo, "CAIRN_PASSWORD=pw"}
	opt := []string{"-o", "sftp.command=" + command}
	remoteRoundTrip(t, env, opt, base, src)
	if r := cairn(t, env, "-o", "sftp.command=false", "snapshots"); r.code == 0 || !strings.Contains(r.stderr, "sftp") {
		t.Fatalf("broken ssh command: %d %q", r.code, r.stderr)
	}
}

// remoteRoundTrip runs init, backup, incremental backup, restore,
// forget --prune and check --read-data on a remote repository; the
// restores must equal the source, as they do for a local repository.
func remoteRoundTrip(t *testing.T, env, opt []string, base, src string) {
	t.Helper()
	run := func(args ...string) string { return mustCairn(t, env, append(opt, args...)...) }
	run("init", "--pack-size", "32")
	run("backup", "-q", src)
	write(t, filepath.Join(src, "later.txt"), "second")
	os.Remove(filepath.Join(src, "big.bin"))
	s := backupSummary(t, env, append(opt, src)...)
	if s.FilesUnmodified == 0 || s.FilesNew != 1 {
		t.Fatalf("incremental backup: %+v", s)
	}
	target := filepath.Join(base, "t")
	run("restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	out := run("forget", "--keep-last", "1", "--prune", "--grace", "0")
	if !strings.Contains(out, "removed 1 snapshots") || !strings.Contains(out, "deleted:") {
		t.Fatalf("forget --prune: %s", out)
	}
	target2 := filepath.Join(base, "t2")
	run("restore", "latest", "--target", target2)
	compareTrees(t, src, filepath.Join(target2, src))
	if out := run("check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("check: %s", out)
	}
}

// TestConcurrentHosts: several hosts back up into one repository at the
// same time (shared locks); every snapshot is complete and check is clean.
func TestConcurrentHosts(t *testing.T) {
	base := t.TempDir()
	repoLoc := filepath.Join(base, "repo")
	var opt []string
	if loc := os.Getenv("CAIRN_TEST_SFTP"); loc != "" {
		repoLoc = fmt.Sprintf("%s/hosts-%d", loc, os.Getpid())
		opt = []string{"-o", "sftp.command=" + os.Getenv("CAIRN_TEST_SFTP_COMMAND")}
	}
	env := []string{"CAIRN_REPOSITORY=" + repoLoc, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, append(opt, "init", "--pack-size", "1")...)
	const hosts = 3
	srcs := make([]string, hosts)
	for h := range hosts {
		srcs[h] = filepath.Join(base, fmt.Sprintf("host%d", h))
		writeSpecial(t, srcs[h], 2<<20)
		writeRandom(t, filepath.Join(srcs[h], "own.bin"), 3<<20, byte(h))
	}
	errs := make(chan string, hosts)
	for h := range hosts {
		go func() {
			r := cairn(t, env, append(opt, "backup", "-q", "--host", fmt.Sprintf("host%d", h), srcs[h])...)
			if r.code != 0 {
				errs <- fmt.Sprintf("host%d: exit %d %s", h, r.code, r.stderr)
				return
			}
			errs <- ""
		}()
	}
	for range hosts {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
	if out := mustCairn(t, env, append(opt, "check", "--read-data")...); !strings.Contains(out, "no errors") {
		t.Fatalf("check: %s", out)
	}
	for h := range hosts {
		target := filepath.Join(base, fmt.Sprintf("t%d", h))
		mustCairn(t, env, append(opt, "restore", "latest", "--host", fmt.Sprintf("host%d", h), "--target", target)...)
		compareTrees(t, srcs[h], filepath.Join(target, srcs[h]))
	}
}

// TestCacheOverSFTP: with a warm cache, ls of a remote snapshot works
// from the cache; --no-cache works too; a cache dir can be chosen.
func TestCacheOverSFTP(t *testing.T) {
	loc, command := backendtest.SFTPServer(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 1<<20)
	env := []string{"CAIRN_REPOSITORY=" + fmt.Sprintf("%s/cache-%d", loc, os.Getpid()), "CAIRN_PASSWORD=pw"}
	cacheDir := filepath.Join(base, "cache")
	opt := []string{"-o", "sftp.command=" + command, "--cache-dir", cacheDir}
	mustCairn(t, env, append(opt, "init")...)
	mustCairn(t, env, append(opt, "backup", "-q", src)...)
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*", "snapshots", "*"))
	if len(files) != 1 {
		t.Fatalf("snapshot not cached: %v", files)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "CACHEDIR.TAG")); err != nil {
		t.Fatal("cache not tagged with CACHEDIR.TAG")
	}
	a := mustCairn(t, env, append(opt, "ls", "-R", "latest")...)
	b := mustCairn(t, env, append(opt, "--no-cache", "ls", "-R", "latest")...)
	if a != b || !strings.Contains(a, "hard-a") {
		t.Fatalf("ls with and without cache differ:\n%s\n%s", a, b)
	}
}

// buildSFTPServer builds testdata/sftpserver (pkg/sftp's server on stdin
// and stdout, without fsync@openssh.com) into dir.
func buildSFTPServer(t *testing.T, dir string) string {
	t.Helper()
	server := filepath.Join(dir, "sftpserver")
	if out, err := exec.Command("go", "build", "-o", server, "./testdata/sftpserver").CombinedOutput(); err != nil {
		t.Fatalf("build the test SFTP server: %v\n%s", err, out)
	}
	return server
}

// TestSFTPWithoutSync: a server without fsync@openssh.com still works, and
// cairn says once per command that its saves can't be synced.
func TestSFTPWithoutSync(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	server := buildSFTPServer(t, base)
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a.txt"), "hello")
	env := []string{"CAIRN_REPOSITORY=sftp://127.0.0.1/" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	opt := []string{"-o", "sftp.command=" + server}
	for _, args := range [][]string{{"init"}, {"backup", "-q", src}, {"restore", "latest", "--target", filepath.Join(base, "t")}} {
		r := cairn(t, env, append(opt, args...)...)
		if r.code != 0 || strings.Count(r.stderr, "does not offer fsync@openssh.com") != 1 {
			t.Fatalf("cairn %s: exit %d, stderr %q, want success and one warning", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	compareTrees(t, src, filepath.Join(base, "t", src))
}

// TestSFTPLocationIsNoOption (issue 14, demonstrated 10): a location that
// starts with "-" never reaches ssh as an option (here: a ProxyCommand
// that would run a command); it is refused with a line naming it.
func TestSFTPLocationIsNoOption(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	marker := filepath.Join(base, "ran")
	for _, loc := range []string{
		"sftp:-oProxyCommand=touch " + marker + ":/repo",
		"sftp://-oProxyCommand=touch%20" + marker + "//repo",
	} {
		r := cairn(t, []string{"CAIRN_REPOSITORY=" + loc, "CAIRN_PASSWORD=pw"}, "snapshots")
		if r.code != 1 || !strings.Contains(r.stderr, "is not allowed") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 naming the host", loc, r.code, r.stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: ssh ran the location's ProxyCommand", loc)
		}
	}
}

// TestSecretsStayHome (issue 14, demonstrated 9): no child process (ssh,
// a password command) gets a password from the environment, and a failing
// password command is named without its arguments.
func TestSecretsStayHome(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	server := buildSFTPServer(t, base)
	sshEnv, pwEnv := filepath.Join(base, "ssh.env"), filepath.Join(base, "pw.env")
	env := []string{"CAIRN_REPOSITORY=sftp://127.0.0.1/" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=hunter2-secret", "CAIRN_FROM_PASSWORD=hunter3-secret"}
	opt := []string{"-o", "sftp.command=env > " + sshEnv + "; exec " + server}
	mustCairn(t, env, append(opt, "init")...)
	mustCairn(t, env, append(opt, "--password-command", "env > "+pwEnv+"; echo hunter2-secret", "snapshots")...)
	for _, f := range []string{sshEnv, pwEnv} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "hunter") {
			t.Fatalf("%s: a child got a password from the environment:\n%s", filepath.Base(f), b)
		}
	}
	r := cairn(t, env, append(opt, "--password-command", "false token=hunter4-secret", "snapshots")...)
	if r.code != 1 || strings.Contains(r.stderr, "hunter4") || !strings.Contains(r.stderr, `password command "false"`) {
		t.Fatalf("failing password command: exit %d, stderr %q; want exit 1 naming the command, not its arguments", r.code, r.stderr)
	}
}
