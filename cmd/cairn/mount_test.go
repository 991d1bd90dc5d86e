//go:build linux

package main_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireFUSE skips a test that needs FUSE where it is missing, unless
// under CI, which must have it.
func requireFUSE(t *testing.T) {
	t.Helper()
	_, devErr := os.Stat("/dev/fuse")
	_, binErr := exec.LookPath("fusermount3")
	if devErr == nil && binErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("FUSE is needed under CI: /dev/fuse: %v, fusermount3: %v", devErr, binErr)
	}
	t.Skipf("no FUSE here (/dev/fuse: %v, fusermount3: %v)", devErr, binErr)
}

// isMounted reports whether /proc/mounts lists dir.
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// mounted is a running `cairn mount`.
type mounted struct {
	dir  string
	cmd  *exec.Cmd
	errb *lockedBuffer
	done chan struct{}
}

// lockedBuffer is a child's stderr, read while the child writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startMount runs `cairn mount DIR` and waits until DIR is mounted. The
// cleanup unmounts it (lazily) whatever happened, so a failing test
// leaves no mount behind.
func startMount(t *testing.T, env []string, args ...string) *mounted {
	t.Helper()
	m := &mounted{dir: t.TempDir(), errb: &lockedBuffer{}, done: make(chan struct{})}
	m.cmd = exec.Command(cairnBin, append([]string{"mount", m.dir}, args...)...)
	m.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + cacheHome}, env...)
	m.cmd.Stderr = m.errb
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		if isMounted(t, m.dir) {
			_ = exec.Command("fusermount3", "-u", "-z", m.dir).Run()
		}
		select {
		case <-m.done:
		default:
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !isMounted(t, m.dir); {
		select {
		case <-m.done:
			t.Fatalf("cairn mount ended: %v\n%s", m.cmd.ProcessState, m.errb)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn mount did not mount in 30s\n%s", m.errb)
		}
	}
	return m
}

// stop sends SIGTERM and returns the exit code.
func (m *mounted) stop(t *testing.T) int {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("cairn mount still running 30s after SIGTERM\n%s", m.errb)
	}
	return m.cmd.ProcessState.ExitCode()
}

// snapshotNames lists DIR/snapshots without latest.
func snapshotNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if de.Name() != "latest" {
			out = append(out, de.Name())
		}
	}
	return out
}

