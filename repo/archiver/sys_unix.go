//go:build unix

package archiver

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// oDirectory makes an open fail unless the path names a directory.
const oDirectory = unix.O_DIRECTORY

// sysInfo is what the archiver takes from lstat beyond fs.FileInfo.
type sysInfo struct {
	owners                bool // uid and gid mean something here
	uid, gid              uint32
	atime, ctime          time.Time
	ino, dev, nlink, rdev uint64
}

func sysStat(fi fs.FileInfo) (sysInfo, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return sysInfo{}, false
	}
	atime, ctime := statTimes(st)
	return sysInfo{
		owners: true, uid: st.Uid, gid: st.Gid, atime: atime, ctime: ctime,
		ino: uint64(st.Ino), dev: uint64(st.Dev), nlink: uint64(st.Nlink), rdev: uint64(st.Rdev),
	}, true
}

// openNoFollow opens regular file p for reading, refusing a symlink in
// its place. O_NOATIME (where there is one) keeps the backup from changing
// atimes; it is refused for files we don't own, so fall back without it.
func openNoFollow(p string) (*os.File, error) {
	if oNoatime != 0 {
		f, err := openFile(p, os.O_RDONLY|unix.O_NOFOLLOW|oNoatime)
		if !errors.Is(err, unix.EPERM) {
			return f, err
		}
	}
	return openFile(p, os.O_RDONLY|unix.O_NOFOLLOW)
}
