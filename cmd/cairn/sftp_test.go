package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSFTPRepository backs up into a repository on a real sshd (started
// by scripts/test.sh through scripts/sshd.sh), restores byte for byte and
// checks every blob.
func TestSFTPRepository(t *testing.T) {
	loc := os.Getenv("CAIRN_TEST_SFTP")
	if loc == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but CAIRN_TEST_SFTP is not: the SFTP test server must run")
		}
		t.Skip("no SFTP test server (scripts/test.sh starts one)")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 5<<20)
	repo := fmt.Sprintf("%s/e2e-%d", loc, os.Getpid())
	env := []string{"CAIRN_REPOSITORY=" + repo, "CAIRN_PASSWORD=pw"}
	opt := []string{"-o", "sftp.command=" + os.Getenv("CAIRN_TEST_SFTP_COMMAND")}
	run := func(args ...string) string { return mustCairn(t, env, append(opt, args...)...) }
	run("init")
	run("backup", "-q", src)
	write(t, filepath.Join(src, "later.txt"), "second")
	s := backupSummary(t, env, append(opt, src)...)
	if s.FilesUnmodified == 0 {
		t.Fatalf("incremental over sftp read everything: %+v", s)
	}
	target := filepath.Join(base, "t")
	run("restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	if out := run("check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("check over sftp: %s", out)
	}
	if r := cairn(t, env, "-o", "sftp.command=false", "snapshots"); r.code == 0 || !strings.Contains(r.stderr, "sftp") {
		t.Fatalf("broken ssh command: %d %q", r.code, r.stderr)
	}
}
