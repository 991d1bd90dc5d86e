//go:build linux

package mountfs

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// contentTimeout is how long the kernel may trust what it learnt of a
// snapshot's content, which never changes.
const contentTimeout = time.Minute

// entry is a node of a snapshot's tree: what every kind shares.
type entry struct {
	gofs.Inode
	meta
}

// meta is what an entry shows of its node.
type meta struct {
	m    *mountFS
	snap *snapshot.Snapshot
	// node is the recorded node; nil for the snapshot's root directory.
	node *snapshot.Node
	ino  uint64
}

var (
	_ gofs.NodeGetattrer   = (*entry)(nil)
	_ gofs.NodeGetxattrer  = (*entry)(nil)
	_ gofs.NodeListxattrer = (*entry)(nil)
)

// unixType is the S_IFMT bits of a node type.
func unixType(t snapshot.NodeType) uint32 {
	switch t {
	case snapshot.TypeDir:
		return syscall.S_IFDIR
	case snapshot.TypeSymlink:
		return syscall.S_IFLNK
	case snapshot.TypeDev:
		return syscall.S_IFBLK
	case snapshot.TypeCharDev:
		return syscall.S_IFCHR
	case snapshot.TypeFIFO:
		return syscall.S_IFIFO
	case snapshot.TypeSocket:
		return syscall.S_IFSOCK
	}
	return syscall.S_IFREG
}

// unixMode is the st_mode of n.
func unixMode(n *snapshot.Node) uint32 {
	m := unixType(n.Type) | uint32(n.Mode.Perm())
	if n.Mode&fs.ModeSetuid != 0 {
		m |= syscall.S_ISUID
	}
	if n.Mode&fs.ModeSetgid != 0 {
		m |= syscall.S_ISGID
	}
	if n.Mode&fs.ModeSticky != 0 {
		m |= syscall.S_ISVTX
	}
	return m
}

func (e *meta) attr(out *fuse.Attr) {
	out.Ino = e.ino
	out.Blksize = 4096
	if e.node == nil {
		out.Mode = syscall.S_IFDIR | 0o555
		out.Nlink = 1
		out.Uid, out.Gid = e.m.uid, e.m.gid
		t := e.snap.Time
		out.SetTimes(&t, &t, &t)
		return
	}
	n := e.node
	out.Mode = unixMode(n)
	out.Uid, out.Gid = n.UID, n.GID
	if e.m.o.OwnerRoot {
		out.Uid, out.Gid = 0, 0
	}
	out.Nlink = 1
	if n.Type != snapshot.TypeDir && n.Links > 1 {
		out.Nlink = uint32(min(n.Links, 1<<31))
	}
	switch n.Type {
	case snapshot.TypeFile:
		out.Size = n.Size
	case snapshot.TypeSymlink:
		out.Size = uint64(len(n.LinkTarget))
	case snapshot.TypeDev, snapshot.TypeCharDev:
		out.Rdev = fuseDev(n.Rdev)
	}
	out.Blocks = (out.Size + 511) / 512
	mtime := n.ModTime
	atime, ctime := n.AccessTime, n.ChangeTime
	if atime.IsZero() {
		atime = mtime
	}
	if ctime.IsZero() {
		ctime = mtime
	}
	out.SetTimes(&atime, &mtime, &ctime)
}

func (e *meta) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e.attr(&out.Attr)
	out.SetTimeout(contentTimeout)
	return 0
}

func (e *meta) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if e.node == nil {
		return 0, syscall.ENODATA
	}
	for _, x := range e.node.Xattrs {
		if x.Name != attr {
			continue
		}
		if len(dest) < len(x.Value) {
			if len(dest) == 0 {
				return uint32(len(x.Value)), 0
			}
			return uint32(len(x.Value)), syscall.ERANGE
		}
		return uint32(copy(dest, x.Value)), 0
	}
	return 0, syscall.ENODATA
}

func (e *meta) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if e.node == nil {
		return 0, 0
	}
	var list []byte
	for _, x := range e.node.Xattrs {
		list = append(append(list, x.Name...), 0)
	}
	if len(dest) < len(list) {
		if len(dest) == 0 {
			return uint32(len(list)), 0
		}
		return uint32(len(list)), syscall.ERANGE
	}
	return uint32(copy(dest, list)), 0
}

