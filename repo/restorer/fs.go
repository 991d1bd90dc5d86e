package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// mkdirNoFollow creates a directory; an existing directory is fine, but
// an existing symlink (or other file) is never followed.
func mkdirNoFollow(p string) error {
	err := os.Mkdir(p, 0o700)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := os.Lstat(p)
		if lerr != nil {
			return lerr
		}
		if fi.IsDir() {
			return nil
		}
		return fmt.Errorf("mkdir %s: a %s is in the way", p, fi.Mode().Type())
	}
	return err
}

// createNoFollow creates or truncates a regular file without following a
// symlink at its place.
func createNoFollow(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil && errors.Is(err, syscall.ELOOP) {
		// A symlink sits there: replace it, never write through it.
		if rerr := os.Remove(p); rerr != nil {
			return nil, rerr
		}
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	}
	return f, err
}

// createSized creates (or truncates) a file and sets its final size, so
// pieces can be written at their offsets in any order.
func createSized(p string, size int64) error {
	f, err := createNoFollow(p)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeWhole creates p with data and its metadata through one descriptor.
func writeWhole(p string, data []byte, n *snapshot.Node) error {
	f, err := createNoFollow(p)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
	}
	if err := setFileMetadata(f, n); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	return f.Close()
}

// setFileMetadata applies ownership (as root), mode and times through fd.
func setFileMetadata(f *os.File, n *snapshot.Node) error {
	fd := int(f.Fd())
	if os.Geteuid() == 0 {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, unixMode(n.Mode)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	atime := n.AccessTime
	if atime.IsZero() {
		atime = n.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(n.ModTime.UnixNano())}
	// utimensat(fd, NULL, …) sets the times of fd itself, in nanoseconds.
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
		return fmt.Errorf("set times: %w", e)
	}
	return nil
}

func pwriteFile(p string, data []byte, off int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func unixMode(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		mode |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		mode |= unix.S_ISVTX
	}
	return mode
}

// setMetadata applies ownership (as root), mode and times to p without
// following a symlink.
func setMetadata(p string, n *snapshot.Node) error {
	if os.Geteuid() == 0 {
		if err := os.Lchown(p, int(n.UID), int(n.GID)); err != nil {
			return err
		}
	}
	if n.Type != snapshot.TypeSymlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, p, unixMode(n.Mode), 0); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	atime := n.AccessTime
	if atime.IsZero() {
		atime = n.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(n.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times %s: %w", p, err)
	}
	return nil
}
