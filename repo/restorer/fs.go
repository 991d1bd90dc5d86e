package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// createSized creates (or truncates) a file and sets its final size, so
// pieces can be written at their offsets in any order; what is never
// written stays a hole. It returns the open file.
func (t *target) createSized(p string, size int64) (*os.File, error) {
	f, err := t.create(p)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// writeWhole creates p with data (its whole content, of size bytes) and
// its metadata through one descriptor.
func (t *target) writeWhole(p string, data []byte, size int64, n *snapshot.Node, o *owners) error {
	f, err := t.create(p)
	if err != nil {
		return err
	}
	end, err := writeSparse(f, data, 0)
	if err == nil && end < size {
		// Trailing zeros were left out: the size makes them a hole.
		err = f.Truncate(size)
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := setFileMetadata(f, n, o); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	return f.Close()
}

const holeBlock = 4096

// writeSparse writes data at off, skipping aligned all-zero blocks, so
// they stay holes (the file is already that long, or is made so after).
// It returns the end of the last byte written (off if none).
func writeSparse(f *os.File, data []byte, off int64) (int64, error) {
	end := off
	start := -1 // start of the pending non-zero run
	for i := 0; i < len(data); i += holeBlock {
		stop := min(i+holeBlock, len(data))
		if isZero(data[i:stop]) {
			if start >= 0 {
				if _, err := f.WriteAt(data[start:i], off+int64(start)); err != nil {
					return end, err
				}
				end = off + int64(i)
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		if _, err := f.WriteAt(data[start:], off+int64(start)); err != nil {
			return end, err
		}
		end = off + int64(len(data))
	}
	return end, nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if *(*uint64)(unsafe.Pointer(&b[0])) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (t *target) pwriteFile(p string, data []byte, off int64) error {
	f, err := t.openFile(p, unix.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = writeSparse(f, data, off)
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

// owners maps recorded user and group names to this system's IDs (as
// restic and tar do), falling back to the recorded numbers.
type owners struct {
	numeric bool
	root    bool
	mu      sync.Mutex
	users   map[string]int
	groups  map[string]int
}

func newOwners(numeric bool) owners {
	return owners{numeric: numeric, root: os.Geteuid() == 0, users: map[string]int{}, groups: map[string]int{}}
}

func (o *owners) ids(n *snapshot.Node) (int, int) {
	uid, gid := int(n.UID), int(n.GID)
	if o.numeric {
		return uid, gid
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if n.User != "" {
		id, ok := o.users[n.User]
		if !ok {
			id = -1
			if u, err := user.Lookup(n.User); err == nil {
				id, _ = strconv.Atoi(u.Uid)
			}
			o.users[n.User] = id
		}
		if id >= 0 {
			uid = id
		}
	}
	if n.Group != "" {
		id, ok := o.groups[n.Group]
		if !ok {
			id = -1
			if g, err := user.LookupGroup(n.Group); err == nil {
				id, _ = strconv.Atoi(g.Gid)
			}
			o.groups[n.Group] = id
		}
		if id >= 0 {
			gid = id
		}
	}
	return uid, gid
}

// setFileMetadata applies ownership (as root), xattrs, mode and times
// through an open file.
func setFileMetadata(f *os.File, n *snapshot.Node, o *owners) error {
	fd := int(f.Fd())
	if o.root {
		uid, gid := o.ids(n)
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	for _, x := range n.Xattrs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil && !ignorableXattrErr(err) {
			return fmt.Errorf("set xattr %s: %w", x.Name, err)
		}
	}
	if err := unix.Fchmod(fd, unixMode(n.Mode)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	ts := times(n)
	// utimensat(fd, NULL, …) sets the times of fd itself, in nanoseconds.
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
		return fmt.Errorf("set times: %w", e)
	}
	return nil
}

func ignorableXattrErr(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

func times(n *snapshot.Node) []unix.Timespec {
	atime := n.AccessTime
	if atime.IsZero() {
		atime = n.ModTime
	}
	return []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(n.ModTime.UnixNano())}
}

// setMetadata applies ownership (as root), xattrs, mode and times to p,
// through a descriptor of p itself opened beneath the target without
// following a symlink: an object swapped for a symlink since it was made
// is reported, never changed through the link.
func (t *target) setMetadata(p string, n *snapshot.Node, o *owners) error {
	switch n.Type {
	case snapshot.TypeDir, snapshot.TypeFile:
		flags := unix.O_RDONLY
		if n.Type == snapshot.TypeDir {
			flags |= unix.O_DIRECTORY
		}
		f, err := t.openFile(p, flags, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := setFileMetadata(f, n, o); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	case snapshot.TypeSymlink:
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

// createSpecial makes a symlink, device, FIFO or socket node, replacing
// what is in the way (never following it).
func (rs *restorer) createSpecial(n *snapshot.Node, dst string) error {
	t := rs.tgt
	if err := t.removeAll(dst); err != nil {
		return err
	}
	var err error
	switch n.Type {
	case snapshot.TypeSymlink:
		err = t.symlink(n.LinkTarget, dst)
	case snapshot.TypeFIFO:
		err = t.mknod(dst, unix.S_IFIFO|uint32(n.Mode.Perm()), 0)
	case snapshot.TypeDev:
		err = t.mknod(dst, unix.S_IFBLK|uint32(n.Mode.Perm()), int(n.Rdev))
	case snapshot.TypeCharDev:
		err = t.mknod(dst, unix.S_IFCHR|uint32(n.Mode.Perm()), int(n.Rdev))
	case snapshot.TypeSocket:
		// A socket belongs to a running program; like restic and tar,
		// there is nothing to restore.
		return nil
	}
	if err != nil {
		return err
	}
	return t.setMetadata(dst, n, &rs.owners)
}
