//go:build unix

package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkRepo is a small repository with two snapshots for corruption tests.
type checkRepo struct {
	base, src, repo string
	env             []string
	first, second   string
}

func newCheckRepo(t *testing.T) *checkRepo {
	t.Helper()
	c := &checkRepo{base: t.TempDir()}
	c.src = filepath.Join(c.base, "src")
	c.repo = filepath.Join(c.base, "repo")
	c.env = []string{"CAIRN_REPOSITORY=" + c.repo, "CAIRN_PASSWORD=pw"}
	write(t, filepath.Join(c.src, "dir/a.txt"), strings.Repeat("alpha ", 5000))
	writeBigSeed(t, filepath.Join(c.src, "big.bin"), 3<<20, 42)
	mustCairn(t, c.env, "init", "--pack-size", "1")
	c.first = backupSummary(t, c.env, c.src).SnapshotID
	write(t, filepath.Join(c.src, "dir/b.txt"), "second snapshot only")
	c.second = backupSummary(t, c.env, c.src).SnapshotID
	if out := mustCairn(t, c.env, "check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("fresh repository: %s", out)
	}
	return c
}

func (c *checkRepo) files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(filepath.Join(c.repo, dir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func flipByte(t *testing.T, p string, at int) {
	t.Helper()
	os.Chmod(p, 0o600)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x55
	os.WriteFile(p, b, 0o600)
}

// packOf returns the data pack files (larger ones) and tree packs.
func (c *checkRepo) packs(t *testing.T) (data, tree []string) {
	for _, p := range c.files(t, "data") {
		fi, _ := os.Stat(p)
		if fi.Size() > 64<<10 {
			data = append(data, p)
		} else {
			tree = append(tree, p)
		}
	}
	return data, tree
}

func expectDamage(t *testing.T, c *checkRepo, args []string, wants ...string) {
	t.Helper()
	r := cairn(t, c.env, args...)
	if r.code != 13 {
		t.Fatalf("%v: exit %d, want 13\nstdout %s\nstderr %s", args, r.code, r.stdout, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%v: stderr lacks %q:\n%s", args, w, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "panic") {
		t.Fatalf("panic: %s", r.stderr)
	}
}

func TestCheckDataPackDamage(t *testing.T) {
	for _, renamed := range []bool{false, true} {
		name := "in place"
		if renamed {
			name = "renamed to its new hash"
		}
		t.Run(name, func(t *testing.T) {
			c := newCheckRepo(t)
			data, _ := c.packs(t)
			p := data[0]
			flipByte(t, p, 100)
			short := filepath.Base(p)[:8]
			if renamed {
				b, _ := os.ReadFile(p)
				sum := sha256.Sum256(b)
				np := filepath.Join(filepath.Dir(filepath.Dir(p)), hex.EncodeToString(sum[:1]), hex.EncodeToString(sum[:]))
				os.MkdirAll(filepath.Dir(np), 0o700)
				os.Rename(p, np)
				// The index still names the old file: check says it's missing;
				// after repair index, only authentication can catch the flip.
				expectDamage(t, c, []string{"check"}, "missing", c.first[:8]+":"+c.src)
				mustCairn(t, c.env, "repair", "index")
				short = hex.EncodeToString(sum[:4])
			}
			expectDamage(t, c, []string{"check", "--read-data"}, short, "damaged blobs", c.src+"/big.bin")
			// Restore reports the file and pack and restores the rest.
			r := cairn(t, c.env, "restore", c.first, "--target", filepath.Join(c.base, "t"), "--include", "*.txt")
			if r.code != 0 {
				t.Fatalf("restore of unaffected files: %d %s", r.code, r.stderr)
			}
			expectDamage(t, c, []string{"restore", c.second, "--target", filepath.Join(c.base, "t2")}, "big.bin", short)
		})
	}
}

func TestCheckOtherDamage(t *testing.T) {
	tests := []struct {
		name  string
		harm  func(t *testing.T, c *checkRepo)
		args  []string
		wants []string
	}{
		{"tree pack", func(t *testing.T, c *checkRepo) {
			_, tree := c.packs(t)
			for _, p := range tree {
				flipByte(t, p, 50)
			}
		}, []string{"check"}, []string{"tree", c0}},
		{"truncated pack", func(t *testing.T, c *checkRepo) {
			data, _ := c.packs(t)
			os.Chmod(data[0], 0o600)
			os.Truncate(data[0], 1000)
		}, []string{"check"}, []string{"truncated"}},
		{"deleted pack", func(t *testing.T, c *checkRepo) {
			data, _ := c.packs(t)
			os.Remove(data[0])
		}, []string{"check"}, []string{"missing", "big.bin"}},
		{"index file", func(t *testing.T, c *checkRepo) {
			flipByte(t, c.files(t, "index")[0], 60)
		}, []string{"check"}, []string{"index", "does not match its name"}},
		{"snapshot file", func(t *testing.T, c *checkRepo) {
			flipByte(t, filepath.Join(c.repo, "snapshots", c.first), 60)
		}, []string{"snapshots"}, []string{c0}},
		{"config", func(t *testing.T, c *checkRepo) {
			flipByte(t, filepath.Join(c.repo, "config"), 40)
		}, []string{"snapshots"}, []string{"config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCheckRepo(t)
			tt.harm(t, c)
			wants := make([]string, 0, len(tt.wants))
			for _, w := range tt.wants {
				if w == c0 {
					w = c.first[:8]
				}
				wants = append(wants, w)
			}
			expectDamage(t, c, tt.args, wants...)
		})
	}
}

// c0 stands for "the first snapshot's short ID" in the table above.
const c0 = "\x00first"

func TestSnapshotsListsReadableOnes(t *testing.T) {
	c := newCheckRepo(t)
	flipByte(t, filepath.Join(c.repo, "snapshots", c.first), 60)
	r := cairn(t, c.env, "snapshots")
	if r.code != 13 || !strings.Contains(r.stdout, c.second[:8]) || !strings.Contains(r.stderr, c.first[:8]) {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestDamagedKeyFile(t *testing.T) {
	c := newCheckRepo(t)
	pw := filepath.Join(c.base, "pw2")
	os.WriteFile(pw, []byte("second\n"), 0o600)
	mustCairn(t, c.env, "key", "add", "--new-password-file", pw)
	keys := c.files(t, "keys")
	// Damage whichever key file is not the new one: try both.
	env2 := []string{"CAIRN_REPOSITORY=" + c.repo, "CAIRN_PASSWORD=second"}
	for _, k := range keys {
		b, _ := os.ReadFile(k)
		flipByte(t, k, 20)
		if r := cairn(t, env2, "check"); r.code == 13 && strings.Contains(r.stderr, "key") {
			return
		}
		os.WriteFile(k, b, 0o400)
	}
	t.Fatal("a damaged key file was not reported by check")
}

// TestLostIndexRepair: with every index file gone, check reports the
// damage, repair index rebuilds it from the packs, and all restores.
func TestLostIndexRepair(t *testing.T) {
	c := newCheckRepo(t)
	for _, f := range c.files(t, "index") {
		os.Remove(f)
	}
	expectDamage(t, c, []string{"check"}, "missing")
	out := mustCairn(t, c.env, "repair", "index")
	if !strings.Contains(out, "indexed") {
		t.Fatalf("repair index: %s", out)
	}
	if out := mustCairn(t, c.env, "check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("after repair: %s", out)
	}
	mustCairn(t, c.env, "restore", c.second, "--target", filepath.Join(c.base, "t"))
	compareTrees(t, c.src, filepath.Join(c.base, "t", c.src))
}

// TestBackupAfterLostPack: a backup never deduplicates against a pack
// that is gone: it warns, stores the data again, and its snapshot is
// complete (restic 0.14 and borg 1.2 silently reference the lost data).
func TestBackupAfterLostPack(t *testing.T) {
	c := newCheckRepo(t)
	data, _ := c.packs(t)
	for _, p := range data {
		os.Remove(p)
	}
	r := cairn(t, c.env, "backup", c.src)
	if r.code != 0 || !strings.Contains(r.stderr, "missing") {
		t.Fatalf("backup after lost packs: %d %s", r.code, r.stderr)
	}
	target := filepath.Join(c.base, "t")
	mustCairn(t, c.env, "restore", "latest", "--target", target)
	compareTrees(t, c.src, filepath.Join(target, c.src))
}

// TestCrashPoints kills backups with SIGKILL at points spread over a run
// (8 by default, 24 with CAIRN_SOAK=1): after each, check is clean apart
// from orphaned packs, the next backup succeeds and restores exactly.
func TestCrashPoints(t *testing.T) {
	points := 8
	if os.Getenv("CAIRN_SOAK") == "1" {
		points = 24
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 12; i++ {
		writeBigSeed(t, filepath.Join(src, fmt.Sprintf("big%02d", i)), 3<<20+i, byte(100+i))
	}
	for i := 0; i < 300; i++ {
		write(t, filepath.Join(src, "small", fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%03d", i)), strings.Repeat(fmt.Sprint(i), 100+i))
	}
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	// Time one full backup into a scratch repository to spread the kills.
	scratch := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "scratch"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, scratch, "init", "--pack-size", "1")
	start := time.Now()
	mustCairn(t, scratch, "backup", "-q", "--full", src)
	full := time.Since(start)
	for i := 1; i <= points; i++ {
		// Change some data each round so every backup has work to do.
		writeBigSeed(t, filepath.Join(src, fmt.Sprintf("big%02d", i%12)), 3<<20+i, byte(200+i))
		cmd := exec.Command(cairnBin, "backup", "-q", "--full", src)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(full * time.Duration(i) / time.Duration(points+1))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		r := cairn(t, env, "check")
		if r.code != 0 {
			t.Fatalf("kill point %d/%d (%v): check exit %d\n%s\n%s", i, points, full*time.Duration(i)/time.Duration(points+1), r.code, r.stdout, r.stderr)
		}
		if i%4 == 0 || i == points {
			s := backupSummary(t, env, src)
			target := filepath.Join(base, fmt.Sprintf("t%d", i))
			mustCairn(t, env, "restore", s.SnapshotID, "--target", target)
			compareTrees(t, src, filepath.Join(target, src))
			os.RemoveAll(target)
		}
	}
}

// TestRepairPacksAndSnapshots: a damaged data pack is salvaged (good
// blobs kept), the snapshots that needed its lost blobs are rewritten
// with truncated copies, and afterwards check is clean and the rest of
// each snapshot restores.
func TestRepairPacksAndSnapshots(t *testing.T) {
	c := newCheckRepo(t)
	data, _ := c.packs(t)
	p := data[0]
	flipByte(t, p, 200)
	short := filepath.Base(p)[:8]
	expectDamage(t, c, []string{"check", "--read-data"}, short)
	out := mustCairn(t, c.env, "repair", "packs", short)
	if !strings.Contains(out, "lost") {
		t.Fatalf("repair packs: %s", out)
	}
	out = mustCairn(t, c.env, "repair", "snapshots", "--forget")
	if !strings.Contains(out, "big.bin (truncated") || !strings.Contains(out, "2 snapshots repaired") {
		t.Fatalf("repair snapshots: %s", out)
	}
	if out := mustCairn(t, c.env, "check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("check after repair: %s", out)
	}
	var sns []struct {
		ID      string   `json:"id"`
		Tags    []string `json:"tags"`
		Summary struct {
			Repaired []string `json:"repaired"`
		} `json:"summary"`
	}
	json.Unmarshal([]byte(mustCairn(t, c.env, "snapshots", "--json")), &sns)
	if len(sns) != 2 || len(sns[0].Summary.Repaired) == 0 || sns[0].Tags[len(sns[0].Tags)-1] != "repaired" {
		t.Fatalf("repaired snapshots: %+v", sns)
	}
	target := filepath.Join(c.base, "t")
	mustCairn(t, c.env, "restore", sns[1].ID, "--target", target)
	for _, f := range []string{"dir/a.txt", "dir/b.txt"} {
		want, _ := os.ReadFile(filepath.Join(c.src, f))
		got, _ := os.ReadFile(filepath.Join(target, c.src, f))
		if string(got) != string(want) {
			t.Errorf("%s not restored intact after repair", f)
		}
	}
}
