//go:build unix

package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/chunker"
)

// cairnBin is the binary built once for the end-to-end tests; cacheHome
// keeps their caches out of the user's.
var cairnBin, cacheHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // the tests also run it as an unprivileged user
	cairnBin = filepath.Join(dir, "cairn")
	cacheHome = filepath.Join(dir, "cache")
	out, err := exec.Command("go", "build", "-o", cairnBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build cairn: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// cairn runs the binary with a clean environment plus env.
func cairn(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return start(t, env, args...)()
}

func mustCairn(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := cairn(t, env, args...)
	if r.code != 0 {
		t.Fatalf("cairn %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// writeSpecial builds the awkward cases: symlinks, hardlinks, empty files
// and dirs, non-UTF-8 names, a large file.
func writeSpecial(t *testing.T, dir string, bigSize int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "empty-file"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "sub", "deeper", "f.txt"), []byte("deep file CAIRN-PLAINTEXT-MARKER-7731\n"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "exec.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.Symlink("sub/deeper/f.txt", filepath.Join(dir, "rel-link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling-link")))
	must(os.Symlink("sub", filepath.Join(dir, "dir-link")))
	must(os.WriteFile(filepath.Join(dir, "hard-a"), []byte("hardlinked content\n"), 0o644))
	must(os.Link(filepath.Join(dir, "hard-a"), filepath.Join(dir, "hard-b")))
	must(os.Link(filepath.Join(dir, "hard-a"), filepath.Join(dir, "sub", "hard-c")))
	must(os.WriteFile(filepath.Join(dir, "bad-\xff\xfe-name"), []byte("latin1 name\n"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "dir-\xe9t\xe9"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "dir-\xe9t\xe9", "x"), []byte("x"), 0o644))
	must(os.Symlink("target-\xff", filepath.Join(dir, "link-to-bad-name")))
	writeBig(t, filepath.Join(dir, "big.bin"), bigSize)
}

// writeBig writes a deterministic file mixing random and repetitive data.
func writeBig(t *testing.T, p string, size int) {
	t.Helper()
	writeBigSeed(t, p, size, 1)
}

// writeBigSeed is writeBig with another random stream per seed, so files
// of different seeds share no chunks.
func writeBigSeed(t *testing.T, p string, size int, seed byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	r := rand.NewChaCha8([32]byte{seed})
	b := make([]byte, size)
	for off := 0; off < size; off += 1 << 20 {
		end := min(off+1<<20, size)
		if (off>>20)%3 == 0 {
			for i := off; i < end; i++ {
				b[i] = byte(i%251) + (seed-1)*7
			}
		} else {
			r.Read(b[off:end])
		}
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRandom writes size incompressible bytes from the stream of seed.
func writeRandom(t *testing.T, p string, size int, seed byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{seed, 0xff}).Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// compareTrees checks that dst holds exactly what src holds: types, modes,
// mtimes, contents, symlink targets and hardlink groups.
func compareTrees(t *testing.T, src, dst string) {
	t.Helper()
	srcLinks := map[uint64]string{}
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		q := filepath.Join(dst, rel)
		a, err := os.Lstat(p)
		if err != nil {
			return err
		}
		b, err := os.Lstat(q)
		if err != nil {
			t.Errorf("missing in restore: %q", rel)
			return nil
		}
		n++
		if a.Mode() != b.Mode() {
			t.Errorf("%q: mode %v, want %v", rel, b.Mode(), a.Mode())
		}
		if !a.ModTime().Equal(b.ModTime()) {
			t.Errorf("%q: mtime %v, want %v", rel, b.ModTime(), a.ModTime())
		}
		switch {
		case a.Mode().IsRegular():
			if a.Size() != b.Size() || fileHash(t, p) != fileHash(t, q) {
				t.Errorf("%q: content differs", rel)
			}
			sa, sb := a.Sys().(*syscall.Stat_t), b.Sys().(*syscall.Stat_t)
			if sa.Nlink > 1 {
				if first, ok := srcLinks[sa.Ino]; ok {
					fi, _ := os.Lstat(filepath.Join(dst, first))
					if fi.Sys().(*syscall.Stat_t).Ino != sb.Ino {
						t.Errorf("%q: not hardlinked to %q", rel, first)
					}
				} else {
					srcLinks[sa.Ino] = rel
				}
			}
		case a.Mode()&fs.ModeSymlink != 0:
			ta, _ := os.Readlink(p)
			tb, _ := os.Readlink(q)
			if ta != tb {
				t.Errorf("%q: link target %q, want %q", rel, tb, ta)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing extra in the restore.
	m := 0
	_ = filepath.WalkDir(dst, func(string, fs.DirEntry, error) error { m++; return nil })
	if m != n {
		t.Errorf("restore has %d entries, source %d", m, n)
	}
}

func fileHash(t *testing.T, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

type summary struct {
	FilesNew        int64  `json:"files_new"`
	FilesChanged    int64  `json:"files_changed"`
	FilesUnmodified int64  `json:"files_unmodified"`
	BytesRead       int64  `json:"bytes_read"`
	BytesAdded      int64  `json:"bytes_added"`
	BlobsAdded      int64  `json:"blobs_added"`
	SnapshotID      string `json:"snapshot_id"`
}

func backupJSON(t *testing.T, env []string, args ...string) summary {
	t.Helper()
	out := mustCairn(t, env, append([]string{"backup", "--json"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("backup summary %q: %v", out, err)
	}
	return s
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

func TestRoundTripRealTree(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(strings.TrimSpace(string(goroot)), "src"), filepath.Join(src, "gosrc"))
	bigSize := 100<<20 + 12345
	if testing.Short() {
		bigSize = 20 << 20
	}
	writeSpecial(t, filepath.Join(src, "special"), bigSize)
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=correct horse"}
	mustCairn(t, env, "init")

	s1 := backupJSON(t, env, src)
	if s1.FilesNew == 0 || s1.SnapshotID == "" {
		t.Fatalf("first backup: %+v", s1)
	}
	target := filepath.Join(base, "restore")
	mustCairn(t, env, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))

	// Nothing in the repository is plaintext.
	out, _ := exec.Command("grep", "-rl", "CAIRN-PLAINTEXT-MARKER-7731", repoDir).CombinedOutput()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("plaintext found in repository: %s", out)
	}

	// An unchanged tree reads nothing and adds (almost) nothing.
	before := dirSize(t, repoDir)
	s2 := backupJSON(t, env, src)
	if s2.BytesRead != 0 || s2.FilesNew+s2.FilesChanged != 0 {
		t.Fatalf("unchanged backup read files: %+v", s2)
	}
	if grew := dirSize(t, repoDir) - before; grew > 64<<10 {
		out, _ := exec.Command("find", repoDir, "-newer", filepath.Join(repoDir, "config"), "-type", "f", "-size", "+10k").CombinedOutput()
		t.Fatalf("unchanged backup grew the repository by %d bytes: %+v\n%s", grew, s2, out)
	}

	// 100 bytes inserted in the middle of the big file add only the chunks
	// that changed. Which those are depends on the repository's random
	// polynomial: the shift can move several cuts in a row, each chunk up
	// to the maximum chunk size (9 MB in 8 blobs has been seen), so no
	// fixed bound holds for every polynomial. The new chunks are worked
	// out with the repository's own chunker instead, and the backup must
	// add exactly those, plus a few small trees.
	big := filepath.Join(src, "special", "big.bin")
	old, _ := os.ReadFile(big)
	mid := len(old) / 2
	b := append(old[:mid:mid], append(bytes.Repeat([]byte("I"), 100), old[mid:]...)...)
	if err := os.WriteFile(big, b, 0o644); err != nil {
		t.Fatal(err)
	}
	wantBytes, wantBlobs := newChunks(t, env, old, b)
	s3 := backupJSON(t, env, src)
	if s3.FilesChanged != 1 {
		t.Fatalf("insertion: %+v", s3)
	}
	if trees := s3.BytesAdded - wantBytes; trees < 0 || trees > 64<<10 || s3.BlobsAdded < wantBlobs || s3.BlobsAdded > wantBlobs+16 {
		t.Fatalf("100-byte insertion added %d bytes in %d blobs; the chunker makes %d new chunks of %d bytes (plus trees)",
			s3.BytesAdded, s3.BlobsAdded, wantBlobs, wantBytes)
	}
	t.Logf("100-byte insertion in %d MiB file: %d blobs, %d bytes added (%d new chunks, %d bytes)", len(b)>>20, s3.BlobsAdded, s3.BytesAdded, wantBlobs, wantBytes)
	target2 := filepath.Join(base, "restore2")
	mustCairn(t, env, "restore", s3.SnapshotID[:8], "--target", target2)
	compareTrees(t, src, filepath.Join(target2, src))
}

// newChunks returns the bytes and number of the distinct chunks of after
// that before lacks, as the repository's own chunker (polynomial and size
// bounds from its config) cuts them.
func newChunks(t *testing.T, env []string, before, after []byte) (int64, int64) {
	t.Helper()
	var cfg struct {
		Pol chunker.Pol `json:"chunker_polynomial"`
		Min uint        `json:"min_chunk_size"`
		Max uint        `json:"max_chunk_size"`
	}
	out := mustCairn(t, env, "cat", "config")
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || cfg.Pol == 0 {
		t.Fatalf("cat config: %v\n%s", err, out)
	}
	c := chunker.New(cfg.Pol, cfg.Min, cfg.Max)
	cut := func(data []byte) map[[32]byte]int {
		c.Reset(bytes.NewReader(data))
		m := map[[32]byte]int{}
		var buf []byte
		for {
			ch, err := c.Next(buf)
			if err == io.EOF {
				return m
			}
			if err != nil {
				t.Fatal(err)
			}
			m[sha256.Sum256(ch)] = len(ch)
			buf = ch
		}
	}
	had := cut(before)
	var n, blobs int64
	for h, size := range cut(after) {
		if _, ok := had[h]; !ok {
			n += int64(size)
			blobs++
		}
	}
	return n, blobs
}

func TestSubtreeAndFilters(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 1<<20)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "--exclude", "*.sh", "--tag", "nightly", src)

	tests := []struct {
		name    string
		args    []string
		present []string
		absent  []string
	}{
		{"subtree", []string{"latest:" + src + "/sub"}, []string{"deeper/f.txt", "hard-c"}, []string{"sub", "big.bin"}},
		{"single file", []string{"latest:" + src + "/sub/deeper/f.txt"}, []string{"f.txt"}, []string{"deeper"}},
		{"include", []string{"latest", "--include", "*.txt"}, []string{src[1:] + "/sub/deeper/f.txt"}, []string{src[1:] + "/big.bin"}},
		{"exclude", []string{"latest", "--exclude", "big.bin"}, []string{src[1:] + "/hard-a"}, []string{src[1:] + "/big.bin"}},
		{"iexclude", []string{"latest", "--iexclude", "BIG.BIN"}, []string{src[1:] + "/hard-a"}, []string{src[1:] + "/big.bin"}},
		{"backup exclude", []string{"latest"}, []string{src[1:] + "/hard-a"}, []string{src[1:] + "/exec.sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "t")
			mustCairn(t, env, append([]string{"restore", "--target", target}, tt.args...)...)
			for _, p := range tt.present {
				if _, err := os.Lstat(filepath.Join(target, p)); err != nil {
					t.Errorf("%s not restored: %v", p, err)
				}
			}
			for _, p := range tt.absent {
				if _, err := os.Lstat(filepath.Join(target, p)); err == nil {
					t.Errorf("%s restored, should not be", p)
				}
			}
		})
	}

	ls := mustCairn(t, env, "ls", "latest:"+src+"/sub")
	if !strings.Contains(ls, src+"/sub/deeper") || strings.Contains(ls, "f.txt") {
		t.Fatalf("ls of a dir lists one level: %s", ls)
	}
	var sns []map[string]any
	if err := json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns); err != nil || len(sns) != 1 {
		t.Fatalf("snapshots --json: %v %d", err, len(sns))
	}
	if tags, _ := sns[0]["tags"].([]any); len(tags) != 1 || tags[0] != "nightly" {
		t.Fatalf("tags: %v", sns[0]["tags"])
	}
	if !strings.Contains(mustCairn(t, env, "cat", "config"), "chunker_polynomial") {
		t.Fatal("cat config")
	}
	if !strings.Contains(mustCairn(t, env, "cat", "tree", "latest:"+src), "hard-a") {
		t.Fatal("cat tree")
	}
}

func TestExitCodes(t *testing.T) {
	base := t.TempDir()
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=right"}
	pwFile := filepath.Join(base, "pw")
	os.WriteFile(pwFile, []byte("right\n"), 0o600)

	r := cairn(t, env, "snapshots")
	if r.code != 10 || !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("no repository: exit %d, stderr %q", r.code, r.stderr)
	}
	mustCairn(t, env, "init")
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"wrong password", []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=wrong"}, []string{"snapshots"}, 12, "wrong password"},
		{"no password no terminal", []string{"CAIRN_REPOSITORY=" + repoDir}, []string{"snapshots"}, 1, "no password given"},
		{"password file", []string{"CAIRN_REPOSITORY=" + repoDir}, []string{"--password-file", pwFile, "snapshots"}, 0, ""},
		{"password command", []string{"CAIRN_REPOSITORY=" + repoDir}, []string{"--password-command", "echo right", "snapshots"}, 0, ""},
		{"failing password command", []string{"CAIRN_REPOSITORY=" + repoDir}, []string{"--password-command", "exit 3", "snapshots"}, 1, "password command"},
		{"missing password file", []string{"CAIRN_REPOSITORY=" + repoDir}, []string{"--password-file", "/nonexistent", "snapshots"}, 1, "/nonexistent"},
		{"no repo given", []string{"CAIRN_PASSWORD=x"}, []string{"snapshots"}, 1, "no repository given"},
		{"missing source", env, []string{"backup", "/nonexistent/path"}, 1, "/nonexistent/path"},
		{"bad snapshot ref", env, []string{"ls", "zzz"}, 1, "zzz"},
		{"unknown snapshot", env, []string{"ls", "abcdef"}, 1, "abcdef"},
		{"restore without target", env, []string{"restore", "latest"}, 1, "--target"},
		{"bad exclude pattern", env, []string{"backup", "--exclude", "[x", base}, 1, "[x"},
		{"init twice", env, []string{"init"}, 1, "already exists"},
		{"check takes no arguments", env, []string{"check", "snapshots"}, 1, "snapshots"},
		{"unsupported location", []string{"CAIRN_REPOSITORY=ftp://x/y", "CAIRN_PASSWORD=x"}, []string{"snapshots"}, 1, "ftp://x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cairn(t, tt.env, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			if tt.msg != "" && !strings.Contains(r.stderr, tt.msg) {
				t.Fatalf("stderr %q does not name %q", r.stderr, tt.msg)
			}
			if tt.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
				t.Fatalf("error is not one line (+hint): %q", r.stderr)
			}
		})
	}
}

func TestUnreadableFileExit3(t *testing.T) {
	base := sharedTempDir(t)
	src := filepath.Join(base, "src")
	repotestWrite(t, src)
	secret := filepath.Join(src, "secret")
	os.WriteFile(secret, []byte("x"), 0o000)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw", "HOME=" + base}
	run := func(args ...string) result { return cairnUnprivileged(t, env, args...) }
	if r := run("init"); r.code != 0 {
		t.Fatalf("init: %d %s", r.code, r.stderr)
	}
	r := run("backup", src)
	if r.code != 3 || !strings.Contains(r.stderr, secret) || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	// The snapshot was written with everything else.
	if r := run("ls", "latest:"+src); r.code != 0 || !strings.Contains(r.stdout, "a.txt") || strings.Contains(r.stdout, "secret") {
		t.Fatalf("ls after partial backup: %d %q", r.code, r.stdout)
	}
}

// sharedTempDir is a temporary directory an unprivileged user can use.
func sharedTempDir(t *testing.T) string {
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755)
	os.Chmod(base, 0o777)
	return base
}

