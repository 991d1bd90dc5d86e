package backend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// TempPrefix starts the name of every file a backend writes before it
// renames the file into place (local and SFTP). List never shows such a
// file; one left by a writer that was killed is found by ListTemp.
const TempPrefix = ".tmp-"

// TempFile is a temporary file found in a repository.
type TempFile struct {
	// Path is slash-separated below the repository root, e.g.
	// "data/ab/.tmp-ab12…-123-…"; it is what RemoveTemp takes.
	Path    string
	Size    int64
	ModTime time.Time
}

// TempLister is implemented by backends that write temporary files (S3
// writes objects whole and has none).
type TempLister interface {
	// ListTemp calls fn, from the calling goroutine, for each temporary
	// file in the repository root and in the directories of every file
	// type (with their subdirectories). A file being written right now is
	// listed too: the caller judges by ModTime. An error from fn stops
	// the listing.
	ListTemp(ctx context.Context, fn func(TempFile) error) error
	// RemoveTemp deletes the temporary file at p, a path ListTemp gave.
	// A path that could not name a temporary file (see CheckTempPath) is
	// refused; a file already gone gives fs.ErrNotExist.
	RemoveTemp(ctx context.Context, p string) error
}

// ListTemp lists the temporary files of be; a backend that writes none
// (or wraps one that writes none) lists nothing.
func ListTemp(ctx context.Context, be Backend, fn func(TempFile) error) error {
	if tl, ok := be.(TempLister); ok {
		return tl.ListTemp(ctx, fn)
	}
	return nil
}

// RemoveTemp deletes a temporary file of be that ListTemp gave.
func RemoveTemp(ctx context.Context, be Backend, p string) error {
	if tl, ok := be.(TempLister); ok {
		return tl.RemoveTemp(ctx, p)
	}
	return fmt.Errorf("remove temporary file %s: %w", p, fs.ErrNotExist)
}

// FindTemp implements ListTemp for a backend that stores files in a
// directory tree: readDir lists the directory at a slash-separated path
// below the repository root (nil and no error when it does not exist).
// It looks in the root itself, each file type's directory and each shard
// directory of a sharded type.
func FindTemp(ctx context.Context, readDir func(dir string) ([]fs.DirEntry, error), fn func(TempFile) error) error {
	dirs := []string{""}
	for _, t := range AllTypes {
		dirs = append(dirs, t.String())
		if !t.Sharded() {
			continue
		}
		subs, err := readDir(t.String())
		if err != nil {
			return fmt.Errorf("list temporary files: %w", err)
		}
		for _, s := range subs {
			if s.IsDir() {
				dirs = append(dirs, t.String()+"/"+s.Name())
			}
		}
	}
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := readDir(d)
		if err != nil {
			return fmt.Errorf("list temporary files: %w", err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), TempPrefix) || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // renamed into place meanwhile
			}
			if err != nil {
				return fmt.Errorf("list temporary files: %w", err)
			}
			if err := fn(TempFile{Path: path.Join(d, e.Name()), Size: info.Size(), ModTime: info.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckTempPath reports an error unless p, a slash-separated path below
// the repository root, names a temporary file in one of the directories
// FindTemp looks in: RemoveTemp must not become a way to delete anything
// else (a pack, or a file outside the repository).
func CheckTempPath(p string) error {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	ok := strings.HasPrefix(name, TempPrefix) && path.Clean(p) == p && !strings.Contains(name, "\\")
	if ok && dir != "" {
		typ, shard, sharded := strings.Cut(dir, "/")
		ok = false
		for _, t := range AllTypes {
			if t.String() == typ && (!sharded || (t.Sharded() && len(shard) == 2 && !strings.Contains(shard, "/"))) {
				ok = true
			}
		}
	}
	if !ok {
		return fmt.Errorf("remove temporary file %q: not a temporary file of the repository", p)
	}
	return nil
}

// ListTemp forwards to the wrapped backend.
func (r *Retry) ListTemp(ctx context.Context, fn func(TempFile) error) error {
	return ListTemp(ctx, r.Backend, fn)
}

// RemoveTemp forwards to the wrapped backend.
func (r *Retry) RemoveTemp(ctx context.Context, p string) error {
	return RemoveTemp(ctx, r.Backend, p)
}

// ListTemp forwards to the wrapped backend.
func (l *Limited) ListTemp(ctx context.Context, fn func(TempFile) error) error {
	return ListTemp(ctx, l.Backend, fn)
}

// RemoveTemp forwards to the wrapped backend.
func (l *Limited) RemoveTemp(ctx context.Context, p string) error {
	return RemoveTemp(ctx, l.Backend, p)
}

// ListTemp forwards to the wrapped backend.
func (f *Faulty) ListTemp(ctx context.Context, fn func(TempFile) error) error {
	return ListTemp(ctx, f.Backend, fn)
}

// RemoveTemp forwards to the wrapped backend.
func (f *Faulty) RemoveTemp(ctx context.Context, p string) error {
	return RemoveTemp(ctx, f.Backend, p)
}
