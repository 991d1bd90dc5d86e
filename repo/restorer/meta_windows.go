package restorer

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// On Windows, a restore sets times and the read-only attribute (a mode
// without any write bit); owners, the other mode bits and POSIX extended
// attributes have no counterpart and are left as on a filesystem without
// them, as restic does.

func fileTimes(n *snapshot.Node) (atime, mtime windows.Filetime) {
	a := n.AccessTime
	if a.IsZero() {
		a = n.ModTime
	}
	return windows.NsecToFiletime(a.UnixNano()), windows.NsecToFiletime(n.ModTime.UnixNano())
}

// setFileMetadata sets the times of an open (writable) file.
func setFileMetadata(f *os.File, n *snapshot.Node, _ *owners) error {
	atime, mtime := fileTimes(n)
	if err := windows.SetFileTime(windows.Handle(f.Fd()), nil, &atime, &mtime); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	if unixMode(n.Mode)&0o222 == 0 {
		if err := os.Chmod(f.Name(), 0o444); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return nil
}

// setMetadata sets the times of file or directory p (checked beneath the
// target, never through a link); symlinks keep the times of their
// creation, as os.Chtimes would follow them.
func (t *target) setMetadata(p string, n *snapshot.Node, _ *owners) error {
	switch n.Type {
	case snapshot.TypeDir, snapshot.TypeFile:
	default:
		return nil
	}
	if _, err := t.check(p, true); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if isLink(fi) {
		return fmt.Errorf("set metadata %s: replaced by a %s meanwhile", p, typeName(fi.Mode()))
	}
	a := n.AccessTime
	if a.IsZero() {
		a = n.ModTime
	}
	if err := os.Chtimes(p, a, n.ModTime); err != nil {
		return err
	}
	if n.Type == snapshot.TypeFile && unixMode(n.Mode)&0o222 == 0 {
		return os.Chmod(p, 0o444)
	}
	return nil
}

// createSpecial makes a symlink; devices and FIFOs have no Windows
// counterpart and are reported.
func (rs *restorer) createSpecial(n *snapshot.Node, dst string) error {
	t := rs.tgt
	if err := t.removeAll(dst); err != nil {
		return err
	}
	switch n.Type {
	case snapshot.TypeSymlink:
		return t.symlink(n.LinkTarget, dst)
	case snapshot.TypeSocket:
		return nil
	}
	return fmt.Errorf("restore %s: a %s can't be made on Windows", dst, n.Type)
}
