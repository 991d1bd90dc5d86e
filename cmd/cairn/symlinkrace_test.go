//go:build unix

package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRestoreRaceWithAnotherUser (issue 14, demonstrated 1, as a real
// race): root restores into a directory owned by nobody while a process
// of nobody keeps swapping the first directory restore creates there for
// a symlink to a root-only directory outside. Whether or not a swap lands
// mid-restore, nothing outside changes: no file written or replaced, no
// mode changed.
func TestRestoreRaceWithAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as two users")
	}
	t.Parallel()
	base := sharedTempDir(t)
	src := filepath.Join(base, "src")
	for i := range 400 {
		write(t, filepath.Join(src, fmt.Sprintf("d%d", i%8), fmt.Sprintf("f%03d", i)), strings.Repeat("x", i))
	}
	write(t, filepath.Join(src, "victim"), "from the snapshot\n")
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o700)
	write(t, filepath.Join(outside, "victim"), "root's own file\n")
	os.Chmod(filepath.Join(outside, "victim"), 0o600)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)

	swaps := 0
	for attempt := range 4 {
		target := filepath.Join(base, fmt.Sprint("target", attempt))
		os.Mkdir(target, 0o755)
		os.Chown(target, 65534, 65534)
		first := filepath.Join(target, strings.Split(strings.TrimPrefix(src, "/"), "/")[0])
		// The attacker: whenever the first directory is a real one,
		// move it aside and put a symlink to outside in its place.
		loop := fmt.Sprintf(`i=0; while :; do if [ -d %[1]q ] && [ ! -L %[1]q ]; then mv %[1]q %[2]q/moved$i && ln -s %[3]q %[1]q; i=$((i+1)); fi; done`, first, target, outside)
		attacker := exec.Command("/bin/sh", "-c", loop)
		attacker.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := attacker.Start(); err != nil {
			t.Fatal(err)
		}
		r := cairn(t, env, "restore", "latest", "--target", target)
		attacker.Process.Kill()
		attacker.Wait()
		if r.code != 0 && r.code != 3 {
			t.Errorf("restore during the race: exit %d\n%s", r.code, r.stderr)
		}
		if m, _ := filepath.Glob(filepath.Join(target, "moved*")); len(m) > 0 {
			swaps++
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 {
			t.Fatalf("attempt %d: the outside directory holds %d entries", attempt, len(ents))
		}
		if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "root's own file\n" {
			t.Fatalf("attempt %d: the outside file now holds %q", attempt, b)
		}
		if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o700 {
			t.Fatalf("attempt %d: the outside directory's mode is now %v", attempt, fi.Mode().Perm())
		}
		if fi, _ := os.Stat(filepath.Join(outside, "victim")); fi.Mode().Perm() != 0o600 {
			t.Fatalf("attempt %d: the outside file's mode is now %v", attempt, fi.Mode().Perm())
		}
	}
	t.Logf("%d of 4 restores raced with a swap", swaps)
}
