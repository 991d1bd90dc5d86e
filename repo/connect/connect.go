// Package connect opens repositories the way every command does: the
// backend a location names (repo/backend/location), wrapped in the rate
// limits and the retrying wrapper, the key tried first that opened the
// repository last time, and the local cache for remote repositories. It
// keeps the backends it opened so they can all be closed at the end (an
// SFTP backend's ssh child ends there). It owns no flags: the CLI fills
// its Options.
package connect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/cache"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/parity"
)

// Options say how repositories are reached.
type Options struct {
	Registry *location.Registry
	// BackendOptions are the -o key=value options.
	BackendOptions []string
	Getenv         func(string) string
	// Warn prints a warning or notice line (without a newline).
	Warn func(string)
	// LimitUpload and LimitDownload are in KiB/s (0: none).
	LimitUpload, LimitDownload int
	// CacheDir is the cache's base directory ("": $XDG_CACHE_HOME/cairn
	// or ~/.cache/cairn); NoCache turns the cache off. A local repository
	// gets a cache only when CacheDir is given.
	CacheDir string
	NoCache  bool
	// Compression and Now are the opened repository's (repo.Options).
	Compression string
	Now         func() time.Time
	// WrapRaw, when set, wraps each backend before the limits and the
	// retries (the stress test's fault injection); fast says to retry
	// quickly.
	WrapRaw func(backend.Backend) (be backend.Backend, fast bool)
	// Opened keeps every backend opened, to be closed at the end (nil:
	// the caller closes what it opens).
	Opened *Opened
}

// Opened is the backends connectors opened. It is safe for concurrent
// use.
type Opened struct {
	mu  sync.Mutex
	bes []backend.Backend
}

func (o *Opened) add(be backend.Backend) {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.bes = append(o.bes, be)
	o.mu.Unlock()
}

// Close closes them all, through their wrappers.
func (o *Opened) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, be := range o.bes {
		_ = backend.Close(be)
	}
	o.bes = nil
}

// Connector opens backends and repositories.
type Connector struct {
	o Options
}

// New returns a connector.
func New(o Options) *Connector {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	return &Connector{o: o}
}

// Raw opens the backend loc names, without the wrappers.
func (c *Connector) Raw(ctx context.Context, loc string) (backend.Backend, error) {
	be, err := c.o.Registry.Open(ctx, loc, c.o.BackendOptions, location.Env{Getenv: c.o.Getenv,
		Warnf: func(format string, args ...any) { c.o.Warn(strings.TrimRight(fmt.Sprintf(format, args...), "\n")) }})
	if err != nil {
		return nil, err
	}
	c.o.Opened.add(be)
	return be, nil
}

// Backend opens the backend loc names, wrapped in the rate limits and
// the retrying wrapper every backend goes through.
func (c *Connector) Backend(ctx context.Context, loc string) (backend.Backend, error) {
	if c.o.LimitUpload < 0 || c.o.LimitDownload < 0 {
		return nil, errors.New("--limit-upload and --limit-download take KiB/s, 0 or more")
	}
	be, err := c.Raw(ctx, loc)
	if err != nil {
		return nil, err
	}
	fast := false
	if c.o.WrapRaw != nil {
		be, fast = c.o.WrapRaw(be)
	}
	rb := backend.NewRetry(backend.NewLimited(be, c.o.LimitUpload<<10, c.o.LimitDownload<<10))
	if fast {
		rb.Base, rb.Max = 5*time.Millisecond, 100*time.Millisecond
	}
	rb.OnRetry = func(op string, h backend.Handle, err error, wait time.Duration) {
		c.o.Warn(fmt.Sprintf("notice: %s %s failed (%v); retrying in %s", op, h, err, wait.Round(time.Millisecond)))
	}
	return rb, nil
}

