package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// oPath opens a directory only to resolve names beneath it.
const oPath = unix.O_PATH

// oNoatime keeps a read from moving the file's atime.
const oNoatime = unix.O_NOATIME

// openBeneath opens directory rel below the target in one openat2 call
// (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS). ok is false where openat2 is
// missing or refused, and the caller walks the path instead.
func (t *target) openBeneath(rel string) (fd int, err error, ok bool) {
	// openat2 takes paths below PATH_MAX; longer ones are walked.
	if t.noOpenat2.Load() || len(rel) >= 4000 {
		return -1, nil, false
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	for range 8 {
		fd, err := unix.Openat2(t.fd, rel, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a concurrent rename: resolve again
		}
		if err == unix.ENOSYS || err == unix.EPERM && fd < 0 && t.openat2Blocked() {
			t.noOpenat2.Store(true)
			return -1, nil, false
		}
		return fd, err, true
	}
	return -1, unix.EAGAIN, true
}

// openat2Blocked tells a seccomp filter that refuses openat2 (EPERM) from
// a real permission error: the target itself opens with openat2 or not.
func (t *target) openat2Blocked() bool {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC}
	fd, err := unix.Openat2(t.fd, ".", &how)
	if err == nil {
		unix.Close(fd)
		return false
	}
	return err == unix.EPERM || err == unix.ENOSYS
}

// futimens sets the times of open file fd (utimensat with a NULL path),
// in nanoseconds.
func futimens(fd int, ts []unix.Timespec) error {
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
		return e
	}
	return nil
}

func mknodAt(dfd int, name string, mode uint32, dev uint64) error {
	return unix.Mknodat(dfd, name, mode, int(dev))
}

// setLinkMetadata applies ownership (as root), xattrs and times to
// symlink p itself.
func (t *target) setLinkMetadata(p string, n *snapshot.Node, o *owners) error {
	return t.at("set metadata", p, func(dfd int, name string) error {
		if o.root {
			uid, gid := o.ids(n)
			if err := unix.Fchownat(dfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		// The directory by its descriptor, the link by name: the
		// l-call does not follow the link.
		lp := fmt.Sprintf("/proc/self/fd/%d/%s", dfd, name)
		for _, x := range n.Xattrs {
			if err := unix.Lsetxattr(lp, x.Name, x.Value, 0); err != nil && !ignorableXattrErr(err) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("set xattr %s: %w", x.Name, err)
			}
		}
		return unix.UtimesNanoAt(dfd, name, times(n), unix.AT_SYMLINK_NOFOLLOW)
	})
}

// setSpecialMetadata applies ownership (as root), xattrs, mode and times
// to device or FIFO p.
func (t *target) setSpecialMetadata(p string, n *snapshot.Node, o *owners) error {
	// Devices and FIFOs: an O_PATH descriptor (opening one for reading
	// could block or reach a driver), changed through /proc/self/fd.
	f, err := t.openFile(p, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK || st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&unix.S_IFMT == unix.S_IFREG {
		return fmt.Errorf("set metadata %s: replaced by a %s meanwhile", p, typeName(fileMode(st.Mode)))
	}
	if o.root {
		uid, gid := o.ids(n)
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return &fs.PathError{Op: "chown", Path: p, Err: err}
		}
	}
	pp := fmt.Sprintf("/proc/self/fd/%d", fd)
	for _, x := range n.Xattrs {
		if err := unix.Setxattr(pp, x.Name, x.Value, 0); err != nil && !ignorableXattrErr(err) {
			return fmt.Errorf("set xattr %s on %s: %w", x.Name, p, err)
		}
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, pp, unixMode(n.Mode), 0); err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, pp, times(n), 0); err != nil {
		return &fs.PathError{Op: "set times", Path: p, Err: err}
	}
	return nil
}
