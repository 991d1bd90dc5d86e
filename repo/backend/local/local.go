// Package local stores a repository in a directory of the local filesystem.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-backup/cairn/repo/backend"
)

// Backend is a repository in a local directory.
type Backend struct {
	root string
}

// New returns a backend rooted at dir. The directory need not exist yet.
func New(dir string) *Backend { return &Backend{root: filepath.Clean(dir)} }

// Location returns the directory.
func (b *Backend) Location() string { return b.root }

func (b *Backend) path(h backend.Handle) string {
	return filepath.Join(b.root, filepath.FromSlash(h.Path()))
}

// Create makes the repository directories. It fails if a config exists.
func (b *Backend) Create(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(b.root, "config")); err == nil {
		return fmt.Errorf("create repository %s: %w", b.root, fs.ErrExist)
	}
	dirs := []string{b.root}
	for _, t := range backend.AllTypes {
		dirs = append(dirs, filepath.Join(b.root, t.String()))
	}
	for i := 0; i < 256; i++ {
		dirs = append(dirs, filepath.Join(b.root, "data", fmt.Sprintf("%02x", i)))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create repository %s: %w", b.root, err)
		}
	}
	return nil
}

// Save writes to a temporary file, syncs it, renames it into place and syncs
// the directory, so a crash leaves either the whole file or none.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	return b.save(ctx, h, rd, size, false)
}

// Replace is Save that may replace an existing file (rename is atomic).
func (b *Backend) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	return b.save(ctx, h, rd, size, true)
}

func (b *Backend) save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64, replace bool) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := b.path(h)
	dir := filepath.Dir(final)
	f, err := os.CreateTemp(dir, backend.TempPrefix+filepath.Base(final)+"-")
	madeDir := false
	if errors.Is(err, fs.ErrNotExist) {
		if mkErr := os.MkdirAll(dir, 0o700); mkErr != nil {
			return fmt.Errorf("save %s: %w", h, mkErr)
		}
		madeDir = true
		f, err = os.CreateTemp(dir, backend.TempPrefix+filepath.Base(final)+"-")
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	var src io.Reader = io.NewSectionReader(rd, 0, size)
	if file, ok := rd.(*os.File); ok {
		// Lets the kernel copy file to file (copy_file_range).
		if _, err = file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("save %s: %w", h, err)
		}
		src = io.LimitReader(file, size)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if n != size {
		err = fmt.Errorf("save %s: wrote %d of %d bytes: %w", h, n, size, io.ErrUnexpectedEOF)
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("save %s: sync: %w", h, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if replace {
		if err = os.Rename(tmp, final); err != nil {
			return fmt.Errorf("save %s: %w", h, err)
		}
	} else {
		// A hard link fails if the name exists, atomically: two saves of
		// one name at once can't both succeed (a rename would let the
		// second replace the first).
		if err = os.Link(tmp, final); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("save %s: %w", h, fs.ErrExist)
			}
			// A file system without hard links (FAT, some network
			// file systems): look, then rename.
			if _, statErr := os.Lstat(final); statErr == nil {
				err = fmt.Errorf("save %s: %w", h, fs.ErrExist)
				return err
			}
			if err = os.Rename(tmp, final); err != nil {
				return fmt.Errorf("save %s: %w", h, err)
			}
		} else {
			_ = os.Remove(tmp)
		}
	}
	// Files are written once; make them read-only as restic does.
	_ = os.Chmod(final, 0o400)
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("save %s: sync dir: %w", h, err)
	}
	// The entries of directories made here (parity/ and parity/ab, by the
	// first parity file) must be durable too.
	for d := dir; madeDir && d != b.root && len(d) > len(b.root); {
		d = filepath.Dir(d)
		if err = syncDir(d); err != nil {
			return fmt.Errorf("save %s: sync dir: %w", h, err)
		}
	}
	return nil
}

// Load reads a range of h.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(b.path(h))
	if err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	defer f.Close()
	r, err := backend.RangeOf(f, length, offset)
	if err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	if err := fn(r); err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	return nil
}

// Stat returns the size of h.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	st, err := os.Stat(b.path(h))
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, err)
	}
	return backend.FileInfo{Name: h.Name, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Remove deletes h.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	p := b.path(h)
	_ = os.Chmod(p, 0o600)
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	return nil
}

// List calls fn for each file of type t.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	dir := filepath.Join(b.root, t.String())
	if t.Sharded() {
		subs, err := os.ReadDir(dir)
		if t == backend.ParityFile && errors.Is(err, fs.ErrNotExist) {
			return nil // made by the first parity file
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", t, err)
		}
		for _, s := range subs {
			if !s.IsDir() {
				continue
			}
			if err := b.listDir(ctx, filepath.Join(dir, s.Name()), fn); err != nil {
				return err
			}
		}
		return nil
	}
	return b.listDir(ctx, dir, fn)
}

func (b *Backend) listDir(ctx context.Context, dir string, fn func(backend.FileInfo) error) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	defer f.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), backend.TempPrefix) || !e.Type().IsRegular() {
				continue
			}
			info, ierr := e.Info()
			if ierr != nil {
				if errors.Is(ierr, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("list %s: %w", dir, ierr)
			}
			if err := fn(backend.FileInfo{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime()}); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
	}
}

// ListTemp calls fn for each temporary file a save left behind (or is
// writing right now).
func (b *Backend) ListTemp(ctx context.Context, fn func(backend.TempFile) error) error {
	return backend.FindTemp(ctx, func(dir string) ([]fs.DirEntry, error) {
		ents, err := os.ReadDir(filepath.Join(b.root, filepath.FromSlash(dir)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return ents, err
	}, fn)
}

// RemoveTemp deletes a temporary file ListTemp gave.
func (b *Backend) RemoveTemp(ctx context.Context, p string) error {
	if err := backend.CheckTempPath(p); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(b.root, filepath.FromSlash(p))); err != nil {
		return fmt.Errorf("remove temporary file %s: %w", p, err)
	}
	return nil
}

// Close does nothing.
func (b *Backend) Close() error { return nil }