// TestMountRealTree mounts a repository of a real tree and compares every
// file through the mount with the source: bytes, modes (odd ones too),
// mtimes, owners, symlink targets, hardlinks (one inode number), a FIFO,
// a device (as root), xattrs. The views (hosts/, tags/, ids/, latest)
// lead to the same snapshot.
func TestMountRealTree(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 3<<20)
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(strings.TrimSpace(string(goroot)), "src", "net"), filepath.Join(src, "net"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "other-dir"), 0o755))
	must(os.Link(filepath.Join(src, "hard-a"), filepath.Join(src, "other-dir", "hard-d")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o640))
	for name, mode := range map[string]os.FileMode{"setuid": 0o4755 | os.ModeSetuid, "setgid": 0o2750 | os.ModeSetgid, "odd": 0o604} {
		p := filepath.Join(src, name)
		must(os.WriteFile(p, []byte(name), 0o600))
		must(os.Chmod(p, mode))
	}
	must(os.MkdirAll(filepath.Join(src, "sticky"), 0o755))
	must(os.Chmod(filepath.Join(src, "sticky"), 0o1777|os.ModeSticky))
	if os.Geteuid() == 0 {
		must(unix.Mknod(filepath.Join(src, "null-dev"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 3))))
		must(os.WriteFile(filepath.Join(src, "no-perms"), []byte("secret"), 0o000))
		must(os.Chown(filepath.Join(src, "exec.sh"), 65534, 65534))
		must(os.Lchown(filepath.Join(src, "rel-link"), 65534, 65534))
	}
	xattrs := unix.Setxattr(filepath.Join(src, "hard-a"), "user.cairn", []byte("value\x00bin"), 0) == nil
	if xattrs {
		must(unix.Setxattr(filepath.Join(src, "sub"), "user.dirattr", []byte("d"), 0))
		must(unix.Setxattr(filepath.Join(src, "exec.sh"), "user.big", bytes.Repeat([]byte("x"), 3000), 0))
	}
	must(os.Chtimes(filepath.Join(src, "empty-file"), time.Unix(1234567890, 123), time.Unix(1500000000, 456)))
	must(os.Chtimes(filepath.Join(src, "sub"), time.Unix(1400000000, 0), time.Unix(1400000001, 789)))

	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	id := backupJSON(t, env, "--tag", "nightly", "--host", "web1", src).SnapshotID
	m := startMount(t, env)

	names := snapshotNames(t, m.dir)
	if len(names) != 1 {
		t.Fatalf("snapshots/ holds %v, want one snapshot", names)
	}
	got := filepath.Join(m.dir, "snapshots", names[0], src)
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
		if a.Mode&unix.S_IFMT == unix.S_IFREG && a.Size != b.Size {
			t.Errorf("%s: size %d, want %d", rel, b.Size, a.Size)
		}
		// Reading the source moves atimes, except of a FIFO or device.
		if a.Atim != b.Atim && fi.Mode()&(os.ModeNamedPipe|os.ModeDevice) != 0 {
			t.Errorf("%s: atime %v, want %v", rel, b.Atim, a.Atim)
		}
		if xa, xb := listXattrs(p), listXattrs(q); xa != xb {
			t.Errorf("%s: xattrs %q, want %q", rel, xb, xa)
		}
		return nil
	})
	must(err)
	if xattrs && listXattrs(filepath.Join(got, "hard-a")) == "" {
		t.Error("no xattr through the mount")
	}

	// Every view leads to the same snapshot.
	for _, p := range []string{"snapshots/latest", "hosts/web1/latest", "hosts/web1/" + names[0], "tags/nightly/latest",
		"tags/nightly/" + names[0], "ids/" + id[:8], "ids/latest"} {
		b, err := os.ReadFile(filepath.Join(m.dir, p, src, "sub", "deeper", "f.txt"))
		if err != nil || !strings.Contains(string(b), "deep file") {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(m.dir, "snapshots", "latest")); err != nil || target != names[0] {
		t.Errorf("snapshots/latest -> %q (%v), want %q", target, err, names[0])
	}
	// Read-only.
	if err := os.WriteFile(filepath.Join(got, "new"), nil, 0o644); err == nil {
		t.Error("created a file in the mount")
	}
	if code := m.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, m.errb)
	}
}

// TestMountReadsOnlyThatFile: cat of one file through the mount reads
// that file's packs only, as cairn serve's access log shows.
func TestMountReadsOnlyThatFile(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	root := t.TempDir()
	srv := startServe(t, "--htpasswd", writeHtpasswd(t, "alice"), root)
	env := []string{"CAIRN_REPOSITORY=" + srv.url("alice", "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	src := t.TempDir()
	dataDir := filepath.Join(root, "repo", "data")
	packsNow := func() map[string]bool {
		out := map[string]bool{}
		ps, _ := filepath.Glob(filepath.Join(dataDir, "*", "*"))
		for _, p := range ps {
			out[filepath.Base(p)] = true
		}
		return out
	}
	// One backup per file: file i's data is in the packs backup i added.
	const files = 8
	var added []map[string]bool
	for i := range files {
		before := packsNow()
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%d", i)), 3<<20, byte(i))
		mustCairn(t, env, "backup", "-q", src)
		n := map[string]bool{}
		for p := range packsNow() {
			if !before[p] {
				n[p] = true
			}
		}
		added = append(added, n)
	}
	if all := packsNow(); len(all) < 2*files {
		t.Fatalf("%d packs, want many", len(all))
	}
	m := startMount(t, env, "--no-cache")
	dir := filepath.Join(m.dir, "snapshots", "latest", src)
	if _, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	const pick = 5
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("f%d", pick))); err != nil {
		t.Fatal(err)
	}
	logged, err := os.ReadFile(srv.log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%d", pick)))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(filepath.Join(src, fmt.Sprintf("f%d", pick))); !bytes.Equal(b, want) {
		t.Fatal("content differs through the mount")
	}
	after, err := os.ReadFile(srv.log)
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, line := range strings.Split(string(after[len(logged):]), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[3] == "GET" && strings.Contains(f[4], "/data/") {
			read[filepath.Base(strings.Trim(f[4], `"`))] = true
		}
	}
	if len(read) == 0 {
		t.Fatal("no pack read for the file")
	}
	for p := range read {
		if !added[pick][p] {
			t.Errorf("pack %s read, which holds none of f%d's data", p[:8], pick)
		}
	}
	t.Logf("cat of one 3 MiB file read %d of %d packs", len(read), len(packsNow()))
}