// cairnUnprivileged runs cairn as nobody when the tests run as root (to
// whom every file is readable), else as the current user.
func cairnUnprivileged(t *testing.T, env []string, args ...string) result {
	t.Helper()
	if os.Geteuid() != 0 {
		return cairn(t, env, args...)
	}
	sp, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("running as root without setpriv")
	}
	cmd := exec.Command(sp, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", cairnBin}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// repotestWrite writes a small world-readable tree.
func repotestWrite(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	for name, content := range map[string]string{"a.txt": "a", "sub/b.txt": "b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeyCommands(t *testing.T) {
	base := t.TempDir()
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=first"}
	mustCairn(t, env, "init")
	pw2 := filepath.Join(base, "pw2")
	os.WriteFile(pw2, []byte("second\n"), 0o600)
	mustCairn(t, env, "key", "add", "--new-password-file", pw2)
	env2 := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=second"}
	var keys []struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env2, "key", "list", "--json")), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("key list: %v %d", err, len(keys))
	}
	var other string
	for _, k := range keys {
		if !k.Current {
			other = k.ID
		}
	}
	if r := cairn(t, env2, "key", "add"); r.code != 1 || !strings.Contains(r.stderr, "new-password-file") {
		t.Fatalf("key add without new password: %d %q", r.code, r.stderr)
	}
	mustCairn(t, env2, "key", "remove", other[:8])
	if r := cairn(t, env, "snapshots"); r.code != 12 {
		t.Fatalf("removed key still works: %d", r.code)
	}
	pw3 := filepath.Join(base, "pw3")
	os.WriteFile(pw3, []byte("third\n"), 0o600)
	mustCairn(t, env2, "key", "passwd", "--new-password-file", pw3)
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=third"}, "snapshots")
	if r := cairn(t, env2, "snapshots"); r.code != 12 {
		t.Fatalf("old password still works: %d", r.code)
	}
}

