package archiver

import (
	"io/fs"
	"os/user"
	"strconv"
	"sync"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// names caches uid/gid → name lookups.
type names struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

func (n *names) user(uid uint32) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.users[uid]; ok {
		return s
	}
	s := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		s = u.Username
	}
	n.users[uid] = s
	return s
}

func (n *names) group(gid uint32) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.groups[gid]; ok {
		return s
	}
	s := ""
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		s = g.Name
	}
	n.groups[gid] = s
	return s
}

func nodeType(m fs.FileMode) snapshot.NodeType {
	switch {
	case m.IsRegular():
		return snapshot.TypeFile
	case m.IsDir():
		return snapshot.TypeDir
	case m&fs.ModeSymlink != 0:
		return snapshot.TypeSymlink
	case m&fs.ModeCharDevice != 0:
		return snapshot.TypeCharDev
	case m&fs.ModeDevice != 0:
		return snapshot.TypeDev
	case m&fs.ModeNamedPipe != 0:
		return snapshot.TypeFIFO
	case m&fs.ModeSocket != 0:
		return snapshot.TypeSocket
	}
	return ""
}

// nodeFromInfo fills a node from lstat results.
func (a *archiver) nodeFromInfo(name string, fi fs.FileInfo) *snapshot.Node {
	n := &snapshot.Node{
		Name:    name,
		Type:    nodeType(fi.Mode()),
		Mode:    fi.Mode(),
		ModTime: fi.ModTime(),
	}
	if n.Type == snapshot.TypeFile {
		n.Size = uint64(fi.Size())
	}
	if st, ok := sysStat(fi); ok {
		if st.owners {
			n.UID, n.GID = st.uid, st.gid
			n.User, n.Group = a.names.user(st.uid), a.names.group(st.gid)
		}
		n.AccessTime = st.atime
		n.ChangeTime = st.ctime
		n.Inode = st.ino
		n.DeviceID = st.dev
		n.Links = st.nlink
		if n.Type == snapshot.TypeDev || n.Type == snapshot.TypeCharDev {
			n.Rdev = st.rdev
		}
	}
	return n
}

// unchanged reports whether a file's metadata equals its parent node's, so
// its content list can be reused without reading it.
func (a *archiver) unchanged(n, p *snapshot.Node) bool {
	if p == nil || p.Type != n.Type || p.Size != n.Size || !p.ModTime.Equal(n.ModTime) {
		return false
	}
	if !a.opts.IgnoreCtime && !p.ChangeTime.Equal(n.ChangeTime) {
		return false
	}
	if !a.opts.IgnoreInode && p.Inode != n.Inode {
		return false
	}
	return true
}
