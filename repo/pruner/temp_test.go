package pruner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// leaveTemp writes a temporary file as a killed save leaves it, last
// written at mtime.
func leaveTemp(t *testing.T, dir, p string, size int, mtime time.Time) string {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.WriteFile(full, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(full, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return full
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestPruneRemovesOldTempFiles(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	setup := func(t *testing.T) (*repo.Repository, []string, string) {
		r, dir := repotest.New(t, repo.InitOptions{})
		old := []string{
			leaveTemp(t, dir, "data/ab/.tmp-ab12-1", 1000, now.Add(-2*time.Hour)),
			leaveTemp(t, dir, "index/.tmp-cd34-1", 200, now.Add(-61*time.Minute)),
			leaveTemp(t, dir, ".tmp-config-1", 30, now.Add(-30*24*time.Hour)),
		}
		young := leaveTemp(t, dir, "data/ef/.tmp-ef56-2", 4000, now.Add(-10*time.Minute))
		repotest.Exclusive(t, r)
		return r, old, young
	}

	t.Run("dry run", func(t *testing.T) {
		r, old, young := setup(t)
		plan, err := pruner.Prune(ctx, r, pruner.Options{Grace: time.Hour, Now: clock, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		want := pruner.TempFiles{Removed: 3, RemovedBytes: 1230, Young: 1, YoungBytes: 4000}
		if plan.Temp != want {
			t.Fatalf("plan.Temp = %+v, want %+v", plan.Temp, want)
		}
		for _, p := range append(old, young) {
			if !exists(p) {
				t.Errorf("dry run removed %s", p)
			}
		}
	})
	t.Run("grace", func(t *testing.T) {
		r, old, young := setup(t)
		checks := 0
		plan, err := pruner.Prune(ctx, r, pruner.Options{Grace: time.Hour, Now: clock,
			BeforeDelete: func(context.Context) error { checks++; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		want := pruner.TempFiles{Removed: 3, RemovedBytes: 1230, Young: 1, YoungBytes: 4000}
		if plan.Temp != want {
			t.Fatalf("plan.Temp = %+v, want %+v", plan.Temp, want)
		}
		if checks == 0 {
			t.Error("temporary files removed without checking the lock first")
		}
		for _, p := range old {
			if exists(p) {
				t.Errorf("%s older than the grace period is still there", p)
			}
		}
		if !exists(young) {
			t.Errorf("%s inside the grace period was removed", young)
		}
		// Nothing else left to do: a second prune removes nothing.
		plan, err = pruner.Prune(ctx, r, pruner.Options{Grace: time.Hour, Now: clock})
		if err != nil || plan.Temp.Removed != 0 || plan.Temp.Young != 1 {
			t.Fatalf("second prune: %+v %v", plan.Temp, err)
		}
	})
	t.Run("no grace", func(t *testing.T) {
		r, old, young := setup(t)
		plan, err := pruner.Prune(ctx, r, pruner.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if plan.Temp.Removed != 4 || plan.Temp.Young != 0 {
			t.Fatalf("plan.Temp = %+v, want all 4 removed", plan.Temp)
		}
		for _, p := range append(old, young) {
			if exists(p) {
				t.Errorf("%s is still there", p)
			}
		}
	})
	t.Run("lock lost", func(t *testing.T) {
		r, old, _ := setup(t)
		lost := errors.New("lock lost")
		_, err := pruner.Prune(ctx, r, pruner.Options{Grace: time.Hour, Now: clock,
			BeforeDelete: func(context.Context) error { return lost }})
		if !errors.Is(err, lost) {
			t.Fatalf("prune = %v, want the lock error", err)
		}
		for _, p := range old {
			if !exists(p) {
				t.Errorf("%s removed although the lock was lost", p)
			}
		}
	})
}
