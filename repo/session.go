package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// LockMode is the lock a session holds.
type LockMode int

// Lock modes. NoLock sessions read the config, keys and snapshot files
// only: the index can't be loaded without a lock, and nothing but key
// files, the config and lock files can be written.
const (
	NoLock LockMode = iota
	SharedLock
	ExclusiveLock
)

func (m LockMode) String() string {
	switch m {
	case SharedLock:
		return "shared"
	case ExclusiveLock:
		return "exclusive"
	}
	return "no lock"
}

// ErrNoSession means a write or an index load was attempted outside a
// session that allows it.
var ErrNoSession = errors.New("no locked repository session")

// SessionOptions say what a session needs.
type SessionOptions struct {
	Lock LockMode
	// Index loads the index once the lock is held, then lists data/ once
	// and drops the index entries of packs that are gone (unless
	// KeepMissing), so nothing is deduplicated against, or read from, a
	// pack that isn't there. It needs a lock.
	Index bool
	// KeepMissing keeps the entries of missing packs in the index, for
	// the commands that report them (check, repair index).
	KeepMissing bool
	// Retry is how long to wait for a conflicting lock (--retry-lock).
	Retry time.Duration
	// Command names the command in the lock file.
	Command string
	// OnNotice is told of stale locks removed on the way.
	OnNotice func(string)
	// OnMissingPacks is told of the packs the index lists that are gone
	// (their entries were dropped unless KeepMissing).
	OnMissingPacks func([]pack.ID)
	// PollInterval is how often a waiting lock looks again (default 5s).
	PollInterval time.Duration
}

// Session is the one way to work on a repository: it holds the lock,
// loads the index only after the lock is held, and is cancelled when the
// lock can't be kept. While it is open, every write through the
// repository is checked against the lock: after the lock is lost nothing
// is written or deleted.
type Session struct {
	r      *Repository
	mode   LockMode
	lk     *Locker
	ctx    context.Context
	cancel context.CancelCauseFunc
	// packs is the listing of data/ taken after the lock was held.
	packs   map[pack.ID]backend.FileInfo
	missing []pack.ID
	// snapshots are the snapshot files listed before the index was
	// loaded, and those this session wrote: the only ones whose trees
	// the loaded index is sure to cover (a backup writes its index
	// before its snapshot). nil without the index.
	snapMu    sync.Mutex
	snapshots map[pack.ID]bool
	// onMissing is SessionOptions.OnMissingPacks.
	onMissing func([]pack.ID)
	closed    sync.Once
}

