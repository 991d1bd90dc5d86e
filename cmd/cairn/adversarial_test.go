//go:build unix

package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// cairnRSS runs the binary like cairn and also returns its peak RSS, or
// -1 where /usr/bin/time is missing outside CI. The peak comes from GNU
// time, which forks the command itself: the rusage of a child that Go's
// os/exec starts (vfork, sharing this test process's memory until exec)
// counts this process's RSS too.
func cairnRSS(t *testing.T, env []string, args ...string) (result, int64, time.Duration) {
	t.Helper()
	const gnuTime = "/usr/bin/time"
	rssFile := filepath.Join(t.TempDir(), "rss")
	name, argv := gnuTime, append([]string{"-f", "%M", "-o", rssFile, cairnBin}, args...)
	if _, err := os.Stat(gnuTime); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI installs the time package)", gnuTime)
		}
		name, argv = cairnBin, args
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + cacheHome}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	rss := int64(-1)
	if b, err := os.ReadFile(rssFile); err == nil {
		// GNU time writes "Command exited with non-zero status N" first
		// when the command fails; the figure is the last line.
		lines := strings.Fields(strings.TrimSpace(string(b)))
		if n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64); err == nil {
			rss = n << 10
		}
	}
	return result{out.String(), errb.String(), code}, rss, d
}

// sparse plants a file of size bytes that takes no space.
func sparse(t *testing.T, p string, size int64) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func hexName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHostileStorage (issue 14, the adversarial suite): contents planted
// in the storage by someone without the key (junk and giant files of every
// type, a parity file claiming huge shards) and by a key holder (a tree
// bomb). Each command gives its clear error and exit code, stays under a
// memory bound, and finishes within two minutes; no file outside the repository is
// touched.
func TestHostileStorage(t *testing.T) {
	t.Parallel()
	const giant = 16 << 30
	const maxRSS = 256 << 20
	type run struct {
		args  []string
		codes []int  // acceptable exit codes
		says  string // stderr must contain this (when not empty)
	}
	cases := []struct {
		name  string
		plant func(t *testing.T, dir string)
		runs  []run
	}{
		{"giant lock", func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "locks", hexName("l")), giant) }, []run{
			{[]string{"backup", "-q", "SRC"}, []int{0}, "lock"},
			{[]string{"unlock", "--remove-all"}, []int{0}, ""},
			{[]string{"check"}, []int{0}, ""},
		}},
		{"giant index", func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "index", hexName("i")), giant) }, []run{
			{[]string{"check"}, []int{13}, "index"},
			{[]string{"snapshots"}, []int{0}, ""},
		}},
		{"giant snapshot", func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "snapshots", hexName("s")), giant) }, []run{
			{[]string{"snapshots"}, []int{13}, hexName("s")[:8]},
			{[]string{"forget", "--keep-last", "1"}, []int{13}, hexName("s")[:8]},
		}},
		{"giant and junk keys", func(t *testing.T, dir string) {
			sparse(t, filepath.Join(dir, "keys", hexName("k")), giant)
			write(t, filepath.Join(dir, "keys", "x"), "junk")
		}, []run{
			{[]string{"snapshots"}, []int{0}, ""},
			{[]string{"key", "list"}, []int{0}, ""},
		}},
		{"giant parity, parity off", func(t *testing.T, dir string) {
			ents, _ := filepath.Glob(filepath.Join(dir, "data", "*", "*"))
			for _, p := range ents {
				sparse(t, filepath.Join(dir, "parity", filepath.Base(p)), giant)
			}
		}, []run{
			{[]string{"check", "--read-data"}, []int{0}, ""},
			{[]string{"restore", "latest", "--target", "TARGET"}, []int{0}, ""},
		}},
		{"giant pack, not indexed", func(t *testing.T, dir string) {
			sparse(t, filepath.Join(dir, "data", "ab", "ab"+hexName("p")[2:]), giant)
		}, []run{
			{[]string{"check", "--read-data"}, []int{0, 13}, ""},
			{[]string{"repair", "index", "--read-all-packs"}, []int{0, 13}, ""},
			{[]string{"prune", "--grace", "0"}, []int{0, 13}, ""},
		}},
		{"giant config", func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "config"), giant) }, []run{
			{[]string{"snapshots"}, []int{13}, "config"},
		}},
		{"tree bomb (key holder)", plantTreeBomb, []run{
			{[]string{"ls", "-R", "latest"}, []int{13}, "repeat"},
			{[]string{"restore", "latest", "--target", "TARGET"}, []int{13}, "repeat"},
			{[]string{"check"}, []int{0}, ""},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, dir := filepath.Join(base, "src"), filepath.Join(base, "repo")
			writeRandom(t, filepath.Join(src, "a.bin"), 2<<20, 1)
			write(t, filepath.Join(src, "b.txt"), "small file\n")
			env := []string{"CAIRN_REPOSITORY=" + dir, "CAIRN_PASSWORD=pw"}
			mustCairn(t, env, "init")
			mustCairn(t, env, "backup", "-q", src)
			c.plant(t, dir)
			for i, r := range c.runs {
				args := make([]string, len(r.args))
				for j, a := range r.args {
					args[j] = strings.NewReplacer("SRC", src, "TARGET", filepath.Join(base, fmt.Sprint("target", i))).Replace(a)
				}
				res, rss, d := cairnRSS(t, env, args...)
				ok := false
				for _, code := range r.codes {
					ok = ok || res.code == code
				}
				if !ok || (r.says != "" && !strings.Contains(res.stderr+res.stdout, r.says)) {
					t.Errorf("cairn %s: exit %d, want %v and %q\nstdout: %.1000s\nstderr: %.1000s", strings.Join(r.args, " "), res.code, r.codes, r.says, res.stdout, res.stderr)
				}
				if res.code == 13 && !strings.Contains(res.stderr, "error: ") && !strings.Contains(res.stderr, "damage") {
					t.Errorf("cairn %s: exit 13 without an error line: %s", strings.Join(r.args, " "), res.stderr)
				}
				t.Logf("cairn %s: exit %d, peak RSS %d MiB, %s", strings.Join(r.args, " "), res.code, rss>>20, d.Round(time.Millisecond))
				if rss < 0 && os.Getenv("CI") == "" {
					t.Logf("cairn %s: peak RSS not measured (no /usr/bin/time)", strings.Join(r.args, " "))
				}
				if rss > maxRSS || d > 120*time.Second {
					t.Errorf("cairn %s: peak RSS %d MiB, %s", strings.Join(r.args, " "), rss>>20, d)
				}
			}
			outsideUntouchedE2E(t, base)
		})
	}
}

