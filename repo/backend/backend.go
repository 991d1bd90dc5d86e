// Package backend defines the storage interface of a repository, its errors
// and wrappers. Implementations live in subpackages (local, …); the shared
// conformance suite is in backendtest.
package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// FileType is a kind of repository file; it decides the directory.
type FileType uint8

// File types.
const (
	ConfigFile FileType = iota + 1
	KeyFile
	PackFile
	IndexFile
	SnapshotFile
	LockFile
	ParityFile
)

func (t FileType) String() string {
	switch t {
	case ConfigFile:
		return "config"
	case KeyFile:
		return "keys"
	case PackFile:
		return "data"
	case IndexFile:
		return "index"
	case SnapshotFile:
		return "snapshots"
	case LockFile:
		return "locks"
	case ParityFile:
		return "parity"
	}
	return fmt.Sprintf("filetype(%d)", uint8(t))
}

// Sharded reports whether files of type t are spread over 256
// subdirectories by the first two characters of their names.
func (t FileType) Sharded() bool { return t == PackFile || t == ParityFile }

// AllTypes lists the file types that live in directories.
var AllTypes = []FileType{KeyFile, PackFile, IndexFile, SnapshotFile, LockFile, ParityFile}

// Handle names a file in a repository.
type Handle struct {
	Type FileType
	Name string // empty for the config file
	// Metadata marks a pack of tree blobs: a cache keeps such packs
	// whole. It doesn't change which file the handle names.
	Metadata bool
}

func (h Handle) String() string {
	if h.Type == ConfigFile {
		return "config"
	}
	return h.Type.String() + "/" + h.Name
}

// Path returns the slash-separated path of h below the repository root.
// Packs and parity files are spread over 256 directories by the first two
// characters.
func (h Handle) Path() string {
	switch {
	case h.Type == ConfigFile:
		return "config"
	case h.Type.Sharded() && len(h.Name) >= 2:
		return h.Type.String() + "/" + h.Name[:2] + "/" + h.Name
	}
	return h.Type.String() + "/" + h.Name
}

// FileInfo describes a listed file.
type FileInfo struct {
	Name string
	Size int64
	// ModTime is when the file was written (zero if the backend can't say).
	ModTime time.Time
}

// FileInfoOf is a listed file with its type.
type FileInfoOf struct {
	Type FileType
	FileInfo
}

// Backend stores repository files. Implementations are safe for concurrent
// use. A missing file is reported with an error for which
// errors.Is(err, fs.ErrNotExist) holds.
type Backend interface {
	// Location returns a human-readable location, without secrets.
	Location() string
	// Save stores size bytes read from rd under h atomically: readers
	// see all of it or nothing. rd may be read more than once (retries).
	// Saving an existing name fails.
	Save(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error
	// Replace stores size bytes read from rd under h atomically, replacing
	// the file if it exists: readers see the old or the new content, never
	// a mix or nothing. Only the config and files rebuilt to their exact
	// named content are replaced.
	Replace(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error
	// Load calls fn with a reader of length bytes from offset (length 0:
	// to the end). fn may be called again if the read is retried, and must
	// not keep the reader.
	Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error
	// Stat returns the size of h.
	Stat(ctx context.Context, h Handle) (FileInfo, error)
	// Remove deletes h.
	Remove(ctx context.Context, h Handle) error
	// List calls fn for each file of type t, in no particular order, from
	// the calling goroutine. An error from fn stops the listing.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error
	// Close releases resources.
	Close() error
}

// Creator is implemented by backends that must create their structure
// before the first Save (e.g. directories).
type Creator interface {
	Create(ctx context.Context) error
}

// SaveBytes stores data under h.
func SaveBytes(ctx context.Context, b Backend, h Handle, data []byte) error {
	return b.Save(ctx, h, bytes.NewReader(data), int64(len(data)))
}

// ErrTooLarge means a file is larger than its type may be; it was not read.
var ErrTooLarge = errors.New("file too large")

// LoadLimited reads all of h, which may hold at most max bytes. At most
// 4 MiB are read before the size is known: a file that is longer is
// stat'ed, and one larger than max gives ErrTooLarge unread, so a planted
// giant costs neither memory nor the time to read it.
func LoadLimited(ctx context.Context, b Backend, h Handle, max int64) ([]byte, error) {
	return LoadLimitedInto(ctx, b, h, max, nil)
}

// LoadLimitedInto is LoadLimited reading into buf's storage when it is
// large enough (a caller reading file after file reuses one buffer).
func LoadLimitedInto(ctx context.Context, b Backend, h Handle, max int64, buf []byte) ([]byte, error) {
	const probe = 4 << 20
	var out []byte
	tooLarge := fmt.Errorf("load %s: %w: more than %d bytes", h, ErrTooLarge, max)
	err := b.Load(ctx, h, 0, 0, func(r io.Reader) (err error) {
		first := min(max, probe)
		var head []byte
		var n int
		if int64(cap(buf)) >= first+1 {
			head = buf[:first+1]
			n, err = io.ReadFull(r, head)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				out = head[:n]
				return nil
			}
			if err != nil {
				return err
			}
		} else {
			// Without a buffer, most files are small: grow as they are read.
			head, err = io.ReadAll(io.LimitReader(r, first+1))
			if err != nil {
				return err
			}
			n = len(head)
			if int64(n) <= first {
				out = head
				return nil
			}
		}
		if max <= probe {
			return tooLarge
		}
		fi, err := b.Stat(ctx, h)
		if err != nil {
			return err
		}
		if fi.Size > max {
			return tooLarge
		}
		// The storage said how long the file is; it is still read no
		// further than max+1 bytes, whatever it said.
		full := head
		if int64(cap(head)) >= fi.Size+1 {
			full = head[:fi.Size+1]
		} else {
			full = make([]byte, fi.Size+1)
			copy(full, head)
		}
		m := 0
		if int64(len(full)) > int64(n) {
			m, err = io.ReadFull(r, full[n:])
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				out = full[:n+m]
				return nil
			}
			if err != nil {
				return err
			}
		}
		// Longer than the storage said.
		rest, err := io.ReadAll(io.LimitReader(r, max+1-int64(n+m)))
		if err != nil {
			return err
		}
		full = append(full[:n+m], rest...)
		if int64(len(full)) > max {
			return tooLarge
		}
		out = full
		return nil
	})
	return out, err
}

