package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// target is the restore target. Windows has no openat with O_NOFOLLOW, so
// every path is checked one component at a time (os.Lstat) before it is
// used, and a symlink, junction or other reparse point on the way or in
// the place of what is restored is refused, never followed: a link
// planted in the target (by a snapshot or by someone else) can't send a
// write outside it. Unlike on Unix, a directory swapped for a link between
// that check and the write is not caught.
type target struct {
	root string // absolute path
}

func openTarget(abs string) (*target, error) {
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != fs.ModeDir {
		return nil, &fs.PathError{Op: "open", Path: abs, Err: errors.New("not a directory")}
	}
	return &target{root: abs}, nil
}

func (t *target) close() {}

// errLink is the error for a link (or other reparse point) where the
// restore needs a plain directory or file.
var errLink = errors.New("a link or reparse point is in the way")

// isPlainDir reports whether fi is a directory that is not a link.
func isPlainDir(fi fs.FileInfo) bool { return fi.Mode().Type() == fs.ModeDir }

// isLink reports whether fi is a symlink, a junction or another reparse
// point that a path-based call might follow.
func isLink(fi fs.FileInfo) bool {
	return fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0
}

// check verifies that p lies beneath the target and that every directory
// between the target and p is a plain directory; it returns p. With self,
// p may be the target itself.
func (t *target) check(p string, self bool) (string, error) {
	if t == nil { // a dry run into a target that doesn't exist yet
		return "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	rel, err := t.rel(p)
	if err != nil {
		return "", err
	}
	if rel == "" {
		if !self {
			return "", fmt.Errorf("%s: the restore target itself: %w", p, fs.ErrInvalid)
		}
		return p, nil
	}
	parts := strings.Split(rel, string(filepath.Separator))
	dir := t.root
	for i, c := range parts {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, `/:`) {
			return "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrInvalid}
		}
		if i == len(parts)-1 {
			break
		}
		dir = filepath.Join(dir, c)
		fi, err := os.Lstat(dir)
		if err != nil {
			return "", err
		}
		if !isPlainDir(fi) {
			return "", &fs.PathError{Op: "open", Path: dir, Err: errLink}
		}
	}
	return p, nil
}

func (t *target) lstat(p string) (stat, error) {
	if _, err := t.check(p, false); err != nil {
		return stat{}, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return stat{}, err
	}
	return stat{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}, nil
}

func (t *target) readlink(p string) (string, error) {
	if _, err := t.check(p, false); err != nil {
		return "", err
	}
	return os.Readlink(p)
}

// mkdir creates directory p and reports whether it made it; an existing
// directory is fine. Another object in the way, a link above all, is
// never followed: it is replaced (replace) or reported.
func (t *target) mkdir(p string, replace bool) (bool, error) {
	if _, err := t.check(p, false); err != nil {
		return false, err
	}
	err := os.Mkdir(p, 0o700)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err == nil, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return false, err
	}
	if isPlainDir(fi) {
		return false, nil
	}
	if !replace {
		return false, fmt.Errorf("mkdir %s: a %s is in the way", p, typeName(fi.Mode()))
	}
	if err := os.Remove(p); err != nil {
		return false, err
	}
	err = os.Mkdir(p, 0o700)
	return err == nil, err
}

// openFile opens p with the os package's flags, never through a link at
// its place.
func (t *target) openFile(p string, flags int, perm uint32) (*os.File, error) {
	if _, err := t.check(p, false); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(p); err == nil && isLink(fi) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errLink}
	}
	return os.OpenFile(p, flags, fs.FileMode(perm))
}

// create creates or truncates regular file p. A link or directory in its
// place is removed, never written through.
func (t *target) create(p string) (*os.File, error) {
	if _, err := t.check(p, false); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		if err := os.RemoveAll(p); err != nil {
			return nil, err
		}
	}
	return t.openFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

func (t *target) openRead(p string) (*os.File, error) {
	return t.openFile(p, os.O_RDONLY, 0)
}

// remove removes p (a file, a link or an empty directory).
func (t *target) remove(p string) error {
	if _, err := t.check(p, false); err != nil {
		return err
	}
	return os.Remove(p)
}

// removeAll removes p and everything below it; os.RemoveAll removes a
// link itself, not what it points to. A missing p is no error.
func (t *target) removeAll(p string) error {
	if _, err := t.check(p, false); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(p)
}

func (t *target) readDir(p string) ([]fs.DirEntry, error) {
	if _, err := t.check(p, true); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(p); err == nil && !isPlainDir(fi) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errLink}
	}
	return os.ReadDir(p)
}

// link makes p a hard link to existing file to.
func (t *target) link(to, p string) error {
	if _, err := t.check(to, false); err != nil {
		return err
	}
	if _, err := t.check(p, false); err != nil {
		return err
	}
	if fi, err := os.Lstat(to); err == nil && !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "link", Path: to, Err: errLink}
	}
	return os.Link(to, p)
}

func (t *target) symlink(linkTarget, p string) error {
	if _, err := t.check(p, false); err != nil {
		return err
	}
	return os.Symlink(linkTarget, p)
}
