//go:build linux

package main_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRestoreMetadata covers every metadata item: owners, modes, mtimes
// and atimes, xattrs, hardlinks across directories, symlinks, devices and
// FIFOs, empty files and dirs, sparse files, directory times.
func TestRestoreMetadata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (devices, ownership); CI runs as root")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 1<<20)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "other-dir"), 0o755))
	must(os.Link(filepath.Join(src, "hard-a"), filepath.Join(src, "other-dir", "hard-d")))
	must(os.Chown(filepath.Join(src, "exec.sh"), 65534, 65534))
	must(os.Lchown(filepath.Join(src, "rel-link"), 65534, 65534))
	must(unix.Mknod(filepath.Join(src, "null-dev"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 3))))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	xattrs := unix.Setxattr(filepath.Join(src, "hard-a"), "user.cairn", []byte("value\x00bin"), 0) == nil
	if xattrs {
		must(unix.Setxattr(filepath.Join(src, "sub"), "user.dirattr", []byte("d"), 0))
	}
	// A 1 GiB sparse file with 1 MiB of data in the middle.
	sparse := filepath.Join(src, "sparse.img")
	f, err := os.Create(sparse)
	must(err)
	must(f.Truncate(1 << 30))
	_, err = f.WriteAt(bytes.Repeat([]byte("data"), 1<<18), 512<<20)
	must(err)
	f.Close()
	must(os.Chtimes(filepath.Join(src, "empty-file"), time.Unix(1234567890, 123), time.Unix(1500000000, 456)))
	must(os.Chtimes(filepath.Join(src, "sub"), time.Unix(1400000000, 0), time.Unix(1400000001, 0)))

	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	target := filepath.Join(base, "target")
	mustCairn(t, env, "restore", "latest", "--target", target, "--verify")
	got := filepath.Join(target, src)
	var st unix.Stat_t
	must(unix.Stat(filepath.Join(got, "empty-file"), &st))
	if st.Atim.Sec != 1234567890 || st.Atim.Nsec != 123 {
		t.Errorf("atime %v, want 1234567890.000000123 (--verify must not move it)", st.Atim)
	}
	compareTrees(t, src, got)

	err = filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		q := filepath.Join(got, rel)
		var a, b unix.Stat_t
		if unix.Lstat(p, &a) != nil || unix.Lstat(q, &b) != nil {
			t.Errorf("%s: missing", rel)
			return nil
		}
		if a.Uid != b.Uid || a.Gid != b.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, b.Uid, b.Gid, a.Uid, a.Gid)
		}
		if a.Rdev != b.Rdev {
			t.Errorf("%s: rdev %d, want %d", rel, b.Rdev, a.Rdev)
		}
		if fi.Mode().IsRegular() || fi.IsDir() {
			if xa, xb := listXattrs(p), listXattrs(q); xa != xb {
				t.Errorf("%s: xattrs %q, want %q", rel, xb, xa)
			}
		}
		return nil
	})
	must(err)
	must(unix.Stat(filepath.Join(got, "sparse.img"), &st))
	if used := st.Blocks * 512; used > 4<<20 {
		t.Errorf("sparse file takes %d bytes on disk after restore, want about 1 MiB", used)
	}
	if xattrs && listXattrs(filepath.Join(got, "hard-a")) == "" {
		t.Error("xattr not restored")
	}
}

func listXattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var out []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		v := make([]byte, 4096)
		vn, _ := unix.Lgetxattr(p, name, v)
		out = append(out, name+"="+string(v[:max(vn, 0)]))
	}
	return strings.Join(out, ",")
}