// TestMountNewSnapshotAndSIGTERM: a backup made while mounted appears
// under snapshots/ within seconds, its files readable; SIGTERM unmounts
// (nothing left in /proc/mounts) and ends the process with exit 0.
func TestMountNewSnapshotAndSIGTERM(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a.txt"), "first")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	m := startMount(t, env, "--json")
	if n := snapshotNames(t, m.dir); len(n) != 1 {
		t.Fatalf("snapshots/: %v", n)
	}
	write(t, filepath.Join(src, "b.txt"), "second")
	mustCairn(t, env, "backup", "-q", src)
	deadline := time.Now().Add(15 * time.Second)
	for len(snapshotNames(t, m.dir)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the new snapshot did not appear in 15s: %v", snapshotNames(t, m.dir))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(m.dir, "snapshots", "latest", src, "b.txt"))
	if err != nil || string(b) != "second" {
		t.Fatalf("b.txt of the new snapshot: %q, %v\n%s", b, err, m.errb)
	}
	if code := m.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, m.errb)
	}
	if isMounted(t, m.dir) {
		t.Error("still mounted after SIGTERM")
	}
	if strings.Contains(m.errb.String(), "warning") {
		t.Errorf("warnings: %s", m.errb)
	}
	// --json: stderr is JSON lines, the first says where it is mounted.
	docs := jsonLinesOnly(t, "stderr", m.errb.String())
	if len(docs) == 0 || field(t, docs[0], "message_type") != "mounted" || field(t, docs[0], "mountpoint") != m.dir {
		t.Errorf("stderr with --json: %s", m.errb)
	}
}

// TestMountWithoutFUSE: without fusermount3 the command says what is
// missing, exit 1, before it asks for a password.
func TestMountWithoutFUSE(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "PATH=" + t.TempDir()}
	r := cairn(t, env, "mount", base)
	if r.code != 1 || !strings.Contains(r.stderr, "error: mount "+base+": FUSE is not available") ||
		!strings.Contains(r.stderr, "fusermount3") || !strings.Contains(r.stderr, "hint: install fuse3") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}

// TestMountHugeDirectory: a directory of 100,000 entries (1,000,000 with
// CAIRN_SOAK=1; a split tree) lists completely through the mount and its
// entries are found by name, while the mount's peak memory stays bounded:
// the tree is read part by part, never held whole.
func TestMountHugeDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 100,000 files")
	}
	t.Parallel()
	requireFUSE(t)
	n := 100000
	if os.Getenv("CAIRN_SOAK") == "1" {
		n = 1000000
	}
	base := t.TempDir()
	big := filepath.Join(base, "src", "big")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return fmt.Sprintf("entry-%07d-with-a-longer-name-to-make-the-tree-larger.txt", i) }
	for i := range n {
		f, err := os.Create(filepath.Join(big, name(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", filepath.Join(base, "src"))
	if err := os.RemoveAll(big); err != nil {
		t.Fatal(err)
	}
	m := startMount(t, env)
	dir := filepath.Join(m.dir, "snapshots", "latest", big)
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for {
		names, err := f.Readdirnames(4096)
		count += len(names)
		if err != nil {
			break
		}
	}
	f.Close()
	if count != n {
		t.Fatalf("listed %d entries, want %d", count, n)
	}
	for _, i := range []int{0, 1, n / 3, n / 2, n - 1} {
		if _, err := os.Lstat(filepath.Join(dir, name(i))); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "entry-missing")); !os.IsNotExist(err) {
		t.Errorf("a missing entry: %v", err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var hwm int
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Sscanf(strings.TrimPrefix(line, "VmHWM:"), "%d", &hwm)
		}
	}
	t.Logf("listing %d entries: mount's peak RSS %d MiB", n, hwm>>10)
	if hwm == 0 || hwm > 200<<10 {
		t.Errorf("mount's peak RSS %d KiB listing %d entries, want under 200 MiB", hwm, n)
	}
	if code := m.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, m.errb)
	}
}

