//go:build unix

package restorer

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

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
	if err := futimens(fd, times(n)); err != nil {
		return fmt.Errorf("set times: %w", err)
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
		return t.setLinkMetadata(p, n, o)
	}
	return t.setSpecialMetadata(p, n, o)
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
		err = t.mknod(dst, unix.S_IFBLK|uint32(n.Mode.Perm()), n.Rdev)
	case snapshot.TypeCharDev:
		err = t.mknod(dst, unix.S_IFCHR|uint32(n.Mode.Perm()), n.Rdev)
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
