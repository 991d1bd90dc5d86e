package pruner_test

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// retaining is a backend whose packs are under retention until a date,
// as S3 Object Lock keeps them: Remove refuses them with RetainedError.
type retaining struct {
	backend.Backend
	mu    sync.Mutex
	until time.Time
}

func (b *retaining) Unwrap() backend.Backend { return b.Backend }

func (b *retaining) RetainedUntil(ctx context.Context, h backend.Handle) (time.Time, error) {
	if _, err := b.Stat(ctx, h); err != nil {
		return time.Time{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if h.Type != backend.PackFile || !b.until.After(time.Now()) {
		return time.Time{}, nil
	}
	return b.until, nil
}

func (b *retaining) Remove(ctx context.Context, h backend.Handle) error {
	u, err := b.RetainedUntil(ctx, h)
	if err != nil {
		return err
	}
	if !u.IsZero() {
		return &backend.RetainedError{Handle: h, Until: u}
	}
	return b.Backend.Remove(ctx, h)
}

func (b *retaining) Create(ctx context.Context) error { return b.Backend.(backend.Creator).Create(ctx) }

func packsOn(t *testing.T, be backend.Backend) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	if err := be.List(context.Background(), backend.PackFile, func(fi backend.FileInfo) error {
		got[fi.Name] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func checkClean(t *testing.T, be backend.Backend) {
	t.Helper()
	r := repotest.OpenOn(t, be, repo.SessionOptions{Index: true})
	rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true})
	if err != nil || rep.Damaged() {
		t.Fatalf("check: %v %+v", err, rep)
	}
	r.Session().Close()
}

// TestPruneKeepsRetainedPacks: packs to delete or repack that the storage
// retains are kept, in the index, as if used; the plan says until when;
// the repository checks clean; once the retention passed, prune frees
// them.
func TestPruneKeepsRetainedPacks(t *testing.T) {
	ctx := context.Background()
	r := buildRepo(t, 20000)
	r.Session().Close()
	root := r.Backend().Location()
	be := &retaining{Backend: local.New(root), until: time.Now().Add(time.Hour)}
	before := packsOn(t, be)

	open := func() *repo.Repository {
		return repotest.OpenOn(t, be, repo.SessionOptions{Lock: repo.ExclusiveLock, Index: true})
	}
	rr := open()
	dry, err := pruner.Prune(ctx, rr, pruner.Options{MaxUnused: 0, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.PacksRetained == 0 || dry.PacksDelete != 0 || dry.PacksRepack != 0 || dry.SizeFreed != 0 {
		t.Fatalf("dry run with every pack retained: %d retained, %d to delete, %d to repack, %d freed", dry.PacksRetained, dry.PacksDelete, dry.PacksRepack, dry.SizeFreed)
	}
	if !dry.RetainedUntil.Equal(be.until) || !dry.RetainedNext.Equal(be.until) {
		t.Fatalf("retained until %v / %v, want %v", dry.RetainedNext, dry.RetainedUntil, be.until)
	}
	plan, err := pruner.Prune(ctx, rr, pruner.Options{MaxUnused: 0})
	if err != nil {
		t.Fatalf("prune with retained packs: %v", err)
	}
	if plan.PacksRetained != dry.PacksRetained || plan.PacksDelete != 0 || plan.PacksRepack != 0 {
		t.Fatalf("prune: %d retained, %d deleted, %d repacked", plan.PacksRetained, plan.PacksDelete, plan.PacksRepack)
	}
	rr.Session().Close()
	if after := packsOn(t, be); len(after) != len(before) {
		t.Fatalf("%d packs before, %d after", len(before), len(after))
	}
	checkClean(t, be)

	// The retention has passed: the same prune frees the space.
	be.mu.Lock()
	be.until = time.Now().Add(-time.Second)
	be.mu.Unlock()
	rr = open()
	plan, err = pruner.Prune(ctx, rr, pruner.Options{MaxUnused: 0})
	if err != nil {
		t.Fatal(err)
	}
	if plan.PacksRetained != 0 || plan.PacksDelete+plan.PacksRepack == 0 || plan.SizeFreed == 0 {
		t.Fatalf("prune after the retention: %d retained, %d deleted, %d repacked, %d freed", plan.PacksRetained, plan.PacksDelete, plan.PacksRepack, plan.SizeFreed)
	}
	rr.Session().Close()
	checkClean(t, be)
}

// TestRetainedThroughWrappers: RetainedUntil and ErrRetained reach
// through wrappers (Retry does not retry a refusal).
func TestRetainedThroughWrappers(t *testing.T) {
	ctx := context.Background()
	be := &retaining{Backend: local.New(t.TempDir()), until: time.Now().Add(time.Hour)}
	h := backend.Handle{Type: backend.PackFile, Name: pack.Hash([]byte("x")).String()}
	if err := backend.SaveBytes(ctx, be, h, []byte("x")); err != nil {
		t.Fatal(err)
	}
	wrapped := backend.NewRetry(be)
	err := wrapped.Remove(ctx, h)
	if !errors.Is(err, backend.ErrRetained) {
		t.Fatalf("remove of a retained pack through Retry: %v", err)
	}
	if u, err := backend.RetainedUntil(ctx, wrapped, h); err != nil || !u.Equal(be.until) {
		t.Fatalf("RetainedUntil through Retry: %v %v", u, err)
	}
	if u, err := backend.RetainedUntil(ctx, local.New(t.TempDir()), h); err != nil || !u.IsZero() {
		t.Fatalf("RetainedUntil of a backend without retention: %v %v", u, err)
	}
	if _, err := backend.RetainedUntil(ctx, be, backend.Handle{Type: backend.PackFile, Name: "00"}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("RetainedUntil of a missing file: %v", err)
	}
}