// TestRestoreResume kills a large restore part way and resumes it with
// --overwrite if-changed: the result is exact and the second run writes
// less than the whole.
func TestRestoreResume(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	for i := 0; i < 120; i++ {
		writeBig(t, filepath.Join(src, fmt.Sprintf("f%03d", i)), 1<<20+i)
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	// Kill the restore once some files are complete (polled, not timed,
	// so a slow or busy machine doesn't change what is tested).
	target := filepath.Join(base, "t")
	cmd := exec.Command(cairnBin, "restore", "latest", "--target", target)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for done := false; !done; {
		select {
		case <-exited:
			t.Fatal("the restore finished before it could be interrupted")
		case <-time.After(2 * time.Millisecond):
		}
		complete := 0
		ents, _ := os.ReadDir(filepath.Join(target, src))
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Size() > 1<<20 && fi.Mode().Perm() != 0o600 {
				complete++ // metadata is set last: the file is complete
			}
		}
		done = complete >= 10
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	out := mustCairn(t, env, "--json", "restore", "latest", "--target", target, "--overwrite", "if-changed")
	var s struct {
		Bytes   int64 `json:"bytes_restored"`
		Skipped int64 `json:"files_skipped"`
	}
	json.Unmarshal([]byte(out), &s)
	compareTrees(t, src, filepath.Join(target, src))
	total, second := int64(120<<20), s.Bytes
	t.Logf("resume skipped %d files, wrote %d of ~%d bytes", s.Skipped, s.Bytes, total)
	if s.Skipped < 10 {
		t.Fatalf("resume skipped %d complete files, want at least 10", s.Skipped)
	}
	if second >= total {
		t.Fatalf("resume wrote %d bytes, the whole is %d", second, total)
	}
}

func TestRestoreOverwriteDeleteVerify(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a"), "snapshot a")
	write(t, filepath.Join(src, "b"), "snapshot b")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	target := filepath.Join(base, "t")
	local := func(name string) string { return filepath.Join(target, src, name) }
	reset := func() {
		os.RemoveAll(target)
		write(t, local("a"), "local a, newer")
		os.Chtimes(local("a"), time.Now().Add(time.Hour), time.Now().Add(time.Hour))
		write(t, local("extra"), "not in the snapshot")
		write(t, filepath.Join(target, "outside-selection"), "x")
	}
	tests := []struct {
		args  []string
		a     string
		extra bool
	}{
		{[]string{"--overwrite", "never"}, "local a, newer", true},
		{[]string{"--overwrite", "if-newer"}, "local a, newer", true},
		{[]string{"--overwrite", "if-changed"}, "snapshot a", true},
		{[]string{"--overwrite", "always", "--delete"}, "snapshot a", false},
	}
	for _, tt := range tests {
		reset()
		out := mustCairn(t, env, append([]string{"restore", "latest", "--target", target}, tt.args...)...)
		if b, _ := os.ReadFile(local("a")); string(b) != tt.a {
			t.Errorf("%v: a is %q, want %q (%s)", tt.args, b, tt.a, out)
		}
		if _, err := os.Stat(local("extra")); (err == nil) != tt.extra {
			t.Errorf("%v: extra present %v", tt.args, err == nil)
		}
		if b, _ := os.ReadFile(local("b")); string(b) != "snapshot b" {
			t.Errorf("%v: b not restored", tt.args)
		}
	}
	// --dry-run lists and changes nothing.
	reset()
	out := mustCairn(t, env, "restore", "latest", "--target", target, "--delete", "--dry-run")
	if !strings.Contains(out, "delete   "+local("extra")) || !strings.Contains(out, "restore  "+local("b")) {
		t.Fatalf("--dry-run output:\n%s", out)
	}
	if _, err := os.Stat(local("b")); err == nil {
		t.Fatal("--dry-run wrote a file")
	}
	if _, err := os.Stat(local("extra")); err != nil {
		t.Fatal("--dry-run deleted a file")
	}
	// --verify counts what it checked.
	os.RemoveAll(target)
	if out := mustCairn(t, env, "restore", "latest", "--target", target, "--verify"); !strings.Contains(out, "2 verified") {
		t.Fatalf("--verify: %s", out)
	}
	if r := cairn(t, env, "restore", "latest", "--target", target, "--overwrite", "sometimes"); r.code != 1 || !strings.Contains(r.stderr, "sometimes") {
		t.Fatalf("bad --overwrite: %d %q", r.code, r.stderr)
	}
}

func TestDump(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 3<<20)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)

	big, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	if out := mustCairn(t, env, "dump", "latest", filepath.Join(src, "big.bin")); out != string(big) {
		t.Fatalf("dump of a file: %d bytes, want %d", len(out), len(big))
	}
	// dump DIR | tar -x gives the tree back.
	out := filepath.Join(base, "untar")
	os.MkdirAll(out, 0o755)
	pipe := fmt.Sprintf("%s dump latest %s/sub | tar -x -C %s", cairnBin, src, out)
	cmd := exec.Command("sh", "-c", pipe)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", pipe, err, b)
	}
	compareTrees(t, filepath.Join(src, "sub"), filepath.Join(out, "sub"))

	zipped := mustCairn(t, env, "dump", "--archive", "zip", "latest", src)
	zr, err := zip.NewReader(strings.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range zr.File {
		if f.Name == "src/sub/deeper/f.txt" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			found = string(b) == "deep file CAIRN-PLAINTEXT-MARKER-7731\n"
		}
	}
	if !found {
		t.Fatal("zip lacks src/sub/deeper/f.txt or its content")
	}
	if r := cairn(t, env, "dump", "--archive", "rar", "latest", src); r.code != 1 || !strings.Contains(r.stderr, "rar") {
		t.Fatalf("bad --archive: %d %q", r.code, r.stderr)
	}
	if r := cairn(t, env, "dump", "latest", "/no/such/path"); r.code != 1 || !strings.Contains(r.stderr, "/no/such/path") {
		t.Fatalf("dump of a missing path: %d %q", r.code, r.stderr)
	}
}

// TestRestoreDamageExit13: a damaged pack gives exit 13 naming the pack
// and the file; everything else is restored.
func TestRestoreDamageExit13(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "victim"), strings.Repeat("v", 100000))
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	write(t, filepath.Join(src, "later"), strings.Repeat("l", 50000))
	mustCairn(t, env, "backup", "-q", src)
	packs, _ := filepath.Glob(filepath.Join(repoDir, "data", "*", "*"))
	var data []string
	for _, p := range packs {
		b, _ := os.ReadFile(p)
		data = append(data, fmt.Sprintf("%s:%d", filepath.Base(p)[:8], len(b)))
	}
	target := filepath.Join(base, "t")
	// Damage one pack at a time: the one holding the victim's data must
	// give exit 13 naming the file and the pack, and restore the rest.
	for _, p := range packs {
		orig, _ := os.ReadFile(p)
		os.Chmod(p, 0o600)
		bad := bytes.Clone(orig)
		bad[30] ^= 0xff
		os.WriteFile(p, bad, 0o600)
		os.RemoveAll(target)
		r := cairn(t, env, "restore", "latest", "--target", target)
		os.WriteFile(p, orig, 0o600)
		if r.code == 13 && strings.Contains(r.stderr, "victim") && strings.Contains(r.stderr, filepath.Base(p)[:8]) {
			if b, _ := os.ReadFile(filepath.Join(target, src, "later")); len(b) != 50000 {
				t.Fatalf("the undamaged file was not restored: %q", r.stderr)
			}
			return
		}
	}
	t.Fatalf("no damaged pack gave exit 13 naming the file and pack (packs %v)", data)
}
