package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Lock timing (DESIGN.md section 3).
const (
	LockRefreshInterval = 5 * time.Minute
	LockStaleAfter      = 30 * time.Minute
)

var (
	// ErrLocked means a conflicting lock is held; errors.As to *LockedError
	// for the holder.
	ErrLocked = errors.New("repository is locked")
	// ErrLockLost means this command's lock could not be kept fresh (or
	// was removed): it must stop without writing a snapshot.
	ErrLockLost = errors.New("repository lock lost")
)

// LockInfo is the sealed content of a lock file.
type LockInfo struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
	Command   string    `json:"command,omitempty"`
	ID        pack.ID   `json:"-"`
	// Unreadable, when set, says why the file could not be read as a
	// lock (junk, planted without the key, too large): such a lock has
	// only File and Time, its storage time, and counts as a shared lock
	// until it is stale.
	Unreadable string `json:"-"`
	// File is the lock's name in locks/.
	File string `json:"-"`
}

// MaxLockSize bounds a lock file; a larger one is never read.
const MaxLockSize = 64 << 10

func (l LockInfo) String() string {
	if l.Unreadable != "" {
		return fmt.Sprintf("unreadable lock file %q (%s), stored %s", l.File, l.Unreadable, l.Time.UTC().Format(time.RFC3339))
	}
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("%s lock %s by %s@%s (pid %d, %s)", kind, l.ID.Short(), l.Username, l.Hostname, l.PID, l.Command)
}