// TestMountViews: snapshots/ names each snapshot by its time, with -1 for
// a second one in the same second; hosts/, tags/ and ids/ list theirs;
// every latest names the newest; --owner-root shows root as the owner.
func TestMountViews(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a.txt"), "a")
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(src, "a.txt"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	const t1, t2 = "2026-03-01T10:00:00Z", "2026-03-01T11:30:00Z"
	ids := map[string]string{}
	for _, b := range []struct{ key, now, host, tag string }{
		{"a1", t1, "alpha", "x"}, {"b1", t1, "beta", "x"}, {"a2", t2, "alpha", "y"},
	} {
		ids[b.key] = backupJSON(t, append(env, "CAIRN_NOW="+b.now), "--host", b.host, "--tag", b.tag, src).SnapshotID[:8]
	}
	m := startMount(t, env)
	list := func(p string) string {
		t.Helper()
		des, err := os.ReadDir(filepath.Join(m.dir, p))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return strings.Join(names, " ")
	}
	link := func(p string) string {
		t.Helper()
		target, err := os.Readlink(filepath.Join(m.dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	for p, want := range map[string]string{
		"":            "hosts ids snapshots tags",
		"snapshots":   t1 + " " + t1 + "-1 " + t2 + " latest",
		"hosts":       "alpha beta",
		"hosts/alpha": t1 + " " + t2 + " latest",
		"hosts/beta":  t1 + " latest",
		"tags":        "x y",
		"tags/x":      t1 + " " + t1 + "-1 latest",
		"tags/y":      t2 + " latest",
	} {
		if got := list(p); got != want {
			t.Errorf("%s/: %q, want %q", p, got, want)
		}
	}
	if got := list("ids"); len(strings.Fields(got)) != 4 || !strings.Contains(got, ids["a1"]) || !strings.Contains(got, ids["b1"]) {
		t.Errorf("ids/: %q, want %v and latest", got, ids)
	}
	for p, want := range map[string]string{"snapshots/latest": t2, "hosts/alpha/latest": t2, "hosts/beta/latest": t1,
		"tags/y/latest": t2, "ids/latest": ids["a2"]} {
		if got := link(p); got != want {
			t.Errorf("%s -> %q, want %q", p, got, want)
		}
	}
	// The beta snapshot through hosts/ and through ids/.
	for _, p := range []string{"hosts/beta/" + t1, "ids/" + ids["b1"]} {
		if b, err := os.ReadFile(filepath.Join(m.dir, p, src, "a.txt")); err != nil || string(b) != "a" {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	// An unreadable snapshot file hides itself only, with one warning,
	// not one at every listing.
	junk := []byte("not a sealed snapshot")
	sum := sha256.Sum256(junk)
	if err := os.WriteFile(filepath.Join(base, "repo", "snapshots", hex.EncodeToString(sum[:])), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		time.Sleep(3500 * time.Millisecond)
		if got := len(snapshotNames(t, m.dir)); got != 3 {
			t.Errorf("%d snapshots with a junk snapshot file, want 3", got)
		}
	}
	if n := strings.Count(m.errb.String(), "warning: "); n != 1 {
		t.Errorf("%d warnings for one junk snapshot file, want 1:\n%s", n, m.errb)
	}
	if os.Geteuid() == 0 {
		owner := func(dir string) uint32 {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, "snapshots", "latest", src, "a.txt"), &st); err != nil {
				t.Fatal(err)
			}
			return st.Uid
		}
		root := startMount(t, env, "--owner-root")
		if a, b := owner(m.dir), owner(root.dir); a != 65534 || b != 0 {
			t.Errorf("owner %d, with --owner-root %d; want 65534 and 0", a, b)
		}
	}
}