func TestBackupOptionsAndCat(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 3<<20)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "-q")
	exFile := filepath.Join(base, "excludes")
	os.WriteFile(exFile, []byte("# comment\n\n*.sh\nsub/deeper\n"), 0o644)
	if out := mustCairn(t, env, "backup", "-q", "--host", "other-host", "--exclude-file", exFile, src); out != "" {
		t.Fatalf("--quiet printed %q", out)
	}
	var sns []struct {
		ID       string `json:"id"`
		Hostname string `json:"hostname"`
		Tree     string `json:"tree"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json", "--host", "other-host")), &sns)
	if len(sns) != 1 || sns[0].Hostname != "other-host" {
		t.Fatalf("--host: %+v", sns)
	}
	ls := mustCairn(t, env, "ls", "-R", "latest:"+src)
	if strings.Contains(ls, "exec.sh") || strings.Contains(ls, "deeper") || !strings.Contains(ls, "hard-a") {
		t.Fatalf("--exclude-file not applied:\n%s", ls)
	}
	if !strings.Contains(mustCairn(t, env, "cat", "snapshot", sns[0].ID[:8]), "other-host") {
		t.Fatal("cat snapshot")
	}
	idx, _ := os.ReadDir(filepath.Join(base, "repo", "index"))
	if len(idx) == 0 || !strings.Contains(mustCairn(t, env, "cat", "index", idx[0].Name()), "Entries") {
		t.Fatal("cat index")
	}
	// cat blob returns the plaintext of a data blob.
	var tree struct {
		Nodes []struct {
			Name    string   `json:"name"`
			Content []string `json:"content"`
		} `json:"nodes"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "cat", "tree", "latest:"+src)), &tree)
	for _, n := range tree.Nodes {
		if n.Name == "hard-a" {
			if got := mustCairn(t, env, "cat", "blob", n.Content[0]); got != "hardlinked content\n" {
				t.Fatalf("cat blob: %q", got)
			}
		}
	}
	if r := cairn(t, env, "cat", "nonsense", "x"); r.code != 1 || !strings.Contains(r.stderr, "nonsense") {
		t.Fatalf("cat nonsense: %d %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(mustCairn(t, nil, "version"), "cairn ") {
		t.Fatal("version")
	}
}