// Begin opens a session on r: (1) the lock, waiting up to o.Retry, (2)
// only then, with o.Index, the index and the listing of data/. The
// returned session's Context is cancelled (cause ErrLockLost) when the
// lock is lost; run all work under it and Close the session at the end.
func (r *Repository) Begin(ctx context.Context, o SessionOptions) (*Session, error) {
	if r.session != nil {
		return nil, errors.New("repository session: a session is already open on this repository")
	}
	if o.Index && o.Lock == NoLock {
		return nil, fmt.Errorf("repository session: the index can only be loaded under a lock: %w", ErrNoSession)
	}
	if o.Lock == ExclusiveLock {
		if err := r.requireRemovable(o.Command); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	s := &Session{r: r, mode: o.Lock, ctx: sctx, cancel: cancel}
	if o.Lock != NoLock {
		lk, err := r.lock(ctx, LockOptions{Exclusive: o.Lock == ExclusiveLock, Retry: o.Retry, Command: o.Command,
			OnNotice: o.OnNotice, PollInterval: o.PollInterval, onLost: func(err error) { cancel(err) }})
		if err != nil {
			cancel(nil)
			return nil, err
		}
		s.lk = lk
	}
	r.session = s
	r.be = &guarded{Backend: r.raw, s: s}
	s.onMissing = o.OnMissingPacks
	if o.Index {
		if err := s.LoadIndex(sctx, o.KeepMissing); err != nil {
			s.Close()
			return nil, s.Err(err)
		}
	}
	return s, nil
}

// LoadIndex (re)loads the index under the session's lock, then lists
// data/ and, unless keepMissing, drops the entries of packs that are
// gone. Begin does this with SessionOptions.Index; commands that must
// first repair the index files (repair index) call it themselves.
func (s *Session) LoadIndex(ctx context.Context, keepMissing bool) error {
	if s.lk == nil {
		return fmt.Errorf("load index: %w", ErrNoSession)
	}
	if err := s.lost(); err != nil {
		return err
	}
	r := s.r
	// Snapshots first, then the index: a snapshot that appears after
	// the listing (a backup finishing meanwhile) may need index files
	// loaded too late, and must not look damaged.
	snaps := map[pack.ID]bool{}
	if err := r.raw.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
		if id, err := pack.ParseID(fi.Name); err == nil {
			snaps[id] = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	s.snapMu.Lock()
	s.snapshots = snaps
	s.snapMu.Unlock()
	r.idx = index.New()
	if err := r.loadIndex(ctx); err != nil {
		return err
	}
	packs := map[pack.ID]backend.FileInfo{}
	if err := r.raw.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if id, err := pack.ParseID(fi.Name); err == nil {
			packs[id] = fi
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	s.packs = packs
	s.missing = nil
	for id := range r.idx.Packs() {
		if _, ok := packs[id]; !ok {
			s.missing = append(s.missing, id)
		}
	}
	slices.SortFunc(s.missing, func(a, b pack.ID) int { return bytes.Compare(a[:], b[:]) })
	if !keepMissing {
		r.idx.DropPacks(s.missing)
	}
	if len(s.missing) > 0 && s.onMissing != nil {
		s.onMissing(s.missing)
	}
	return nil
}

// covers reports whether the session's index covers snapshot id; ok is
// false when the session has no index.
func (s *Session) covers(id pack.ID) (covered, ok bool) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if s.snapshots == nil {
		return false, false
	}
	return s.snapshots[id], true
}

// wroteSnapshot records a snapshot this session saved.
func (s *Session) wroteSnapshot(id pack.ID) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if s.snapshots != nil {
		s.snapshots[id] = true
	}
}

// Context is cancelled when the session's lock is lost (context.Cause
// is then ErrLockLost) or the session is closed.
func (s *Session) Context() context.Context { return s.ctx }

// Repository is the repository the session works on.
func (s *Session) Repository() *Repository { return s.r }

// Mode is the lock the session holds.
func (s *Session) Mode() LockMode { return s.mode }

// Packs is the listing of data/ taken once the lock was held (nil without
// the index).
func (s *Session) Packs() map[pack.ID]backend.FileInfo { return s.packs }

// MissingPacks are the packs the index named that were not listed.
func (s *Session) MissingPacks() []pack.ID { return s.missing }

// Check reports ErrLockLost if the lock can't be trusted any more.
func (s *Session) Check(ctx context.Context) error {
	if s.lk == nil {
		return fmt.Errorf("%w: the session holds no lock", ErrNoSession)
	}
	if err := s.lk.Check(ctx); err != nil {
		s.cancel(err)
		return err
	}
	return nil
}

// lost returns the lock's error once it is lost.
func (s *Session) lost() error {
	if s.lk == nil {
		return nil
	}
	s.lk.mu.Lock()
	defer s.lk.mu.Unlock()
	return s.lk.lost
}

// Err returns err, marked as ErrLockLost when the session ended because
// its lock was lost (the work then fails with a cancelled context).
func (s *Session) Err(err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(s.ctx); errors.Is(cause, ErrLockLost) && !errors.Is(err, ErrLockLost) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// Close releases the lock and ends the session; the repository can't be
// written through any more.
func (s *Session) Close() {
	s.closed.Do(func() {
		if s.lk != nil {
			_ = s.lk.Unlock(context.WithoutCancel(s.ctx))
		}
		s.cancel(nil)
		s.r.closeWriting()
		s.r.session = nil
		s.r.be = &guarded{Backend: s.r.raw}
	})
}

// RequireLock returns an error unless r is in a session holding at least
// mode: library operations that need an exclusive lock (prune, repair,
// forget) call it first, so no caller can skip the lock.
func (r *Repository) RequireLock(mode LockMode) error {
	s := r.session
	if s == nil || s.mode < mode {
		have := NoLock
		if s != nil {
			have = s.mode
		}
		return fmt.Errorf("%w: this needs a %s lock, the session holds %s", ErrNoSession, mode, have)
	}
	if err := s.lost(); err != nil {
		return err
	}
	return nil
}

// Session returns the open session, or nil.
func (r *Repository) Session() *Session { return r.session }

// WithUploader runs fn with the blob store open for writing and flushes
// it when fn returns nil: packs first, then the index naming them, so
// after WithUploader returns nil every blob saved in fn is stored and
// indexed and a snapshot may reference it. It needs a locked session.
func (r *Repository) WithUploader(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := r.RequireLock(SharedLock); err != nil {
		return err
	}
	r.StartWriting()
	if err := fn(ctx); err != nil {
		r.closeWriting()
		return err
	}
	return r.Flush(ctx)
}

// guarded is the backend a repository writes through: without a locked
// session only key files, the config and locks may be written; once the
// lock is lost nothing is written or deleted; a snapshot is written only
// after the lock was checked right before.
type guarded struct {
	backend.Backend
	s *Session
}

// mayWrite says whether h may be written or removed now.
func (g *guarded) mayWrite(ctx context.Context, h backend.Handle) error {
	switch h.Type {
	case backend.LockFile:
		return nil
	case backend.KeyFile, backend.ConfigFile:
		if g.s == nil {
			return nil
		}
		return g.s.lost()
	}
	if g.s == nil || g.s.lk == nil {
		return fmt.Errorf("write %s: %w", h, ErrNoSession)
	}
	if err := g.s.lost(); err != nil {
		return fmt.Errorf("write %s: %w", h, err)
	}
	if h.Type == backend.SnapshotFile || h.Type == backend.IndexFile {
		if err := g.s.Check(ctx); err != nil {
			return fmt.Errorf("write %s: %w", h, err)
		}
	}
	return nil
}

func (g *guarded) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	if err := g.mayWrite(ctx, h); err != nil {
		return err
	}
	return g.Backend.Save(ctx, h, rd, size)
}

func (g *guarded) Remove(ctx context.Context, h backend.Handle) error {
	if err := g.mayWrite(ctx, h); err != nil {
		return err
	}
	return g.Backend.Remove(ctx, h)
}

func (g *guarded) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	if err := g.mayWrite(ctx, h); err != nil {
		return err
	}
	return g.Backend.Replace(ctx, h, rd, size)
}

