//go:build unix

package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// target is the restore target, opened once. Every path the restorer
// touches is resolved beneath that descriptor without following any
// symlink (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or one
// O_NOFOLLOW component at a time on kernels without it), and every object
// is then created, opened or changed relative to its parent's descriptor.
// So a directory that someone swaps for a symlink while the restore runs
// ends that path with an error; no write, chmod or chown ever lands
// outside the target, and renaming the target itself changes nothing.
type target struct {
	root string // absolute path, for messages
	fd   int
	// noOpenat2 is set once openat2 is found missing (ENOSYS) or
	// refused (seccomp); Linux only.
	noOpenat2 atomic.Bool
}

func openTarget(abs string) (*target, error) {
	fd, err := unix.Open(abs, oPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	return &target{root: abs, fd: fd}, nil
}

func (t *target) close() {
	if t != nil && t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

// openDir opens directory rel (relative to the target, "" for the target)
// as an O_PATH descriptor, following no symlink on the way.
func (t *target) openDir(rel string) (int, error) {
	if rel == "" {
		return unix.Dup(t.fd)
	}
	if fd, err, ok := t.openBeneath(rel); ok {
		return fd, err
	}
	return t.walkDir(rel)
}

// walkDir is openDir one O_NOFOLLOW component at a time.
func (t *target) walkDir(rel string) (int, error) {
	fd, err := unix.Dup(t.fd)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		if c == "" || c == "." || c == ".." {
			unix.Close(fd)
			return -1, unix.EINVAL
		}
		nfd, err := unix.Openat(fd, c, oPath|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = nfd
	}
	return fd, nil
}

// parent opens the directory holding p and returns it with p's name.
func (t *target) parent(p string) (int, string, error) {
	if t == nil { // a dry run into a target that doesn't exist yet
		return -1, "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	rel, err := t.rel(p)
	if err != nil {
		return -1, "", err
	}
	if rel == "" {
		return -1, "", fmt.Errorf("%s: the restore target itself: %w", p, unix.EINVAL)
	}
	dir, name := filepath.Split(rel)
	fd, err := t.openDir(strings.TrimSuffix(dir, string(filepath.Separator)))
	if err != nil {
		return -1, "", &fs.PathError{Op: "open", Path: filepath.Join(t.root, dir), Err: err}
	}
	return fd, name, nil
}

// at runs fn with p's parent directory and name.
func (t *target) at(op, p string, fn func(dirfd int, name string) error) error {
	dfd, name, err := t.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := fn(dfd, name); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return err
		}
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	return nil
}

func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	}
	return mode
}

// lstat stats p without following a symlink.
func (t *target) lstat(p string) (stat, error) {
	var st stat
	err := t.at("lstat", p, func(dfd int, name string) error {
		var s unix.Stat_t
		if err := unix.Fstatat(dfd, name, &s, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		st = stat{mode: fileMode(uint32(s.Mode)), size: s.Size, mtime: time.Unix(s.Mtim.Unix()), rdev: uint64(s.Rdev)}
		return nil
	})
	return st, err
}

func (t *target) readlink(p string) (string, error) {
	var out string
	err := t.at("readlink", p, func(dfd int, name string) error {
		buf := make([]byte, 4096)
		for {
			n, err := unix.Readlinkat(dfd, name, buf)
			if err != nil {
				return err
			}
			if n < len(buf) {
				out = string(buf[:n])
				return nil
			}
			buf = make([]byte, 2*len(buf))
		}
	})
	return out, err
}

// mkdir creates directory p and reports whether it made it; an existing
// directory is fine. Another object in the way, a symlink above all, is
// never followed: it is replaced (replace) or reported.
func (t *target) mkdir(p string, replace bool) (bool, error) {
	made := false
	err := t.at("mkdir", p, func(dfd int, name string) error {
		err := unix.Mkdirat(dfd, name, 0o700)
		if err != unix.EEXIST {
			made = err == nil
			return err
		}
		var s unix.Stat_t
		if err := unix.Fstatat(dfd, name, &s, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if s.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil
		}
		if !replace {
			return fmt.Errorf("mkdir %s: a %s is in the way", p, typeName(fileMode(uint32(s.Mode))))
		}
		if err := unix.Unlinkat(dfd, name, 0); err != nil {
			return err
		}
		err = unix.Mkdirat(dfd, name, 0o700)
		made = err == nil
		return err
	})
	return made, err
}

// openFile opens p with flags, never through a symlink at its place.
func (t *target) openFile(p string, flags int, perm uint32) (*os.File, error) {
	var f *os.File
	err := t.at("open", p, func(dfd int, name string) error {
		fd, err := unix.Openat(dfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(fd), p)
		return nil
	})
	return f, err
}

// create creates or truncates regular file p. A symlink or directory in
// its place is removed, never written through.
func (t *target) create(p string) (*os.File, error) {
	f, err := t.openFile(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil && (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENXIO)) {
		if rerr := t.removeAll(p); rerr != nil {
			return nil, rerr
		}
		f, err = t.openFile(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	}
	return f, err
}

// openRead opens p for reading without moving its atime where allowed.
func (t *target) openRead(p string) (*os.File, error) {
	f, err := t.openFile(p, unix.O_RDONLY|oNoatime, 0)
	if oNoatime != 0 && errors.Is(err, unix.EPERM) {
		f, err = t.openFile(p, unix.O_RDONLY, 0)
	}
	return f, err
}

// remove removes p (a file, a symlink or an empty directory).
func (t *target) remove(p string) error {
	return t.at("remove", p, func(dfd int, name string) error {
		err := unix.Unlinkat(dfd, name, 0)
		if err == unix.EISDIR || err == unix.EPERM {
			if derr := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR); derr == nil {
				return nil
			}
		}
		return err
	})
}

// removeAll removes p and, if it is a directory, everything below it,
// without following a symlink anywhere. A missing p is no error.
func (t *target) removeAll(p string) error {
	return t.at("remove", p, func(dfd int, name string) error {
		err := removeAt(dfd, name)
		if err == unix.ENOENT {
			return nil
		}
		return err
	})
}

func removeAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, oerr := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, rerr := d.Readdirnames(-1)
	if rerr == nil {
		for _, n := range names {
			if err := removeAt(fd, n); err != nil && err != unix.ENOENT {
				d.Close()
				return err
			}
		}
	}
	d.Close()
	if rerr != nil {
		return rerr
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}

// readDir lists directory p.
func (t *target) readDir(p string) ([]fs.DirEntry, error) {
	if t == nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	rel, err := t.rel(p)
	if err != nil {
		return nil, err
	}
	pfd, err := t.openDir(rel)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	// An O_PATH descriptor can't be read: reopen it for reading.
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	unix.Close(pfd)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	d := os.NewFile(uintptr(fd), p)
	defer d.Close()
	return d.ReadDir(-1)
}

// link makes p a hard link to existing file to, following neither.
func (t *target) link(to, p string) error {
	sfd, sname, err := t.parent(to)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	return t.at("link", p, func(dfd int, name string) error {
		return unix.Linkat(sfd, sname, dfd, name, 0)
	})
}

func (t *target) symlink(linkTarget, p string) error {
	return t.at("symlink", p, func(dfd int, name string) error { return unix.Symlinkat(linkTarget, dfd, name) })
}

func (t *target) mknod(p string, mode uint32, dev uint64) error {
	return t.at("mknod", p, func(dfd int, name string) error { return mknodAt(dfd, name, mode, dev) })
}