// LoadAll reads the whole file h.
func LoadAll(ctx context.Context, b Backend, h Handle) ([]byte, error) {
	var buf []byte
	err := b.Load(ctx, h, 0, 0, func(r io.Reader) error {
		var err error
		buf, err = io.ReadAll(r)
		return err
	})
	return buf, err
}

// Close closes be, or the first backend below its wrappers (those with an
// Unwrap method) that has a Close method: the SFTP backend ends its ssh
// child there. A backend with nothing to close gives nil.
func Close(be Backend) error {
	for be != nil {
		if c, ok := be.(io.Closer); ok {
			return c.Close()
		}
		u, ok := be.(interface{ Unwrap() Backend })
		if !ok {
			return nil
		}
		be = u.Unwrap()
	}
	return nil
}

// AppendOnly reports whether be, or any backend below its wrappers (those
// with an Unwrap method), says its storage only takes new files (a REST
// server that sent Cairn-Append-Only: true): removing or replacing files
// will be refused.
func AppendOnly(be Backend) bool {
	for be != nil {
		if a, ok := be.(interface{ AppendOnly() bool }); ok && a.AppendOnly() {
			return true
		}
		u, ok := be.(interface{ Unwrap() Backend })
		if !ok {
			return false
		}
		be = u.Unwrap()
	}
	return false
}

// create forwards Create to be when it is a Creator; wrappers use it so
// wrapping a backend doesn't hide its Create.
func create(ctx context.Context, be Backend) error {
	if c, ok := be.(Creator); ok {
		return c.Create(ctx)
	}
	return nil
}

// Create forwards to the wrapped backend.
func (r *Retry) Create(ctx context.Context) error { return create(ctx, r.Backend) }

// Create forwards to the wrapped backend.
func (l *Limited) Create(ctx context.Context) error { return create(ctx, l.Backend) }

// Create forwards to the wrapped backend.
func (f *Faulty) Create(ctx context.Context) error { return create(ctx, f.Backend) }

// File is what a file-based backend (local, SFTP) opens for Load.
type File interface {
	io.Reader
	io.ReaderAt
	Stat() (fs.FileInfo, error)
}

// RangeOf returns the reader Load hands to its callback for an opened
// file: the whole file, or length bytes at offset (length 0: to the end).
func RangeOf(f File, length int, offset int64) (io.Reader, error) {
	if offset == 0 && length == 0 {
		return f, nil
	}
	if length == 0 {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if offset > st.Size() {
			return nil, fmt.Errorf("offset %d beyond end: %w", offset, io.ErrUnexpectedEOF)
		}
		length = int(st.Size() - offset)
	}
	return io.NewSectionReader(f, offset, int64(length)), nil
}

// ErrRetained means a file can't be removed yet: the storage keeps it
// under retention (S3 Object Lock). Errors wrapping it are usually a
// *RetainedError, which says until when.
var ErrRetained = errors.New("file under retention")

// RetainedError refuses to remove a file the storage retains.
type RetainedError struct {
	Handle Handle
	Until  time.Time
}

func (e *RetainedError) Error() string {
	return fmt.Sprintf("remove %s: %v until %s", e.Handle, ErrRetained, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrRetained) hold.
func (e *RetainedError) Unwrap() error { return ErrRetained }

// Retainer is implemented by backends whose files may be under retention
// (S3 Object Lock). RetainedUntil returns when h may be removed, by the
// storage's clock; the zero time means it may be removed now (no
// retention, or one that has passed).
type Retainer interface {
	RetainedUntil(ctx context.Context, h Handle) (time.Time, error)
}

// RetainerOf returns be, or the first backend below its wrappers (those
// with an Unwrap method), that is a Retainer.
func RetainerOf(be Backend) (Retainer, bool) {
	for be != nil {
		if r, ok := be.(Retainer); ok {
			return r, true
		}
		u, ok := be.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		be = u.Unwrap()
	}
	return nil, false
}

// RetainedUntil asks the Retainer below be's wrappers when h may be
// removed; a backend without one keeps nothing (zero time).
func RetainedUntil(ctx context.Context, be Backend, h Handle) (time.Time, error) {
	r, ok := RetainerOf(be)
	if !ok {
		return time.Time{}, nil
	}
	return r.RetainedUntil(ctx, h)
}

// Versioner is a backend that keeps earlier versions of a file (an S3
// bucket with Object Lock). Versions returns the contents of h's
// versions, newest first, at most max bytes each.
type Versioner interface {
	Versions(ctx context.Context, h Handle, max int64) ([][]byte, error)
}

// Versions asks be, or the first backend below its wrappers that is a
// Versioner, for the earlier versions of h; nil without one.
func Versions(ctx context.Context, be Backend, h Handle, max int64) ([][]byte, error) {
	for be != nil {
		if v, ok := be.(Versioner); ok {
			return v.Versions(ctx, h, max)
		}
		u, ok := be.(interface{ Unwrap() Backend })
		if !ok {
			return nil, nil
		}
		be = u.Unwrap()
	}
	return nil, nil
}
