package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// recording logs the backend calls that matter for the session order.
type recording struct {
	backend.Backend
	mu  sync.Mutex
	ops []string
}

func (b *recording) log(op string, t backend.FileType) {
	b.mu.Lock()
	b.ops = append(b.ops, fmt.Sprintf("%s %s", op, t))
	b.mu.Unlock()
}

func (b *recording) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	b.log("list", t)
	return b.Backend.List(ctx, t, fn)
}

func (b *recording) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	b.log("save", h.Type)
	return b.Backend.Save(ctx, h, rd, size)
}

func (b *recording) Load(ctx context.Context, h backend.Handle, n int, off int64, fn func(io.Reader) error) error {
	b.log("load", h.Type)
	return b.Backend.Load(ctx, h, n, off, fn)
}

func indexOf(ops []string, op string) int {
	for i, o := range ops {
		if o == op {
			return i
		}
	}
	return -1
}

// TestSessionLocksBeforeIndex: the lock file is written before the index
// is listed or read, and data/ is listed after the index is loaded.
func TestSessionLocksBeforeIndex(t *testing.T) {
	ctx := context.Background()
	r0, dir := repotest.New(t, repo.InitOptions{})
	saveBlob(t, r0, []byte("some data"))
	r0.Session().Close()
	rec := &recording{Backend: local.New(dir)}
	r, err := repo.Open(ctx, rec, repotest.Password, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.ops = nil
	rec.mu.Unlock()
	s, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.SharedLock, Index: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lock, list, load, packs := indexOf(rec.ops, "save "+backend.LockFile.String()), indexOf(rec.ops, "list "+backend.IndexFile.String()),
		indexOf(rec.ops, "load "+backend.IndexFile.String()), indexOf(rec.ops, "list "+backend.PackFile.String())
	if lock < 0 || list < 0 || load < 0 || packs < 0 || !(lock < list && list < load && load < packs) {
		t.Fatalf("session order %v: want the lock saved, then the index listed and loaded, then data/ listed", rec.ops)
	}
}

// saveBlob stores b in r (which has a session) and flushes.
func saveBlob(t *testing.T, r *repo.Repository, b []byte) pack.ID {
	t.Helper()
	var id pack.ID
	err := r.WithUploader(context.Background(), func(ctx context.Context) error {
		var err error
		id, _, _, err = r.NewSaver().Save(ctx, pack.DataBlob, b, pack.Generation{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestWaitingSessionSeesWorkDoneMeanwhile is the library side of defects
// 1 and 2: a session that waits for a lock (--retry-lock) loads the index
// only once it holds the lock, so it sees what the holder wrote while it
// waited.
func TestWaitingSessionSeesWorkDoneMeanwhile(t *testing.T) {
	ctx := context.Background()
	holder, dir := repotest.New(t, repo.InitOptions{})
	waiter := repotest.OpenBare(t, dir, repo.Options{})
	type begun struct {
		s   *repo.Session
		err error
	}
	done := make(chan begun, 1)
	go func() {
		s, err := waiter.Begin(ctx, repo.SessionOptions{Lock: repo.ExclusiveLock, Index: true, Retry: 10 * time.Second,
			PollInterval: 20 * time.Millisecond})
		done <- begun{s, err}
	}()
	time.Sleep(150 * time.Millisecond)
	id := saveBlob(t, holder, []byte("written while the other waited"))
	holder.Session().Close()
	b := <-done
	if b.err != nil {
		t.Fatal(b.err)
	}
	defer b.s.Close()
	if !waiter.Index().Has(pack.BlobHandle{ID: id, Type: pack.DataBlob}, pack.Generation{}) {
		t.Fatal("the waiting session's index lacks the blob the lock holder wrote while it waited")
	}
}

// TestNoSessionNoIndexNoWrites: without a locked session the index can't
// be loaded and nothing but keys, config and locks can be written.
func TestNoSessionNoIndexNoWrites(t *testing.T) {
	ctx := context.Background()
	r0, dir := repotest.New(t, repo.InitOptions{})
	r0.Session().Close()
	r := repotest.OpenBare(t, dir, repo.Options{})
	if _, err := r.Begin(ctx, repo.SessionOptions{Index: true}); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("index without a lock: %v, want ErrNoSession", err)
	}
	if _, err := r.SaveUnpacked(ctx, backend.SnapshotFile, []byte("{}")); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("snapshot write without a session: %v, want ErrNoSession", err)
	}
	s, err := r.Begin(ctx, repo.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadIndex(ctx, false); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("index in a session without a lock: %v, want ErrNoSession", err)
	}
	if err := r.RemoveFile(ctx, backend.Handle{Type: backend.SnapshotFile, Name: "00"}); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("delete without a lock: %v, want ErrNoSession", err)
	}
	if err := r.RequireLock(repo.SharedLock); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("RequireLock without a lock: %v", err)
	}
	s.Close()
	s, err = r.Begin(ctx, repo.SessionOptions{Lock: repo.SharedLock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := r.RequireLock(repo.ExclusiveLock); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("exclusive work in a shared session: %v, want ErrNoSession", err)
	}
}

// TestLostLockStopsWrites: once the lock is removed (cairn unlock
// --remove-all elsewhere), the session's context is cancelled with
// ErrLockLost and no snapshot, index or pack is written.
func TestLostLockStopsWrites(t *testing.T) {
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{})
	s := r.Session()
	locks, err := r.Locks().List(ctx)
	if err != nil || len(locks) != 1 {
		t.Fatalf("locks %v %v", locks, err)
	}
	if err := r.Locks().Remove(ctx, locks[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SaveUnpacked(ctx, backend.SnapshotFile, []byte("{}")); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("snapshot write after the lock was removed: %v, want ErrLockLost", err)
	}
	if !errors.Is(context.Cause(s.Context()), repo.ErrLockLost) {
		t.Fatalf("session context: %v, want cancelled by ErrLockLost", context.Cause(s.Context()))
	}
	err = r.WithUploader(ctx, func(ctx context.Context) error {
		_, _, _, err := r.NewSaver().Save(ctx, pack.DataBlob, bytes.Repeat([]byte("x"), 100), pack.Generation{})
		return err
	})
	if !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("upload after the lock was lost: %v, want ErrLockLost", err)
	}
}

// TestSessionListsSnapshotsItsIndexCovers: a backup that finishes after a
// session loaded its index (both hold shared locks) writes an index the
// session didn't load; its snapshot must not be listed by the session, or
// check would call its trees missing. Snapshots the session writes are.
func TestSessionListsSnapshotsItsIndexCovers(t *testing.T) {
	ctx := context.Background()
	r1, dir := repotest.New(t, repo.InitOptions{})
	early, err := r1.SaveUnpacked(ctx, backend.SnapshotFile, []byte(`{"early":true}`))
	if err != nil {
		t.Fatal(err)
	}
	r2 := repotest.Open(t, dir) // its index is loaded now
	saveBlob(t, r1, []byte("data of a backup that finishes later"))
	late, err := r1.SaveUnpacked(ctx, backend.SnapshotFile, []byte(`{"late":true}`))
	if err != nil {
		t.Fatal(err)
	}
	own, err := r2.SaveUnpacked(ctx, backend.SnapshotFile, []byte(`{"own":true}`))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r2.List(ctx, backend.SnapshotFile)
	if err != nil {
		t.Fatal(err)
	}
	got := map[pack.ID]bool{}
	for _, id := range ids {
		got[id] = true
	}
	if !got[early] || got[late] || !got[own] || len(ids) != 2 {
		t.Fatalf("session lists %v: want the early snapshot and its own, not the later one", ids)
	}
	// A new session sees them all.
	r2.Session().Close()
	repotest.Begin(t, r2)
	if ids, err := r2.List(ctx, backend.SnapshotFile); err != nil || len(ids) != 3 {
		t.Fatalf("a new session lists %v (%v)", ids, err)
	}
}
