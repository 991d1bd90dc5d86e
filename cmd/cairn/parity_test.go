//go:build unix

package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// parityRepo is a repository with parity 4+2 and one snapshot.
type parityRepo struct {
	base, src, repo string
	env             []string
}

func newParityRepo(t *testing.T, initArgs ...string) *parityRepo {
	t.Helper()
	p := &parityRepo{base: t.TempDir()}
	p.src = filepath.Join(p.base, "src")
	p.repo = filepath.Join(p.base, "repo")
	p.env = []string{"CAIRN_REPOSITORY=" + p.repo, "CAIRN_PASSWORD=pw"}
	write(t, filepath.Join(p.src, "dir/a.txt"), strings.Repeat("alpha ", 5000))
	write(t, filepath.Join(p.src, "dir/sub/b.txt"), "bravo")
	writeRandom(t, filepath.Join(p.src, "random.bin"), 600<<10, 9)
	mustCairn(t, p.env, append([]string{"init"}, initArgs...)...)
	mustCairn(t, p.env, "backup", "-q", p.src)
	return p
}

// clone copies the repository into a new directory and returns its env.
func (p *parityRepo) clone(t *testing.T) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	copyTree(t, p.repo, dir)
	return dir, []string{"CAIRN_REPOSITORY=" + dir, "CAIRN_PASSWORD=pw"}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		// Temporary files of a killed writer are not repository files.
		if err == nil && fi.Mode().IsRegular() && !strings.HasPrefix(fi.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return fileSize(out[i]) > fileSize(out[j]) })
	return out
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func nameMatches(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]) == filepath.Base(p)
}