// LockedError names the lock that is in the way.
type LockedError struct {
	Holder LockInfo
	Age    time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v: %s, created %s ago", ErrLocked, e.Holder, e.Age.Round(time.Second))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Stale reports whether l no longer protects anything: not refreshed for
// LockStaleAfter, or held on this host by a process that is gone.
func (l LockInfo) Stale(now time.Time, host string) bool {
	if now.Sub(l.Time) > LockStaleAfter {
		return true
	}
	return l.Unreadable == "" && l.Hostname == host && !processExists(l.PID)
}

// List returns the locks of the repository. A file in locks/ that is not
// a lock this repository's key wrote (a name that is not an ID, a file
// too large, one that fails its hash or authentication) is returned too,
// with Unreadable set: anyone who can write to the storage can plant one,
// and it must neither block every command as damage nor escape `unlock
// --remove-all`.
func (ls *Locks) List(ctx context.Context) ([]LockInfo, error) {
	r := ls.r
	var files []backend.FileInfo
	if err := r.be.List(ctx, backend.LockFile, func(fi backend.FileInfo) error {
		files = append(files, fi)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	var out []LockInfo
	for _, fi := range files {
		bad := LockInfo{File: fi.Name, Time: fi.ModTime}
		id, err := pack.ParseID(fi.Name)
		if err != nil || id.String() != fi.Name {
			bad.Unreadable = "not named by an ID"
			out = append(out, bad)
			continue
		}
		bad.ID = id
		if fi.Size > MaxLockSize {
			bad.Unreadable = fmt.Sprintf("%d bytes, more than a lock's %d", fi.Size, MaxLockSize)
			out = append(out, bad)
			continue
		}
		b, err := r.loadLock(ctx, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if errors.Is(err, ErrDamaged) {
			bad.Unreadable = err.Error()
			out = append(out, bad)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", id.Short(), err)
		}
		var l LockInfo
		if err := json.Unmarshal(b, &l); err != nil {
			bad.Unreadable = "not a lock: " + err.Error()
			out = append(out, bad)
			continue
		}
		l.ID, l.File = id, fi.Name
		out = append(out, l)
	}
	return out, nil
}

// loadLock reads lock id, at most MaxLockSize bytes of it, and opens it.
func (r *Repository) loadLock(ctx context.Context, id pack.ID) ([]byte, error) {
	h := backend.Handle{Type: backend.LockFile, Name: id.String()}
	var sealed []byte
	err := r.be.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		var err error
		sealed, err = io.ReadAll(io.LimitReader(rd, MaxLockSize+1))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(sealed) > MaxLockSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrDamaged, MaxLockSize)
	}
	if pack.Hash(sealed) != id {
		return nil, fmt.Errorf("%w: content does not match its name", ErrDamaged)
	}
	plain, err := r.key.Open(nil, sealed, unpackedAD(backend.LockFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return plain, nil
}

// Unlock removes the locks of other processes (`cairn unlock`): the stale
// ones (see LockInfo.Stale, for host), or all of them; removed or kept
// is called for each lock as it is handled. On storage that is append-only for
// this client it is refused before anything is tried: the server removes
// only a client's own locks.
func (ls *Locks) Unlock(ctx context.Context, all bool, host string, removed, kept func(LockInfo)) error {
	if err := ls.r.requireRemovable("unlock"); err != nil {
		return err
	}
	locks, err := ls.List(ctx)
	if err != nil {
		return err
	}
	now := ls.r.Now()
	for _, l := range locks {
		if !all && !l.Stale(now, host) {
			kept(l)
			continue
		}
		if err := ls.Remove(ctx, l); err != nil {
			return err
		}
		removed(l)
	}
	return nil
}

// Remove deletes lock l (a lock Locks returned, readable or not).
func (ls *Locks) Remove(ctx context.Context, l LockInfo) error {
	r := ls.r
	name := l.File
	if name == "" {
		name = l.ID.String()
	}
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return fmt.Errorf("remove lock %q: not a file name", name)
	}
	err := r.be.Remove(ctx, backend.Handle{Type: backend.LockFile, Name: name})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// LockOptions configure Lock.
type LockOptions struct {
	Exclusive bool
	// Retry is how long to wait for a conflicting lock to go away.
	Retry time.Duration
	// Command names the command in the lock, for whoever finds it.
	Command string
	// OnNotice is told of stale locks removed on the way.
	OnNotice func(string)
	// PollInterval is how often a waiting Lock looks again (default 5s).
	PollInterval time.Duration
	// onLost is called once when the lock is lost (the session cancels
	// its context).
	onLost func(error)
}

// Locker is a held lock, refreshed in the background until Unlock.
type Locker struct {
	r       *Repository
	info    LockInfo
	mu      sync.Mutex
	id      pack.ID
	lastRef time.Time
	lost    error
	onLost  func(error)
	stop    chan struct{}
	done    chan struct{}
}

func (r *Repository) newLockInfo(o LockOptions) LockInfo {
	host, _ := os.Hostname()
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return LockInfo{Time: r.Now(), Exclusive: o.Exclusive, Hostname: host, Username: name, PID: os.Getpid(), Command: o.Command}
}

// conflict returns a lock that keeps o from being taken; stale locks of
// this host whose process is gone are removed (told to OnNotice).
func (r *Repository) conflict(ctx context.Context, o LockOptions, self pack.ID) (*LockedError, error) {
	locks, err := r.Locks().List(ctx)
	if err != nil {
		return nil, err
	}
	now := r.Now()
	host, _ := os.Hostname()
	for _, l := range locks {
		if l.ID == self {
			continue
		}
		if l.Stale(now, host) {
			if l.Unreadable == "" && l.Hostname == host && !processExists(l.PID) {
				if err := r.Locks().Remove(ctx, l); err == nil && o.OnNotice != nil {
					o.OnNotice(fmt.Sprintf("removed stale %s: its process is gone", l))
				}
			}
			continue
		}
		if l.Unreadable != "" {
			if o.OnNotice != nil {
				o.OnNotice(fmt.Sprintf("%s counts as a shared lock until it is %s old (`cairn unlock --remove-all` removes it)", l, LockStaleAfter))
			}
			if o.Exclusive {
				return &LockedError{Holder: l, Age: now.Sub(l.Time)}, nil
			}
			continue
		}
		if o.Exclusive || l.Exclusive {
			return &LockedError{Holder: l, Age: now.Sub(l.Time)}, nil
		}
	}
	return nil, nil
}

// lock takes a shared or exclusive lock, waiting up to o.Retry for
// conflicting locks to go away. The lock is refreshed every
// LockRefreshInterval until Unlock. Only Begin takes locks, so the index
// is never loaded before one is held.
func (r *Repository) lock(ctx context.Context, o LockOptions) (*Locker, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	deadline := time.Now().Add(o.Retry)
	for {
		lk, err := r.tryLock(ctx, o)
		var le *LockedError
		if err == nil || !errors.As(err, &le) || time.Now().After(deadline) {
			return lk, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(o.PollInterval, time.Until(deadline)+time.Millisecond)):
		}
	}
}

func (r *Repository) tryLock(ctx context.Context, o LockOptions) (*Locker, error) {
	if le, err := r.conflict(ctx, o, pack.ID{}); err != nil || le != nil {
		if le != nil {
			return nil, le
		}
		return nil, err
	}
	info := r.newLockInfo(o)
	id, err := r.saveLock(ctx, info)
	if err != nil {
		return nil, err
	}
	// Another process may have locked at the same moment: look again,
	// and back off if so.
	if le, err := r.conflict(ctx, o, id); err != nil || le != nil {
		_ = r.Locks().Remove(ctx, LockInfo{ID: id})
		if le != nil {
			return nil, le
		}
		return nil, err
	}
	lk := &Locker{r: r, info: info, id: id, lastRef: info.Time, onLost: o.onLost, stop: make(chan struct{}), done: make(chan struct{})}
	go lk.refresher()
	return lk, nil
}

func (r *Repository) saveLock(ctx context.Context, l LockInfo) (pack.ID, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return pack.ID{}, err
	}
	id, err := r.SaveUnpacked(ctx, backend.LockFile, b)
	if err != nil {
		return pack.ID{}, fmt.Errorf("save lock: %w", err)
	}
	return id, nil
}

func (lk *Locker) refresher() {
	defer close(lk.done)
	wait := LockRefreshInterval
	for {
		t := time.NewTimer(wait)
		select {
		case <-lk.stop:
			t.Stop()
			return
		case <-t.C:
		}
		wait = LockRefreshInterval
		if err := lk.Refresh(context.Background()); err != nil {
			if errors.Is(err, ErrLockLost) {
				return
			}
			// Transient (the storage is unreachable): try again soon;
			// Refresh declares the lock lost once it is too old.
			wait = lockRetryInterval
		}
	}
}

// lockRetryInterval is how soon a failed refresh is tried again.
const lockRetryInterval = 30 * time.Second

// setLost marks the lock lost (lk.mu held) and tells the session.
func (lk *Locker) setLost(err error) error {
	if lk.lost == nil {
		lk.lost = err
		if lk.onLost != nil {
			lk.onLost(err)
		}
	}
	return lk.lost
}

// Refresh replaces the lock file with a fresh one. It fails, and the lock
// counts as lost from then on, if the lock went stale before the refresh
// (the machine slept, say) or was removed by someone else.
func (lk *Locker) Refresh(ctx context.Context) error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.lost != nil {
		return lk.lost
	}
	r := lk.r
	now := r.Now()
	// Others treat a lock as stale after LockStaleAfter; stop trusting
	// it a refresh interval before that.
	if now.Sub(lk.lastRef) >= LockStaleAfter-LockRefreshInterval {
		return lk.setLost(fmt.Errorf("%w: not refreshed for %s", ErrLockLost, now.Sub(lk.lastRef).Round(time.Second)))
	}
	if _, err := r.be.Stat(ctx, backend.Handle{Type: backend.LockFile, Name: lk.id.String()}); errors.Is(err, fs.ErrNotExist) {
		return lk.setLost(fmt.Errorf("%w: lock %s was removed (by `cairn unlock`?)", ErrLockLost, lk.id.Short()))
	}
	info := lk.info
	info.Time = now
	id, err := r.saveLock(ctx, info)
	if err != nil {
		return err // transient: the next refresh or Check decides
	}
	_ = r.Locks().Remove(ctx, LockInfo{ID: lk.id})
	lk.id, lk.lastRef, lk.info = id, now, info
	return nil
}

// Check reports ErrLockLost if the lock can no longer be trusted: call it
// right before writing something that relies on it (a snapshot).
func (lk *Locker) Check(ctx context.Context) error {
	lk.mu.Lock()
	lost, last, id := lk.lost, lk.lastRef, lk.id
	lk.mu.Unlock()
	if lost != nil {
		return lost
	}
	// Refresh now if a refresh is due, which also checks the file.
	if lk.r.Now().Sub(last) >= LockRefreshInterval {
		return lk.Refresh(ctx)
	}
	if _, err := lk.r.be.Stat(ctx, backend.Handle{Type: backend.LockFile, Name: id.String()}); errors.Is(err, fs.ErrNotExist) {
		lk.mu.Lock()
		defer lk.mu.Unlock()
		return lk.setLost(fmt.Errorf("%w: lock %s was removed (by `cairn unlock`?)", ErrLockLost, id.Short()))
	}
	return nil
}

// Unlock stops refreshing and removes the lock file.
func (lk *Locker) Unlock(ctx context.Context) error {
	close(lk.stop)
	<-lk.done
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.r.Locks().Remove(ctx, LockInfo{ID: lk.id})
}
