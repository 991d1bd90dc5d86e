package archiver

import (
	"errors"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// xattrs fills node.Xattrs.
// xattrs unchanged since the parent (same ctime and inode: setting an
// xattr moves ctime) are taken from the parent node without a syscall.
func (a *archiver) xattrs(p string, node, pnode *snapshot.Node) {
	if pnode != nil && pnode.Type == node.Type && pnode.Inode == node.Inode && pnode.ChangeTime.Equal(node.ChangeTime) {
		node.Xattrs = pnode.Xattrs
		return
	}
	x, err := readXattrs(p)
	if err != nil {
		a.report(p, errors.Join(errors.New("read extended attributes"), err))
		return
	}
	node.Xattrs = x
}
