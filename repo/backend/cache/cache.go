// Package cache is a backend wrapper that keeps copies of a remote
// repository's metadata on the local disk: index files, snapshot files
// and packs of tree blobs (handles marked Metadata). Listing snapshots,
// loading the index and browsing trees then need almost no requests.
//
// Every cached file is named by the SHA-256 of its bytes, as in the
// repository, and is checked against its name before this process first
// uses it; a copy that doesn't match is dropped and fetched again. A copy
// is only ever written from bytes whose hash matched their name, so the
// cache holds nothing the repository didn't. The cache is only a cache:
// failing to write it never fails a read or a write of the repository.
package cache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/minio/sha256-simd"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Dir is the cache of one repository, in a directory named by its ID.
type Dir struct {
	dir string
	// OnWriteError, when set, is told once per Backend of a cached copy
	// that could not be written (a full disk), the error naming the
	// cache's file; the file is read from the repository instead.
	OnWriteError func(error)
}

// Open uses base (created if missing) for the cache of the repository
// with ID repoID, in base/<repoID>.
func Open(base, repoID string) (*Dir, error) {
	if id, err := pack.ParseID(repoID); err != nil || id.String() != repoID {
		return nil, fmt.Errorf("cache for repository %q: the ID is not 64 lowercase hex characters", repoID)
	}
	d := filepath.Join(base, repoID)
	for _, sub := range []string{"index", "snapshots", "data"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return nil, fmt.Errorf("cache %s: %w", d, err)
		}
	}
	// Mark the directory for backup tools (including us: --exclude-caches).
	tag := filepath.Join(base, "CACHEDIR.TAG")
	if _, err := os.Stat(tag); errors.Is(err, fs.ErrNotExist) {
		_ = os.WriteFile(tag, []byte("Signature: 8a477f597d28d172789f06886806bc55\n# cairn's cache; see https://bford.info/cachedir/\n"), 0o600)
	}
	return &Dir{dir: d}, nil
}

// Wrap returns be with the cache in front of it.
func (d *Dir) Wrap(be backend.Backend) *Backend {
	return &Backend{Backend: be, d: d, checked: map[string]bool{}}
}

// Backend serves cached files from the local disk and passes everything
// else to the backend it wraps.
type Backend struct {
	backend.Backend
	d *Dir
	// checked holds the paths whose cached copy matched its name in this
	// process, so a tree pack read blob by blob is hashed once.
	mu      sync.Mutex
	checked map[string]bool
	warned  sync.Once
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

// Create forwards to the wrapped backend.
func (b *Backend) Create(ctx context.Context) error {
	if c, ok := b.Backend.(backend.Creator); ok {
		return c.Create(ctx)
	}
	return nil
}

// cached reports whether copies of h are kept: index and snapshot files,
// and packs the repository marked as holding metadata. Their names are
// the hashes of their content.
func cached(h backend.Handle) bool {
	if _, err := pack.ParseID(h.Name); err != nil {
		return false
	}
	switch h.Type {
	case backend.IndexFile, backend.SnapshotFile:
		return true
	case backend.PackFile:
		return h.Metadata
	}
	return false
}

func (b *Backend) path(h backend.Handle) string {
	return filepath.Join(b.d.dir, filepath.FromSlash(h.Path()))
}

// Save stores h and keeps a copy of it when it is cached.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	if err := b.Backend.Save(ctx, h, rd, size); err != nil {
		return err
	}
	if cached(h) {
		b.put(h, io.NewSectionReader(rd, 0, size))
	}
	return nil
}

// Replace stores h and drops the cached copy (a replaced file was
// damaged; the next read fetches the new content).
func (b *Backend) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	b.forget(h)
	return b.Backend.Replace(ctx, h, rd, size)
}

// Remove deletes h and its cached copy.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	b.forget(h)
	return b.Backend.Remove(ctx, h)
}

// Load serves h from the cache when it is there and intact. A cached
// file that isn't there yet is fetched whole (streamed to the disk, not
// held in memory) and then served, so reading one tree blob of a pack
// caches the whole pack.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if !cached(h) {
		return b.Backend.Load(ctx, h, length, offset, fn)
	}
	f, err := b.open(h)
	if err != nil {
		if err := b.fetch(ctx, h); err != nil {
			if errors.Is(err, errNotCached) {
				// Damaged in the repository, or the cache can't be
				// written: let the caller read the repository's bytes
				// and judge them.
				return b.Backend.Load(ctx, h, length, offset, fn)
			}
			return err
		}
		if f, err = b.open(h); err != nil {
			return b.Backend.Load(ctx, h, length, offset, fn)
		}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return b.Backend.Load(ctx, h, length, offset, fn)
	}
	n := fi.Size() - offset
	if length > 0 {
		n = int64(length)
	}
	if offset < 0 || offset+n > fi.Size() {
		return fmt.Errorf("load %s: %d bytes at %d beyond the end of %d", h, n, offset, fi.Size())
	}
	return fn(io.NewSectionReader(f, offset, n))
}

