package archiver

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// oDirectory: os.OpenFile opens directories as they are on Windows.
const oDirectory = 0

// sysInfo is what the archiver takes from lstat beyond fs.FileInfo. On
// Windows there are no numeric owners, inodes or a change time in the
// lstat data: files are compared by size and modification time, as with
// restic's --ignore-inode --ignore-ctime.
type sysInfo struct {
	owners                bool
	uid, gid              uint32
	atime, ctime          time.Time
	ino, dev, nlink, rdev uint64
}

func sysStat(fi fs.FileInfo) (sysInfo, bool) {
	d, ok := fi.Sys().(*syscall.Win32FileAttributeData)
	if !ok {
		return sysInfo{}, false
	}
	return sysInfo{atime: time.Unix(0, d.LastAccessTime.Nanoseconds()), nlink: 1}, true
}

// shortPath returns p as it is: the os package already prefixes long
// paths with \\?\.
func shortPath(p string) (string, func(), error) {
	return p, func() {}, nil
}

// openFile opens p with the os package's flags; the file keeps p as its
// name.
func openFile(p string, flags int) (*os.File, error) {
	return os.OpenFile(p, flags, 0)
}

// openNoFollow opens regular file p for reading, refusing a symlink or a
// junction in its place: p is checked before and after the open, so one
// swapped in meanwhile is found too.
func openNoFollow(p string) (*os.File, error) {
	before, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("not a regular file (%s)", before.Mode().Type())}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	if err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("replaced while being opened")}
	}
	return f, nil
}

// readXattrs: Windows has no POSIX extended attributes.
func readXattrs(string) ([]snapshot.Xattr, error) { return nil, nil }
