package archiver

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// shortMax is the longest path handed to a path-based system call as is;
// the kernel refuses paths of PATH_MAX (4096) bytes and more.
const shortMax = 4000

// shortPath returns a name for p that path-based system calls accept even
// when p is longer than PATH_MAX: its leading directories are opened a
// piece at a time and the rest is named below /proc/self/fd. done closes
// what was opened. Short paths are returned as they are.
func shortPath(p string) (string, func(), error) {
	if len(p) < shortMax {
		return p, func() {}, nil
	}
	var fds []int
	done := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	dirfd, rest := unix.AT_FDCWD, p
	for len(rest) >= shortMax-32 {
		cut := strings.LastIndexByte(rest[:shortMax-32], '/')
		if cut <= 0 {
			done()
			return "", nil, &fs.PathError{Op: "open", Path: p, Err: unix.ENAMETOOLONG}
		}
		fd, err := unix.Openat(dirfd, rest[:cut], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			done()
			return "", nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		fds = append(fds, fd)
		dirfd, rest = fd, rest[cut+1:]
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, rest), done, nil
}

// oNoatime keeps a read from moving the file's atime.
const oNoatime = unix.O_NOATIME

// errNoAttr is the error for an extended attribute that isn't there.
const errNoAttr = unix.ENODATA

// openFile opens p with flags; the file keeps p as its name.
func openFile(p string, flags int) (*os.File, error) {
	sp, done, err := shortPath(p)
	if err != nil {
		return nil, err
	}
	defer done()
	fd, err := unix.Open(sp, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}