// Create passes through to a backend that makes its container (init).
func (g *guarded) Create(ctx context.Context) error {
	if c, ok := g.Backend.(backend.Creator); ok {
		return c.Create(ctx)
	}
	return nil
}

// ListTemp passes the backend's leftover temporary files through (for
// check and prune).
func (g *guarded) ListTemp(ctx context.Context, fn func(backend.TempFile) error) error {
	return backend.ListTemp(ctx, g.Backend, fn)
}

// RemoveTemp deletes a leftover temporary file, only under a lock that
// still holds.
func (g *guarded) RemoveTemp(ctx context.Context, p string) error {
	if g.s == nil || g.s.lk == nil {
		return fmt.Errorf("remove %s: %w", p, ErrNoSession)
	}
	if err := g.s.lost(); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return backend.RemoveTemp(ctx, g.Backend, p)
}

// requireRemovable refuses command, which removes or replaces files, on
// storage that is append-only for this client.
func (r *Repository) requireRemovable(command string) error {
	if backend.AppendOnly(r.raw) {
		return &AppendOnlyError{Location: r.raw.Location(), Command: command}
	}
	return nil
}

// ErrAppendOnly means the storage takes new files only (a server that
// grants this client append-only access): a command that removes or
// replaces files can't run here.
var ErrAppendOnly = errors.New("the repository is append-only for this client")

// AppendOnlyError is ErrAppendOnly for one command, refused before it
// took a lock or changed anything.
type AppendOnlyError struct {
	Location, Command string
}

func (e *AppendOnlyError) Error() string {
	what := "this command"
	if e.Command != "" {
		what = e.Command
	}
	return fmt.Sprintf("%s: %v: %s removes or replaces files, so maintenance (forget, prune, repair, tag, key remove) runs on the server side: against the served directory, or as a user with full access",
		backend.Redact(e.Location), ErrAppendOnly, what)
}

func (e *AppendOnlyError) Unwrap() error { return ErrAppendOnly }

// RetainedUntil asks the backend below (backend.Retainer): reading when a
// file may be removed needs no lock.
func (g *guarded) RetainedUntil(ctx context.Context, h backend.Handle) (time.Time, error) {
	return backend.RetainedUntil(ctx, g.Backend, h)
}