// errNotCached means no intact copy of a file could be kept.
var errNotCached = errors.New("not cached")

// open returns the cached copy of h, checked against its name once per
// process; a copy that doesn't match is removed.
func (b *Backend) open(h backend.Handle) (*os.File, error) {
	p := b.path(h)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	ok := b.checked[p]
	b.mu.Unlock()
	if ok {
		return f, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil || hex.EncodeToString(sum.Sum(nil)) != h.Name {
		_ = f.Close()
		_ = os.Remove(p)
		return nil, errNotCached
	}
	b.mu.Lock()
	b.checked[p] = true
	b.mu.Unlock()
	return f, nil
}

// fetch copies all of h from the backend into the cache if its bytes
// match its name.
func (b *Backend) fetch(ctx context.Context, h backend.Handle) error {
	var kept bool
	err := b.Backend.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		var err error
		kept, err = b.store(h, rd)
		return err
	})
	var we *writeError
	if errors.As(err, &we) {
		return errNotCached
	}
	if err != nil {
		return err
	}
	if !kept {
		return errNotCached
	}
	return nil
}

// writeError is a failure to write a cached copy: it stops reading the
// repository's file (its bytes are read again, past the cache) and is
// permanent when its cause is (a full disk), so nothing retries it.
type writeError struct{ err error }

func (e *writeError) Error() string { return "cache: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// fileWriter writes to a cache file and keeps its write error apart
// from the errors of the reader being copied.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = &writeError{err: err}
		return n, w.err
	}
	return n, nil
}

// writeFailed tells OnWriteError of err (once), naming the cache's file.
func (b *Backend) writeFailed(err error) {
	if b.d.OnWriteError != nil {
		b.warned.Do(func() { b.d.OnWriteError(err) })
	}
}

// put keeps a copy of h read from rd, best effort.
func (b *Backend) put(h backend.Handle, rd io.Reader) { _, _ = b.store(h, rd) }

// store writes rd to h's cache file through a temporary file, kept only
// when the bytes hash to h's name. An error reading rd is returned, and a
// *writeError when the copy could not be written (rd is then partly
// read); the cache's other failures mean no copy.
func (b *Backend) store(h backend.Handle, rd io.Reader) (bool, error) {
	p := b.path(h)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		b.writeFailed(err)
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		b.writeFailed(err)
		return false, nil
	}
	defer os.Remove(tmp.Name())
	sum := sha256.New()
	w := &fileWriter{f: tmp}
	_, err = io.Copy(io.MultiWriter(w, sum), rd)
	cerr := tmp.Close()
	if w.err != nil {
		// Not the repository's fault: say so, and let the caller read
		// the file again without the cache.
		b.writeFailed(w.err.(*writeError).err)
		return false, w.err
	}
	if err != nil {
		return false, err
	}
	if cerr != nil {
		b.writeFailed(cerr)
		return false, nil
	}
	if hex.EncodeToString(sum.Sum(nil)) != h.Name {
		return false, nil
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		b.writeFailed(err)
		return false, nil
	}
	b.mu.Lock()
	b.checked[p] = true
	b.mu.Unlock()
	return true, nil
}

func (b *Backend) forget(h backend.Handle) {
	p := b.path(h)
	b.mu.Lock()
	delete(b.checked, p)
	b.mu.Unlock()
	_ = os.Remove(p)
}

// Prune drops cached files the repository no longer has.
func (b *Backend) Prune(ctx context.Context) error {
	for _, t := range []backend.FileType{backend.IndexFile, backend.SnapshotFile, backend.PackFile} {
		present := map[string]bool{}
		if err := b.Backend.List(ctx, t, func(fi backend.FileInfo) error {
			present[fi.Name] = true
			return nil
		}); err != nil {
			return fmt.Errorf("prune cache %s: %w", b.d.dir, err)
		}
		root := filepath.Join(b.d.dir, t.String())
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !present[d.Name()] {
				b.mu.Lock()
				delete(b.checked, p)
				b.mu.Unlock()
				_ = os.Remove(p)
			}
			return nil
		})
	}
	return nil
}