func mangle(t *testing.T, p string, fn func(b []byte, shard int) []byte) {
	t.Helper()
	os.Chmod(p, 0o600)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	shard := (len(b) + 3) / 4
	if err := os.WriteFile(p, fn(b, shard), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestParityRepairMatrix damages each kind of file in the ways storage
// does and checks that check, repair and restore handle it exactly when
// parity can (at most M = 2 of the 4+2 shards damaged).
func TestParityRepairMatrix(t *testing.T) {
	p := newParityRepo(t, "--parity-data", "4", "--parity-shards", "2")
	kinds := []struct {
		name   string
		file   func(repo string) string
		repair func(id string) []string
	}{
		{"data pack", func(r string) string { return listFiles(t, filepath.Join(r, "data"))[0] },
			func(id string) []string { return []string{"repair", "packs", id} }},
		{"tree pack", func(r string) string { f := listFiles(t, filepath.Join(r, "data")); return f[len(f)-1] },
			func(id string) []string { return []string{"repair", "packs", id} }},
		{"index file", func(r string) string { return listFiles(t, filepath.Join(r, "index"))[0] },
			func(string) []string { return []string{"repair", "index"} }},
		{"snapshot file", func(r string) string { return listFiles(t, filepath.Join(r, "snapshots"))[0] },
			func(string) []string { return []string{"repair", "snapshots"} }},
	}
	flipAt := func(shards ...int) func([]byte, int) []byte {
		return func(b []byte, s int) []byte {
			for _, i := range shards {
				b[min(i*s+s/2, len(b)-1)] ^= 0x5a
			}
			return b
		}
	}
	damages := []struct {
		name       string
		fn         func([]byte, int) []byte
		repairable bool
	}{
		{"one flipped byte", flipAt(1), true},
		{"M shards flipped", flipAt(0, 3), true},
		{"M+1 shards flipped", flipAt(0, 1, 3), false},
		{"zeroed shard", func(b []byte, s int) []byte { clear(b[2*s : 3*s]); return b }, true},
		{"truncated", func(b []byte, s int) []byte { return b[:len(b)-s/2] }, true},
		{"truncated to a quarter", func(b []byte, s int) []byte { return b[:s-1] }, false},
	}
	for _, k := range kinds {
		for _, d := range damages {
			t.Run(k.name+"/"+d.name, func(t *testing.T) {
				dir, env := p.clone(t)
				f := k.file(dir)
				id := filepath.Base(f)
				orig, _ := os.ReadFile(f)
				mangle(t, f, d.fn)
				r := cairn(t, env, "check", "--read-data")
				if r.code != 13 || !strings.Contains(r.stdout+r.stderr, id[:8]) {
					t.Fatalf("check: exit %d, want 13 naming %s\n%s%s", r.code, id[:8], r.stdout, r.stderr)
				}
				if d.repairable && !strings.Contains(r.stderr, "repairable from parity") {
					t.Fatalf("check does not say the damage is repairable:\n%s", r.stderr)
				}
				if !d.repairable && !strings.Contains(r.stderr, "not repairable from parity") && !strings.Contains(r.stderr, "content does not match its name") {
					t.Fatalf("check does not report the unrepairable damage:\n%s", r.stderr)
				}
				if !d.repairable && strings.Contains(k.name, "pack") && !strings.Contains(r.stderr, "affects") {
					t.Fatalf("check does not say what depends on the pack:\n%s", r.stderr)
				}
				rep := cairn(t, env, k.repair(id)...)
				out := rep.stdout + rep.stderr
				if d.repairable {
					if rep.code != 0 || !strings.Contains(out, "rebuilt byte for byte from its parity file") {
						t.Fatalf("repair: exit %d\n%s", rep.code, out)
					}
					now, _ := os.ReadFile(f)
					if string(now) != string(orig) || !nameMatches(t, f) {
						t.Fatal("the repaired file differs from the original")
					}
					if c := cairn(t, env, "check", "--read-data"); c.code != 0 {
						t.Fatalf("check after repair: exit %d\n%s%s", c.code, c.stdout, c.stderr)
					}
					target := filepath.Join(t.TempDir(), "out")
					mustCairn(t, env, "restore", "latest", "--target", target)
					compareTrees(t, p.src, filepath.Join(target, p.src))
					return
				}
				if !strings.Contains(out, "parity could not rebuild") {
					t.Fatalf("repair of unrepairable damage does not say parity could not help: exit %d\n%s", rep.code, out)
				}
				if nameMatches(t, f) {
					t.Fatal("unrepairable file was replaced with something matching its name")
				}
			})
		}
	}
}

// TestRestoreReadsThroughParity flips one byte in every pack: restore
// succeeds, is exact and says it read through parity.
func TestRestoreReadsThroughParity(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 6; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%d.bin", i)), 900<<10, byte(i))
	}
	write(t, filepath.Join(src, "small.txt"), "small")
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1", "--parity-data", "10")
	mustCairn(t, env, "backup", "-q", src)
	packs := listFiles(t, filepath.Join(repoDir, "data"))
	if len(packs) < 4 {
		t.Fatalf("want several packs, have %d", len(packs))
	}
	for i, f := range packs {
		// Inside the first blob (every sealed blob has at least 40
		// bytes), which restore reads, not in the header, which it doesn't.
		mangle(t, f, func(b []byte, _ int) []byte { b[24+i%16] ^= 1; return b })
	}
	target := filepath.Join(base, "out")
	r := cairn(t, env, "restore", "latest", "--target", target)
	if r.code != 0 {
		t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
	}
	compareTrees(t, src, filepath.Join(target, src))
	if n := strings.Count(r.stderr, "read through its parity file"); n != len(packs) {
		t.Fatalf("restore reported %d packs read through parity, want %d:\n%s", n, len(packs), r.stderr)
	}
	// dump reads single blobs through parity too.
	if out := mustCairn(t, env, "dump", "latest", filepath.Join(src, "small.txt")); out != "small" {
		t.Fatalf("dump through parity: %q", out)
	}
}

// TestParityLifecycle enables parity on an existing repository, fills it
// in, damages a parity file, lets update rewrite it, prunes and disables.
func TestParityLifecycle(t *testing.T) {
	p := newParityRepo(t)
	run := func(args ...string) string { return mustCairn(t, p.env, args...) }
	if out := run("check"); strings.Contains(out, "parity") {
		t.Fatalf("check mentions parity before it is enabled: %s", out)
	}
	out := run("parity", "enable")
	if !strings.Contains(out, "20%") || !strings.Contains(out, "were written before") {
		t.Fatalf("enable does not state the overhead and the files without parity:\n%s", out)
	}
	if out := run("check"); !strings.Contains(out, "have no parity file") {
		t.Fatalf("check does not report files without parity:\n%s", out)
	}
	run("backup", "-q", p.src) // new files get parity at once
	out = run("parity", "update")
	if !strings.Contains(out, "parity written for") {
		t.Fatalf("update: %s", out)
	}
	if out := run("check", "--read-data"); strings.Contains(out, "no parity file") || !strings.Contains(out, "no errors") {
		t.Fatalf("check after update:\n%s", out)
	}
	protectedOf := func(st string) (int, int) {
		var protected, files int
		if i := strings.Index(st, "protected files:"); i >= 0 {
			fmt.Sscanf(st[i:], "protected files: %d of %d", &protected, &files)
		}
		return protected, files
	}
	status := run("parity", "status")
	if n, all := protectedOf(status); n != all || all < 5 {
		t.Fatalf("status:\n%s", status)
	}
	// A damaged parity file is found by check and rewritten by update.
	pars := listFiles(t, filepath.Join(p.repo, "parity"))
	mangle(t, pars[0], func(b []byte, _ int) []byte { b[len(b)-3] ^= 1; return b })
	r := cairn(t, p.env, "check", "--read-data")
	if r.code != 13 || !strings.Contains(r.stderr, "parity "+filepath.Base(pars[0])[:12]) {
		t.Fatalf("damaged parity file: exit %d\n%s", r.code, r.stderr)
	}
	if out := run("parity", "update"); !strings.Contains(out, "1 damaged parity files rewritten") {
		t.Fatalf("update does not rewrite the damaged parity file:\n%s", out)
	}
	run("check", "--read-data")
	// Prune removes the parity of the files it deletes.
	write(t, filepath.Join(p.src, "dir/a.txt"), strings.Repeat("changed ", 9000))
	run("backup", "-q", p.src)
	run("forget", "--keep-last", "1", "--prune", "--grace", "0")
	st := run("parity", "status")
	if strings.Contains(st, "orphaned") || !strings.Contains(st, "protected files:") {
		t.Fatalf("status after prune:\n%s", st)
	}
	protected, files := protectedOf(st)
	if protected != files || len(listFiles(t, filepath.Join(p.repo, "parity"))) != files {
		t.Fatalf("after prune: %d of %d protected, %d parity files", protected, files, len(listFiles(t, filepath.Join(p.repo, "parity"))))
	}
	if out := run("stats"); !strings.Contains(out, "Parity:") {
		t.Fatalf("stats does not show parity space:\n%s", out)
	}
	out = run("parity", "disable")
	if n := len(listFiles(t, filepath.Join(p.repo, "parity"))); n != 0 || !strings.Contains(out, "parity disabled") {
		t.Fatalf("disable left %d parity files: %s", n, out)
	}
	if out := run("stats"); strings.Contains(out, "Parity:") {
		t.Fatalf("stats shows parity after disable:\n%s", out)
	}
	if r := cairn(t, p.env, "parity", "enable", "--data", "0"); r.code != 1 || !strings.Contains(r.stderr, "invalid parity") {
		t.Fatalf("bad shard count: exit %d %s", r.code, r.stderr)
	}
}

// TestKillDuringParityUpdate kills `parity update` part way: the
// repository stays consistent and the next update finishes the job.
func TestKillDuringParityUpdate(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 24; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), 1<<20, byte(i+50))
	}
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	mustCairn(t, env, "backup", "-q", src)
	mustCairn(t, env, "parity", "enable")
	protectable := func() int {
		return len(listFiles(t, filepath.Join(repoDir, "data"))) + len(listFiles(t, filepath.Join(repoDir, "index"))) +
			len(listFiles(t, filepath.Join(repoDir, "snapshots")))
	}
	total := protectable()
	killWhen(t, env, func() bool { return len(listFiles(t, filepath.Join(repoDir, "parity"))) >= 3 }, "parity", "update")
	done := len(listFiles(t, filepath.Join(repoDir, "parity")))
	if done >= total {
		t.Skipf("update finished (%d files) before the kill", done)
	}
	if out := mustCairn(t, env, "check", "--read-data"); !strings.Contains(out, "no errors") || !strings.Contains(out, "have no parity file") {
		t.Fatalf("check after the kill:\n%s", out)
	}
	mustCairn(t, env, "unlock")
	mustCairn(t, env, "parity", "update")
	if out := mustCairn(t, env, "check", "--read-data"); strings.Contains(out, "no parity file") {
		t.Fatalf("check after the second update:\n%s", out)
	}
	if n := len(listFiles(t, filepath.Join(repoDir, "parity"))); n != total {
		t.Fatalf("%d parity files for %d files", n, total)
	}
}

// killWhen runs cairn with args and kills it with SIGKILL as soon as
// ready reports true (polled; at most 30 s).
func killWhen(t *testing.T, env []string, ready func() bool, args ...string) {
	t.Helper()
	cmd := exec.Command(cairnBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}