// outsideUntouchedE2E checks that base holds only what the test made.
func outsideUntouchedE2E(t *testing.T, base string) {
	t.Helper()
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if n := e.Name(); n != "src" && n != "repo" && !strings.HasPrefix(n, "target") {
			t.Errorf("%s appeared beside the repository", n)
		}
	}
}

// plantTreeBomb writes, with the key, a snapshot whose directories all
// name one subtree: 10 levels of 10 entries.
func plantTreeBomb(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, local.New(dir), "pw", repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.SharedLock, Index: true, Command: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var root pack.ID
	err = r.WithUploader(ctx, func(ctx context.Context) error {
		sv := r.NewSaver()
		ts := time.Unix(1e9, 0).UTC()
		sub, err := snapshot.SaveTree(ctx, sv, &snapshot.Tree{}, pack.Generation{})
		if err != nil {
			return err
		}
		for range 10 {
			tr := &snapshot.Tree{}
			for i := range 10 {
				id := sub
				tr.Nodes = append(tr.Nodes, &snapshot.Node{Name: fmt.Sprintf("d%d", i), Type: snapshot.TypeDir, Mode: os.ModeDir | 0o755, ModTime: ts, Subtree: &id})
			}
			if sub, err = snapshot.SaveTree(ctx, sv, tr, pack.Generation{}); err != nil {
				return err
			}
		}
		root = sub
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Tree: root, Kind: snapshot.Full, Time: time.Now(), Paths: []string{"/bomb"}, Hostname: "evil"}); err != nil {
		t.Fatal(err)
	}
}