// TestKillDuringBackup: kill -9 at random moments of a backup; the
// repository stays usable, every snapshot that exists restores exactly,
// and the next backup completes (DESIGN.md section 6: packs, then index,
// then snapshot).
func TestKillDuringBackup(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 48<<20)
	for i := 0; i < 4; i++ {
		writeBig(t, filepath.Join(src, fmt.Sprintf("more-%d.bin", i)), 8<<20+i)
	}
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	r := rand.New(rand.NewPCG(7, 7))
	for round := 0; round < 4; round++ {
		cmd := exec.Command(cairnBin, "backup", "-q", src)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(50+r.IntN(400)) * time.Millisecond
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// Change a file so the next round has new data to write.
		os.WriteFile(filepath.Join(src, fmt.Sprintf("round-%d", round)), bytes.Repeat([]byte{byte(round)}, 1<<20), 0o644)
	}
	mustCairn(t, env, "backup", "-q", src)
	var sns []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns); err != nil || len(sns) == 0 {
		t.Fatalf("snapshots after kills: %v", err)
	}
	last := sns[len(sns)-1].ID
	target := filepath.Join(base, "restore")
	mustCairn(t, env, "restore", last, "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	for _, sn := range sns[:len(sns)-1] {
		mustCairn(t, env, "restore", sn.ID, "--target", filepath.Join(base, "r-"+sn.ID[:8]))
	}
}