// fuseDev encodes a device number as FUSE passes it (the kernel's
// 32-bit new_encode_dev: 12 bits of major, 20 of minor).
func fuseDev(rdev uint64) uint32 {
	major, minor := uint32(unix.Major(rdev)), uint32(unix.Minor(rdev))
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// childIno is the inode number of child n of the directory numbered
// parent: hardlinked files of one snapshot share theirs, derived from the
// device and inode they were recorded with; everything else is numbered
// by its place.
func childIno(snap *snapshot.Snapshot, parent uint64, n *snapshot.Node) uint64 {
	if n.Type != snapshot.TypeDir && n.Links > 1 && n.Inode != 0 {
		return inoOf("hardlink", snap.ID().String(), strconv.FormatUint(n.DeviceID, 10), strconv.FormatUint(n.Inode, 10))
	}
	return inoOf("node", strconv.FormatUint(parent, 10), n.Name)
}

// newChild makes the go-fuse node of n, a child of d.
func (d *treeDir) newChild(ctx context.Context, n *snapshot.Node, out *fuse.Attr) *gofs.Inode {
	e := meta{m: d.m, snap: d.snap, node: n, ino: childIno(d.snap, d.ino, n)}
	e.attr(out)
	var emb gofs.InodeEmbedder
	switch n.Type {
	case snapshot.TypeDir:
		emb = &treeDir{entry: entry{meta: e}, subtree: *n.Subtree}
	case snapshot.TypeFile:
		emb = &fileNode{entry: entry{meta: e}}
	case snapshot.TypeSymlink:
		emb = &linkNode{entry: entry{meta: e}}
	default:
		emb = &entry{meta: e}
	}
	return d.NewInode(ctx, emb, gofs.StableAttr{Mode: unixType(n.Type), Ino: e.ino})
}

// treeDir is a directory of a snapshot (or its root).
type treeDir struct {
	entry
	subtree pack.ID
}

var (
	_ gofs.NodeLookuper  = (*treeDir)(nil)
	_ gofs.NodeReaddirer = (*treeDir)(nil)
)

func (d *treeDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	n, err := d.m.trees.find(d.m.ctx, d.subtree, name)
	if err != nil {
		return nil, d.m.errno(err)
	}
	out.SetEntryTimeout(contentTimeout)
	out.SetAttrTimeout(contentTimeout)
	if n == nil {
		return nil, syscall.ENOENT
	}
	return d.newChild(ctx, n, &out.Attr), 0
}

func (d *treeDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return &treeStream{d: d}, 0
}

// treeStream lists a directory part by part: a split tree of millions
// of entries is never held whole.
type treeStream struct {
	d     *treeDir
	parts []pack.ID // of a split tree; nil until the head is loaded
	next  int       // the next part to load
	nodes []*snapshot.Node
	pos   int
	off   uint64
	err   error
	done  bool
}

var _ gofs.FileSeekdirer = (*treeStream)(nil)

// fill loads the next part when the current one is used up.
func (s *treeStream) fill() {
	for s.pos >= len(s.nodes) && !s.done && s.err == nil {
		m := s.d.m
		if s.parts == nil {
			t, err := m.trees.get(m.ctx, s.d.subtree)
			if err != nil {
				s.err = err
				return
			}
			if len(t.Parts) == 0 {
				s.nodes, s.pos, s.done = t.Nodes, 0, true
				return
			}
			s.parts = t.Parts
		}
		if s.next >= len(s.parts) {
			s.done = true
			return
		}
		t, err := m.trees.part(m.ctx, s.d.subtree, s.next)
		if err != nil {
			s.err = err
			return
		}
		s.next++
		s.nodes, s.pos = t.Nodes, 0
	}
}

func (s *treeStream) HasNext() bool {
	s.fill()
	return s.err != nil || s.pos < len(s.nodes)
}

func (s *treeStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.err != nil {
		err := s.err
		s.err, s.done, s.nodes = nil, true, nil
		return fuse.DirEntry{}, s.d.m.errno(err)
	}
	n := s.nodes[s.pos]
	s.pos++
	s.off++
	return fuse.DirEntry{Name: n.Name, Mode: unixType(n.Type), Ino: childIno(s.d.snap, s.d.ino, n), Off: s.off}, 0
}

// Seekdir starts again and skips off entries (rewinddir, or a listing
// that resumes).
func (s *treeStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	*s = treeStream{d: s.d}
	for s.off < off && s.HasNext() {
		if _, errno := s.Next(); errno != 0 {
			return errno
		}
	}
	return 0
}

func (s *treeStream) Close() { s.nodes = nil }

// fileNode is a regular file: read on demand, blob by blob.
type fileNode struct {
	entry
	once sync.Once
	// starts[i] is where content blob i starts; starts[len] the end.
	starts []int64
	err    error
}

var (
	_ gofs.NodeOpener = (*fileNode)(nil)
	_ gofs.NodeReader = (*fileNode)(nil)
)

func (f *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *fileNode) layout() error {
	f.once.Do(func() {
		lens, err := f.m.blobLengths(f.node.Content)
		if err != nil {
			f.err = fmt.Errorf("file %s: %w", f.node.Name, err)
			return
		}
		f.starts = make([]int64, len(lens)+1)
		for i, l := range lens {
			f.starts[i+1] = f.starts[i] + l
		}
	})
	return f.err
}

func (f *fileNode) Read(ctx context.Context, _ gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if err := f.layout(); err != nil {
		return nil, f.m.errno(err)
	}
	end := f.starts[len(f.starts)-1]
	if off >= end || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	// The blob holding off: the last one starting at or before it.
	i := sort.Search(len(f.node.Content), func(i int) bool { return f.starts[i+1] > off })
	n := 0
	for n < len(dest) && i < len(f.node.Content) {
		b, err := f.m.blobs.get(f.m.ctx, f.node.Content[i])
		if err != nil {
			return nil, f.m.errno(fmt.Errorf("read %s: %w", f.node.Name, err))
		}
		if int64(len(b)) != f.starts[i+1]-f.starts[i] {
			return nil, f.m.errno(fmt.Errorf("read %s: data blob %s is %d bytes, the index says %d", f.node.Name, f.node.Content[i].Short(), len(b), f.starts[i+1]-f.starts[i]))
		}
		n += copy(dest[n:], b[off+int64(n)-f.starts[i]:])
		i++
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// linkNode is a symlink.
type linkNode struct{ entry }

var _ gofs.NodeReadlinker = (*linkNode)(nil)

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.node.LinkTarget), 0
}
