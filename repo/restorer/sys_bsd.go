//go:build darwin || freebsd

package restorer

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// oPath: there is no O_PATH here, so directories on the way are opened
// for reading (O_RDONLY|O_DIRECTORY|O_NOFOLLOW, one component at a time).
const oPath = unix.O_RDONLY

// There is no O_NOATIME here.
const oNoatime = 0

// openBeneath: no openat2 here; the caller walks the path one O_NOFOLLOW
// component at a time.
func (t *target) openBeneath(string) (int, error, bool) { return -1, nil, false }

// futimens sets the times of open file fd (futimes: microseconds).
func futimens(fd int, ts []unix.Timespec) error {
	tv := []unix.Timeval{unix.NsecToTimeval(ts[0].Nano()), unix.NsecToTimeval(ts[1].Nano())}
	return unix.Futimes(fd, tv)
}

// errNoXattrOnLink: extended attributes of symlinks and special files are
// set through /proc/self/fd on Linux; here there is no way to name such a
// file beneath a descriptor for the xattr calls, so they are reported
// instead of being set through a path that could be swapped.
func errNoXattrOnLink(p string, n *snapshot.Node) error {
	return fmt.Errorf("set xattr %s on %s: extended attributes of a %s are not restored on %s", n.Xattrs[0].Name, p, n.Type, runtime.GOOS)
}

// setLinkMetadata applies ownership (as root) and times to symlink p
// itself.
func (t *target) setLinkMetadata(p string, n *snapshot.Node, o *owners) error {
	return t.at("set metadata", p, func(dfd int, name string) error {
		if o.root {
			uid, gid := o.ids(n)
			if err := unix.Fchownat(dfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if err := unix.UtimesNanoAt(dfd, name, times(n), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if len(n.Xattrs) > 0 {
			return errNoXattrOnLink(p, n)
		}
		return nil
	})
}

// setSpecialMetadata applies ownership (as root), mode and times to
// device or FIFO p by name beneath its parent's descriptor, never
// following a symlink swapped into its place.
func (t *target) setSpecialMetadata(p string, n *snapshot.Node, o *owners) error {
	return t.at("set metadata", p, func(dfd int, name string) error {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		switch uint32(st.Mode) & unix.S_IFMT {
		case unix.S_IFLNK, unix.S_IFDIR, unix.S_IFREG:
			return fmt.Errorf("set metadata %s: replaced by a %s meanwhile", p, typeName(fileMode(uint32(st.Mode))))
		}
		if o.root {
			uid, gid := o.ids(n)
			if err := unix.Fchownat(dfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if err := unix.Fchmodat(dfd, name, unixMode(n.Mode), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if err := unix.UtimesNanoAt(dfd, name, times(n), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if len(n.Xattrs) > 0 {
			return errNoXattrOnLink(p, n)
		}
		return nil
	})
}
