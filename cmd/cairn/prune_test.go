//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/local"
)

type prunePlan struct {
	PacksDelete  int   `json:"packs_to_delete"`
	PacksRepack  int   `json:"packs_to_repack"`
	OrphanPacks  int   `json:"orphan_packs"`
	MissingPacks int   `json:"missing_packs"`
	SizeUnused   int64 `json:"size_unused"`
	SizeFreed    int64 `json:"size_freed"`
	UnusedBlobs  int   `json:"unused_blobs"`
}

func pruneDry(t *testing.T, env []string) prunePlan {
	t.Helper()
	var p prunePlan
	if err := json.Unmarshal([]byte(mustCairn(t, env, "--json", "prune", "--dry-run", "--grace", "0")), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// restoreAll restores every snapshot and compares it with the source
// copy recorded for it.
func restoreAll(t *testing.T, env []string, base, src string, copies map[string]string) {
	t.Helper()
	var sns []struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns)
	for _, sn := range sns {
		target := filepath.Join(base, "r-"+sn.ID[:8])
		os.RemoveAll(target)
		mustCairn(t, env, "restore", sn.ID, "--target", target)
		if c, ok := copies[sn.ID]; ok {
			compareTrees(t, c, filepath.Join(target, src))
		}
		os.RemoveAll(target)
	}
}

func TestForgetPrune(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(filepath.Join(base, "copy"), 0o755)
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	copies := map[string]string{}
	day := time.Date(2026, 5, 1, 2, 0, 0, 0, time.Local)
	for i := 0; i < 10; i++ {
		writeBigSeed(t, filepath.Join(src, fmt.Sprintf("day%02d.bin", i)), 2<<20+i, byte(10+i))
		if i >= 3 {
			os.Remove(filepath.Join(src, fmt.Sprintf("day%02d.bin", i-3)))
		}
		s := backupSummary(t, env, "--time", day.AddDate(0, 0, i).Format("2006-01-02 15:04:05"), src)
		c := filepath.Join(base, "copy", s.SnapshotID[:8])
		copyTree(t, src, c)
		copies[s.SnapshotID] = c
	}
	before := dirSize(t, filepath.Join(repoDir, "data"))
	if p := pruneDry(t, env); p.PacksDelete != 0 || p.MissingPacks != 0 {
		t.Fatalf("nothing to prune yet: %+v", p)
	}
	out := mustCairn(t, env, "forget", "--keep-last", "2", "--keep-daily", "3", "--prune", "--grace", "0")
	if !strings.Contains(out, "keep 3 snapshots") || !strings.Contains(out, "last snapshot") ||
		!strings.Contains(out, "daily snapshot") || !strings.Contains(out, "remove 7 snapshots") {
		t.Fatalf("forget output:\n%s", out)
	}
	after := dirSize(t, filepath.Join(repoDir, "data"))
	// Kept: the files of the last 3 days (about 3 x 2 MiB plus a little).
	if after >= before/2 || after > 16<<20 {
		t.Fatalf("repository data %d -> %d bytes: not shrunk by the removed data", before, after)
	}
	p := pruneDry(t, env)
	if p.MissingPacks != 0 || p.OrphanPacks != 0 || p.PacksDelete != 0 {
		t.Fatalf("after prune: %+v", p)
	}
	restoreAll(t, env, base, src, copies)
	if n := strings.Count(mustCairn(t, env, "snapshots"), "incremental"); n != 3 {
		t.Fatalf("%d snapshots left, want 3", n)
	}
	// A policy that empties a group is refused unless explicit.
	if r := cairn(t, env, "forget", "--keep-tag", "nothing-has-this"); r.code != 1 || !strings.Contains(r.stderr, "would remove all") {
		t.Fatalf("emptying policy: %d %q", r.code, r.stderr)
	}
	if r := cairn(t, env, "forget"); r.code != 1 || !strings.Contains(r.stderr, "no policy") {
		t.Fatalf("no policy: %d %q", r.code, r.stderr)
	}
	mustCairn(t, env, "forget", "--keep-last", "0", "--dry-run")
}

// holdLock takes a lock from this test process through the library; the
// session is closed (the lock released) when the test ends or earlier.
func holdLock(t *testing.T, repoDir string, exclusive bool) *repo.Session {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, local.New(repoDir), "pw", repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mode := repo.SharedLock
	if exclusive {
		mode = repo.ExclusiveLock
	}
	s, err := r.Begin(ctx, repo.SessionOptions{Lock: mode, Command: "test-holder"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestLockedExit11(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "f"), "x")
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)

	ex := holdLock(t, repoDir, true)
	for _, args := range [][]string{{"backup", src}, {"restore", "latest", "--target", filepath.Join(base, "t")}, {"prune"},
		{"--retry-lock", "300ms", "backup", src}} {
		start := time.Now()
		r := cairn(t, env, args...)
		if r.code != 11 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(r.stderr, "test-holder") {
			t.Errorf("%v under an exclusive lock: exit %d, %q", args, r.code, r.stderr)
		}
		if args[0] == "--retry-lock" && time.Since(start) < 300*time.Millisecond {
			t.Errorf("--retry-lock did not wait")
		}
	}
	ex.Close()

	sh := holdLock(t, repoDir, false)
	mustCairn(t, env, "backup", "-q", src) // shared with shared is fine
	if r := cairn(t, env, "prune"); r.code != 11 {
		t.Errorf("prune during a backup: exit %d, %q", r.code, r.stderr)
	}
	if r := cairn(t, env, "forget", "--keep-last", "1"); r.code != 11 {
		t.Errorf("forget during a backup: exit %d", r.code)
	}
	sh.Close()
	if out := mustCairn(t, env, "unlock"); !strings.Contains(out, "0 locks removed") {
		t.Errorf("unlock with nothing stale: %s", out)
	}
}

// TestPruneAfterKilledBackup: packs of a backup killed before its snapshot
// are orphans; prune keeps them within the grace period and removes them
// after it.
func TestPruneAfterKilledBackup(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(filepath.Join(base, "copy"), 0o755)
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	write(t, filepath.Join(src, "small"), "small")
	mustCairn(t, env, "backup", "-q", src)
	for i := 0; i < 100; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("big%02d", i)), 1<<20+i, byte(i))
	}
	// Kill the backup once it has stored a few packs (polled, not timed).
	packsNow := func() int {
		n, _ := filepath.Glob(filepath.Join(repoDir, "data", "*", "*"))
		return len(n)
	}
	before := packsNow()
	cmd := exec.Command(cairnBin, "backup", "-q", src)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var outBuf strings.Builder
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for packsNow() < before+3 {
		select {
		case <-exited:
			t.Fatalf("the backup finished before it could be killed (%d packs, %d before): %s", packsNow(), before, outBuf.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if strings.Count(mustCairn(t, env, "snapshots"), "incremental") != 1 {
		t.Fatal("the killed backup wrote a snapshot")
	}
	if p := pruneDry(t, env); p.OrphanPacks == 0 {
		t.Fatalf("no orphaned packs after a killed backup: %+v", p)
	}
	mustCairn(t, env, "unlock") // the killed backup's lock: its process is gone
	if out := mustCairn(t, env, "prune"); !strings.Contains(out, "grace period") {
		t.Fatalf("young orphans not kept by the grace period:\n%s", out)
	}
	mustCairn(t, env, "prune", "--grace", "0")
	if p := pruneDry(t, env); p.OrphanPacks != 0 || p.PacksDelete != 0 {
		t.Fatalf("orphans left: %+v", p)
	}
	// Nor any temporary file of a pack the kill interrupted.
	tmps, _ := filepath.Glob(filepath.Join(repoDir, "*", "*", ".tmp-*"))
	more, _ := filepath.Glob(filepath.Join(repoDir, "*", ".tmp-*"))
	if tmps = append(tmps, more...); len(tmps) > 0 {
		t.Fatalf("temporary files left after prune --grace 0: %v", tmps)
	}
	restoreAll(t, env, base, src, nil)
}

// TestPruneKilled: kill -9 a prune at random moments; every snapshot still
// restores and the next prune finishes the job.
func TestPruneKilled(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(filepath.Join(base, "copy"), 0o755)
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	copies := map[string]string{}
	for i := 0; i < 6; i++ {
		for j := 0; j < 6; j++ {
			writeBigSeed(t, filepath.Join(src, fmt.Sprintf("f%d", j)), 600<<10+i*1000+j, byte(i*6+j))
		}
		s := backupSummary(t, env, src)
		c := filepath.Join(base, "copy", s.SnapshotID[:8])
		copyTree(t, src, c)
		copies[s.SnapshotID] = c
	}
	mustCairn(t, env, "forget", "--keep-last", "2")
	for _, delay := range []time.Duration{30, 80, 150, 250} {
		cmd := exec.Command(cairnBin, "prune", "--grace", "0", "--max-unused", "0%")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		cmd.Start()
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		mustCairn(t, env, "unlock")
		restoreAll(t, env, base, src, copies)
	}
	mustCairn(t, env, "prune", "--grace", "0", "--max-unused", "0%")
	if p := pruneDry(t, env); p.PacksDelete != 0 || p.MissingPacks != 0 || p.UnusedBlobs != 0 {
		t.Fatalf("after the final prune: %+v", p)
	}
	restoreAll(t, env, base, src, copies)
}
