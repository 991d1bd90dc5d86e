package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Cache keeps copies of index files, snapshot files and tree packs on the
// local disk, so listing snapshots, browsing trees and incremental backups
// with few changes need almost no requests to a remote repository. Every
// file is named by the SHA-256 of its bytes and checked against it when
// used; a copy that doesn't match is dropped and fetched again.
type Cache struct {
	dir string
}

// OpenCache uses dir (created if missing) as the cache of the repository
// with id, in dir/<id>.
func OpenCache(dir, repoID string) (*Cache, error) {
	if id, err := pack.ParseID(repoID); err != nil || id.String() != repoID {
		return nil, fmt.Errorf("cache for repository %q: the ID is not 64 lowercase hex characters", repoID)
	}
	d := filepath.Join(dir, repoID)
	for _, sub := range []string{"index", "snapshots", "data"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return nil, fmt.Errorf("cache %s: %w", d, err)
		}
	}
	// Mark the directory for backup tools (including us: --exclude-caches).
	tag := filepath.Join(dir, "CACHEDIR.TAG")
	if _, err := os.Stat(tag); errors.Is(err, fs.ErrNotExist) {
		_ = os.WriteFile(tag, []byte("Signature: 8a477f597d28d172789f06886806bc55\n# cairn's cache; see https://bford.info/cachedir/\n"), 0o600)
	}
	return &Cache{dir: d}, nil
}

func (c *Cache) path(h backend.Handle) string {
	return filepath.Join(c.dir, filepath.FromSlash(h.Path()))
}

// get returns the cached copy of h if it is there and intact.
func (c *Cache) get(h backend.Handle) ([]byte, bool) {
	b, err := os.ReadFile(c.path(h))
	if err != nil {
		return nil, false
	}
	if pack.Hash(b).String() != h.Name {
		_ = os.Remove(c.path(h))
		return nil, false
	}
	return b, true
}

// put stores a copy of h (best effort: the cache is only a cache).
func (c *Cache) put(h backend.Handle, b []byte) {
	p := c.path(h)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}

// forget drops the copy of h.
func (c *Cache) forget(h backend.Handle) { _ = os.Remove(c.path(h)) }

// Prune drops cached files the repository no longer has.
func (c *Cache) Prune(ctx context.Context, be backend.Backend) error {
	for _, t := range []backend.FileType{backend.IndexFile, backend.SnapshotFile, backend.PackFile} {
		present := map[string]bool{}
		if err := be.List(ctx, t, func(fi backend.FileInfo) error {
			present[fi.Name] = true
			return nil
		}); err != nil {
			return err
		}
		root := filepath.Join(c.dir, t.String())
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !present[d.Name()] {
				_ = os.Remove(p)
			}
			return nil
		})
	}
	return nil
}

// SetCache makes r use c (nil: no cache).
func (r *Repository) SetCache(c *Cache) { r.cache = c }

// loadCached returns the whole file h from the cache or the backend,
// filling the cache.
func (r *Repository) loadCached(ctx context.Context, h backend.Handle) ([]byte, error) {
	if r.cache != nil {
		if b, ok := r.cache.get(h); ok {
			return b, nil
		}
	}
	b, err := r.loadLimited(ctx, h)
	if err != nil {
		return nil, err
	}
	if r.cache != nil && pack.Hash(b).String() == h.Name {
		r.cache.put(h, b)
	}
	return b, nil
}

// PruneCache drops cached copies of files the repository no longer has
// (after prune or repair).
func (r *Repository) PruneCache(ctx context.Context) error {
	if r.cache == nil {
		return nil
	}
	return r.cache.Prune(ctx, r.be)
}
