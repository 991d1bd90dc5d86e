//go:build darwin || freebsd

package archiver

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// There is no O_NOATIME here: reads may move atimes, as with any reader.
const oNoatime = 0

// errNoAttr is the error for an extended attribute that isn't there.
const errNoAttr = unix.ENOATTR

// shortPath returns p as it is. Linux names the tail of an over-long path
// below /proc/self/fd; there is no such directory here, so a path longer
// than PATH_MAX fails with ENAMETOOLONG and is reported like any other
// unreadable file.
func shortPath(p string) (string, func(), error) {
	return p, func() {}, nil
}

// openFile opens p with flags; the file keeps p as its name.
func openFile(p string, flags int) (*os.File, error) {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}
