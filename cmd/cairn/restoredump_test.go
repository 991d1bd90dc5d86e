//go:build linux

package main_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRestoreIncludeOnlyTheWay: restore --include creates the
// directories that lead to a match, with the snapshot's modes and times,
// and the matched directories with what they hold, and no other.
func TestRestoreIncludeOnlyTheWay(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a", "b", "hit.txt"), "hit")
	write(t, filepath.Join(src, "c", "d", "miss.bin"), "miss")
	write(t, filepath.Join(src, "m", "in.bin"), "in")
	for _, d := range []string{"a/empty", "m/e"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(src, "a", "b"), 0o750); err != nil {
		t.Fatal(err)
	}
	then := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
	for _, d := range []string{"a", "a/b"} {
		if err := os.Chtimes(filepath.Join(src, d), then, then); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)

	target := filepath.Join(base, "t")
	mustCairn(t, env, "restore", "latest", "--target", target, "--include", "hit.txt", "--include", src+"/m")
	root := filepath.Join(target, src)
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dirs = append(dirs, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "a/b", "m", "m/e"}; !slices.Equal(dirs, want) {
		t.Errorf("restored directories %v, want %v", dirs, want)
	}
	for _, f := range []string{"a/b/hit.txt", "m/in.bin"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s not restored: %v", f, err)
		}
	}
	for d, mode := range map[string]fs.FileMode{"a": 0o755, "a/b": 0o750} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode || !fi.ModTime().Equal(then) {
			t.Errorf("%s: mode %v, mtime %v; want %v, %v", d, fi.Mode().Perm(), fi.ModTime(), mode, then)
		}
	}
}

// TestRestoreNeverKept: with --overwrite never, local files that differ
// from the snapshot (edited, of another size or the same) stay and are
// reported as kept; identical ones as unchanged, in text and JSON.
func TestRestoreNeverKept(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for _, name := range []string{"a", "b", "c"} {
		write(t, filepath.Join(src, name), "snapshot "+name)
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	target := filepath.Join(base, "t")
	mustCairn(t, env, "restore", "-q", "latest", "--target", target)
	local := func(name string) string { return filepath.Join(target, src, name) }
	edits := map[string]string{"a": "edited locally, longer", "c": "edited c!!"} // c keeps its size
	for name, content := range edits {
		write(t, local(name), content)
	}

	out := mustCairn(t, env, "restore", "latest", "--target", target, "--overwrite", "never")
	if !strings.Contains(out, ", 1 unchanged skipped, 2 kept") {
		t.Errorf("summary does not say 1 unchanged, 2 kept: %q", out)
	}
	var s struct {
		Restored int64 `json:"files_restored"`
		Skipped  int64 `json:"files_skipped"`
		Kept     int64 `json:"files_kept"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "restore", "--json", "latest", "--target", target, "--overwrite", "never")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Restored != 0 || s.Skipped != 1 || s.Kept != 2 {
		t.Errorf("JSON summary: %d restored, %d skipped, %d kept; want 0, 1, 2", s.Restored, s.Skipped, s.Kept)
	}
	for name, content := range edits {
		if b, _ := os.ReadFile(local(name)); string(b) != content {
			t.Errorf("%s overwritten: %q", name, b)
		}
	}
}

// openPTY opens a pseudo-terminal: its master, and the slave end a
// command gets as its terminal (what grantpt, unlockpt and ptsname do).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("name the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS); err != nil {
		t.Fatalf("the slave is no terminal: %v", err)
	}
	return m, s
}

// TestDumpRefusesTerminal: dump writes neither an archive nor a file's
// content to a terminal (a real pseudo-terminal as stdout): exit 1, one
// error line, nothing on the terminal.
func TestDumpRefusesTerminal(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "sub", "f.txt"), "file content\n")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	for _, args := range [][]string{
		{"latest", src + "/sub/f.txt"},
		{"latest:" + src + "/sub/f.txt"},
		{"latest", src},
		{"--archive", "zip", "latest:" + src},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			master, slave := openPTY(t)
			cmd := exec.Command(cairnBin, append([]string{"dump"}, args...)...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + cacheHome}, env...)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = slave, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(master) // EIO once no slave is open
				got <- b
			}()
			err := cmd.Wait()
			slave.Close()
			var ee *exec.ExitError
			switch {
			case err == nil:
				t.Error("exit 0, want 1")
			case !errors.As(err, &ee):
				t.Fatal(err)
			case ee.ExitCode() != 1:
				t.Errorf("exit %d, want 1", ee.ExitCode())
			}
			if msg := stderr.String(); !strings.HasPrefix(msg, "error: dump: stdout is a terminal, redirect it to a file or a pipe\nhint: ") {
				t.Errorf("stderr %q", msg)
			}
			select {
			case b := <-got:
				if len(b) != 0 {
					t.Errorf("%d bytes written to the terminal: %q", len(b), b[:min(len(b), 64)])
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the terminal did not close")
			}
		})
	}
}

// TestDumpRefPath: dump takes SNAPSHOT:PATH like every other command, as
// well as SNAPSHOT PATH; a path given twice or not at all is an error.
func TestDumpRefPath(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "sub", "f.txt"), "file content\n")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	var sns []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns); err != nil || len(sns) != 1 {
		t.Fatalf("snapshots --json: %v", err)
	}
	for _, args := range [][]string{{"latest:" + src + "/sub/f.txt"}, {sns[0].ID[:8] + ":" + src + "/sub/f.txt"}, {"latest", src + "/sub/f.txt"}} {
		if out := mustCairn(t, env, append([]string{"dump"}, args...)...); out != "file content\n" {
			t.Errorf("dump %v: %q", args, out)
		}
	}
	tr := tar.NewReader(strings.NewReader(mustCairn(t, env, "dump", "latest:"+src+"/sub")))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if !slices.Contains(names, "sub/f.txt") {
		t.Errorf("dump latest:DIR: tar holds %v", names)
	}
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"latest"}, "no path given"},
		{[]string{"latest:" + src, "sub"}, "the path is given twice"},
	} {
		r := cairn(t, env, append([]string{"dump"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.msg) || !strings.Contains(r.stderr, "hint: ") || r.stdout != "" {
			t.Errorf("dump %v: exit %d, stdout %q, stderr %q; want 1 and %q", tt.args, r.code, r.stdout, r.stderr, tt.msg)
		}
	}
}