// Open opens the repository at loc (keys and config: enough for
// snapshot files, keys and locks; the index and the data are worked on
// in a session, which takes the lock first). password is asked only
// once the repository is known to exist and not to be restic's.
func (c *Connector) Open(ctx context.Context, loc string, password func() (string, error), dryRun bool) (*repo.Repository, error) {
	be, err := c.Backend(ctx, loc)
	if err != nil {
		return nil, err
	}
	cfg := backend.Handle{Type: backend.ConfigFile}
	if _, err := be.Stat(ctx, cfg); errors.Is(err, fs.ErrNotExist) {
		// Storage that keeps versions may hold the config under a delete
		// marker someone put there: the repository opens from them.
		if earlier, _ := backend.Versions(ctx, be, cfg, repo.MaxConfigSize); len(earlier) == 0 {
			return nil, fmt.Errorf("open repository %s: %w", be.Location(), repo.ErrNoRepository)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", be.Location(), err)
	}
	hintFile := c.keyHintFile(be.Location())
	var hint string
	if hintFile != "" {
		if b, err := os.ReadFile(hintFile); err == nil && len(b) <= 128 {
			hint = strings.TrimSpace(string(b))
		}
	}
	// A restic repository looks like one of cairn's: say so rather than
	// ask for a password that can't open it.
	if err := repo.CheckFormat(ctx, be, hint); err != nil {
		return nil, err
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(ctx, be, pw, repo.Options{Compression: c.o.Compression, Now: c.o.Now, DryRun: dryRun, KeyHint: hint,
		OnParity: c.parityWarning})
	if err != nil {
		return nil, err
	}
	if r.KeyID() != hint {
		c.SaveKeyHint(be.Location(), r.KeyID())
	}
	// The KDF's 64 MiB are garbage now; collect them before the real work
	// so they are reused instead of adding to the peak.
	debug.FreeOSMemory()
	if cd := c.openCache(loc, r); cd != nil {
		if err := r.SetCache(cd); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// parityWarning says that a damaged file was read through its parity
// and what fixes it for good.
func (c *Connector) parityWarning(h backend.Handle, rep *parity.Report) {
	what := "the file"
	switch h.Type {
	case backend.PackFile:
		what = "`cairn repair packs " + h.Name[:12] + "`"
	case backend.IndexFile:
		what = "`cairn repair index`"
	case backend.SnapshotFile:
		what = "`cairn repair snapshots`"
	}
	c.o.Warn(fmt.Sprintf("warning: %s is damaged (%s); read through its parity file: run %s to fix it for good", h, rep, what))
}

// CacheBase is the cache directory ("" without a home).
func (c *Connector) CacheBase() string {
	if c.o.CacheDir != "" {
		return c.o.CacheDir
	}
	base := c.o.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home := c.o.Getenv("HOME")
		if home == "" {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "cairn")
}

// keyHintFile holds the name of the key file that opened the repository
// at loc last time, so the next open tries it first.
func (c *Connector) keyHintFile(loc string) string {
	base := c.CacheBase()
	if base == "" || c.o.NoCache {
		return ""
	}
	sum := sha256.Sum256([]byte(loc))
	return filepath.Join(base, "keys", hex.EncodeToString(sum[:16]))
}

// SaveKeyHint records that key opened the repository at loc. Only a
// speed-up: a hint that can't be saved costs more derivations next time.
func (c *Connector) SaveKeyHint(loc, key string) {
	f := c.keyHintFile(loc)
	if f == "" {
		return
	}
	if os.MkdirAll(filepath.Dir(f), 0o700) == nil {
		_ = os.WriteFile(f, []byte(key+"\n"), 0o600)
	}
}

// openCache returns the local cache for a remote repository (a local one
// is as fast as its cache), or nil. A cache that can't be made is only a
// warning.
func (c *Connector) openCache(loc string, r *repo.Repository) *cache.Dir {
	if c.o.NoCache || (!c.o.Registry.Remote(loc) && c.o.CacheDir == "") {
		return nil
	}
	dir := c.CacheBase()
	if dir == "" {
		return nil
	}
	cd, err := cache.Open(dir, r.Config().ID)
	if err != nil {
		c.o.Warn(fmt.Sprintf("warning: no cache: %v", err))
		return nil
	}
	cd.OnWriteError = func(err error) {
		c.o.Warn(fmt.Sprintf("warning: cache: %v; reading the repository past the cache", err))
	}
	return cd
}
