//go:build linux

package mountfs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TimeFormat names a snapshot directory by the snapshot's time, as restic does.
const TimeFormat = "2006-01-02T15:04:05Z07:00"

// Available reports why FUSE can't be used here, or nil: /dev/fuse must
// exist and fusermount3 be on PATH.
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: /dev/fuse: %w", ErrNoFUSE, err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return fmt.Errorf("%w: no fusermount3 on PATH (install fuse3)", ErrNoFUSE)
	}
	return nil
}

// Check reports why dir can't be mounted on: FUSE unavailable, or dir
// not a directory.
func Check(dir string) error {
	if err := Available(); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// Mounted is a mounted file system.
type Mounted struct {
	srv *fuse.Server
	dir string
}

// Wait returns when the file system is unmounted (by Unmount, or by
// fusermount3 -u from outside).
func (m *Mounted) Wait() { m.srv.Wait() }

// Unmount unmounts the file system. When it is busy (a process has its
// working directory inside), it is detached lazily: it goes once nothing
// uses it any more.
func (m *Mounted) Unmount() error {
	err := m.srv.Unmount()
	if err == nil {
		return nil
	}
	if out, lerr := exec.Command("fusermount3", "-u", "-z", m.dir).CombinedOutput(); lerr != nil {
		return fmt.Errorf("unmount %s: %w (%s)", m.dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Mount mounts the snapshots of the session's repository read-only at
// dir. The session must hold a lock and have the index loaded; it must
// stay open until the file system is unmounted.
func Mount(ctx context.Context, s *repo.Session, dir string, o Options) (*Mounted, error) {
	if err := Check(dir); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if o.Refresh <= 0 {
		o.Refresh = 3 * time.Second
	}
	m := newMountFS(ctx, s, o)
	if err := m.refresh(ctx, true); err != nil {
		return nil, err
	}
	root := &virtualDir{m: m, path: ""}
	zero := time.Duration(0)
	opts := &gofs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther: o.AllowOther,
			FsName:     "cairn",
			Name:       "cairn",
			// The kernel checks modes itself, as for any file
			// system (restic's default too).
			Options: []string{"ro", "default_permissions"},
			// Plain readdir: readdirplus would make an inode for
			// every entry of a huge directory.
			DisableReadDirPlus: true,
			MaxReadAhead:       1 << 20,
		},
		// Per entry: snapshot content never changes, listings do.
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NullPermissions: true,
		UID:             uint32(os.Getuid()),
		GID:             uint32(os.Getgid()),
		RootStableAttr:  &gofs.StableAttr{Ino: 1, Mode: syscall.S_IFDIR},
	}
	srv, err := gofs.Mount(dir, root, opts)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return &Mounted{srv: srv, dir: dir}, nil
}

// mountFS is the state shared by the nodes.
type mountFS struct {
	ctx context.Context
	s   *repo.Session
	r   *repo.Repository
	o   Options
	uid uint32
	gid uint32
	// idxMu guards the index: every blob load holds it shared, a reload
	// exclusively (LoadIndex replaces the index while it loads).
	idxMu sync.RWMutex
	trees *treeCache
	blobs *blobCache

	mu     sync.Mutex
	view   *vnode
	loaded map[pack.ID]*snapshot.Snapshot
	// unreadable are the snapshot files that failed to load.
	unreadable map[pack.ID]bool
	listed     time.Time
}

func newMountFS(ctx context.Context, s *repo.Session, o Options) *mountFS {
	m := &mountFS{ctx: ctx, s: s, r: s.Repository(), o: o, uid: uint32(os.Getuid()), gid: uint32(os.Getgid()),
		loaded: map[pack.ID]*snapshot.Snapshot{}, unreadable: map[pack.ID]bool{}}
	if o.OwnerRoot {
		m.uid, m.gid = 0, 0
	}
	m.trees = newTreeCache(m.loadBlob)
	m.blobs = newBlobCache(64<<20, m.loadBlob)
	return m
}

// loadBlob loads a blob under the index's read lock.
func (m *mountFS) loadBlob(ctx context.Context, h pack.BlobHandle) ([]byte, error) {
	m.idxMu.RLock()
	defer m.idxMu.RUnlock()
	return m.r.LoadBlob(ctx, h, nil)
}

// blobLengths returns the plaintext length of each content blob.
func (m *mountFS) blobLengths(ids []pack.ID) ([]int64, error) {
	m.idxMu.RLock()
	defer m.idxMu.RUnlock()
	out := make([]int64, len(ids))
	idx := m.r.Index()
	for i, id := range ids {
		locs := idx.LookupAny(pack.BlobHandle{ID: id, Type: pack.DataBlob})
		if len(locs) == 0 {
			return nil, fmt.Errorf("data blob %s: %w: not in index", id.Short(), repo.ErrDamaged)
		}
		out[i] = int64(locs[0].RawLength)
	}
	return out, nil
}

// errno reports err (unless the file system is going away) and turns
// it into what the reader sees.
func (m *mountFS) errno(err error) syscall.Errno {
	if errors.Is(err, fs.ErrNotExist) {
		return syscall.ENOENT
	}
	if m.ctx.Err() == nil && m.o.OnError != nil {
		m.o.OnError(err)
	}
	return syscall.EIO
}

// current returns the view of the snapshots, listing the snapshot files
// again when the last listing is older than the refresh interval.
func (m *mountFS) current(ctx context.Context) *vnode {
	if err := m.refresh(ctx, false); err != nil && m.o.OnError != nil && ctx.Err() == nil {
		m.o.OnError(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view
}

// refresh lists the snapshot files (unless the last listing is recent
// and force is unset); when there are new ones it reloads the index,
// which covers only the snapshots listed before it was loaded, then
// loads the new snapshots and rebuilds the view.
func (m *mountFS) refresh(ctx context.Context, force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !force && time.Since(m.listed) < m.o.Refresh {
		return nil
	}
	m.listed = time.Now()
	var ids []pack.ID
	err := m.r.Backend().List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
		if id, err := pack.ParseID(fi.Name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	present := map[pack.ID]bool{}
	fresh := false
	for _, id := range ids {
		present[id] = true
		if _, ok := m.loaded[id]; !ok && !m.unreadable[id] {
			fresh = true
		}
	}
	changed := fresh || len(present) != len(m.loaded) || m.view == nil
	if fresh && !force {
		m.idxMu.Lock()
		err := m.s.LoadIndex(ctx, false)
		m.idxMu.Unlock()
		if err != nil {
			return fmt.Errorf("reload index for new snapshots: %w", err)
		}
	}
	for id := range m.loaded {
		if !present[id] {
			delete(m.loaded, id)
		}
	}
	if fresh {
		// Only the snapshots the loaded index covers.
		covered, err := m.r.List(ctx, backend.SnapshotFile)
		if err != nil {
			return fmt.Errorf("list snapshots: %w", err)
		}
		for _, id := range covered {
			if _, ok := m.loaded[id]; ok || !present[id] {
				continue
			}
			sn, err := snapshot.Load(ctx, m.r, id)
			if err != nil {
				// One unreadable snapshot hides itself only, and
				// is not tried again.
				m.unreadable[id] = true
				if m.o.OnError != nil {
					m.o.OnError(err)
				}
				continue
			}
			m.loaded[id] = sn
		}
	}
	if changed {
		sns := make([]*snapshot.Snapshot, 0, len(m.loaded))
		for _, sn := range m.loaded {
			sns = append(sns, sn)
		}
		m.view = buildView(sns)
	}
	return nil
}

// vnode is a directory, snapshot or latest link of the view above the
// snapshots' trees. A view is built whole and replaced, never changed.
type vnode struct {
	children map[string]*vnode
	names    []string
	snap     *snapshot.Snapshot
	link     string
	mtime    time.Time
}

func (v *vnode) add(name string, c *vnode) {
	if v.children == nil {
		v.children = map[string]*vnode{}
	}
	v.children[name] = c
	v.names = append(v.names, name)
}

// settle sets each directory's mtime to its newest entry's.
func (v *vnode) settle() time.Time {
	for _, c := range v.children {
		if c.snap == nil && c.link == "" {
			c.settle()
		}
		if c.mtime.After(v.mtime) {
			v.mtime = c.mtime
		}
	}
	return v.mtime
}

// at returns the node at the slash-separated path p ("" is the root).
func (v *vnode) at(p string) *vnode {
	if p == "" {
		return v
	}
	for _, name := range strings.Split(p, "/") {
		if v == nil || v.snap != nil {
			return nil
		}
		v = v.children[name]
	}
	return v
}

// dirName makes a host or tag usable as a directory name ("" when it
// can't be).
func dirName(s string) string {
	s = strings.ReplaceAll(s, "/", "_")
	if !snapshot.ValidName(s) || s == "latest" {
		return ""
	}
	return s
}

// buildView lays the snapshots out by time, host, tag and ID.
func buildView(sns []*snapshot.Snapshot) *vnode {
	sort.Slice(sns, func(i, j int) bool {
		if !sns[i].Time.Equal(sns[j].Time) {
			return sns[i].Time.Before(sns[j].Time)
		}
		a, b := sns[i].ID(), sns[j].ID()
		return a.String() < b.String()
	})
	root := &vnode{}
	all := &vnode{}
	hosts, tags, ids := &vnode{}, &vnode{}, &vnode{}
	byHost, byTag := map[string]*vnode{}, map[string]*vnode{}
	for _, sn := range sns {
		name := snapshotName(all, sn)
		leaf := &vnode{snap: sn, mtime: sn.Time}
		all.add(name, leaf)
		short := sn.ID().Short()
		if _, ok := ids.children[short]; ok {
			short = sn.ID().String() // two IDs that share their first 8 digits
		}
		ids.add(short, leaf)
		if h := dirName(sn.Hostname); h != "" {
			d := byHost[h]
			if d == nil {
				d = &vnode{}
				byHost[h] = d
				hosts.add(h, d)
			}
			d.add(snapshotName(d, sn), leaf)
		}
		seen := map[string]bool{}
		for _, tag := range sn.Tags {
			tg := dirName(tag)
			if tg == "" || seen[tg] {
				continue
			}
			seen[tg] = true
			d := byTag[tg]
			if d == nil {
				d = &vnode{}
				byTag[tg] = d
				tags.add(tg, d)
			}
			d.add(snapshotName(d, sn), leaf)
		}
	}
	addLatest := func(d *vnode) {
		if len(d.names) > 0 {
			newest := d.names[len(d.names)-1]
			d.add("latest", &vnode{link: newest, mtime: d.children[newest].mtime})
		}
	}
	addLatest(all)
	addLatest(ids)
	for _, d := range byHost {
		addLatest(d)
	}
	for _, d := range byTag {
		addLatest(d)
	}
	root.add("snapshots", all)
	root.add("hosts", hosts)
	root.add("tags", tags)
	root.add("ids", ids)
	root.settle()
	return root
}

// snapshotName is sn's time, made unique in d with -1, -2, … (d's
// snapshots are added in time order, so the suffixes are stable).
func snapshotName(d *vnode, sn *snapshot.Snapshot) string {
	base := sn.Time.Format(TimeFormat)
	name := base
	for i := 1; ; i++ {
		if _, ok := d.children[name]; !ok {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// inoOf hashes parts into an inode number (never 0 or 1, the root's).
func inoOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	n := h.Sum64()
	if n <= 1 || n == ^uint64(0) {
		n += 2
	}
	return n
}

// virtualDir is a directory of the view: the root, snapshots/, hosts/,
// hosts/<host>/ and so on.
type virtualDir struct {
	gofs.Inode
	m    *mountFS
	path string
}

var (
	_ gofs.NodeLookuper   = (*virtualDir)(nil)
	_ gofs.NodeReaddirer  = (*virtualDir)(nil)
	_ gofs.NodeGetattrer  = (*virtualDir)(nil)
	_ gofs.NodeGetxattrer = (*virtualDir)(nil)
)

func (d *virtualDir) childPath(name string) string {
	if d.path == "" {
		return name
	}
	return d.path + "/" + name
}

// listingTimeout is how long the kernel may trust the view's entries.
const listingTimeout = time.Second

func (d *virtualDir) attr(v *vnode, out *fuse.Attr) {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 1
	out.Uid, out.Gid = d.m.uid, d.m.gid
	if v != nil {
		t := v.mtime
		out.SetTimes(&t, &t, &t)
	}
}

func (d *virtualDir) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.attr(d.m.current(ctx).at(d.path), &out.Attr)
	out.SetTimeout(listingTimeout)
	return 0
}

func (d *virtualDir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}

func (d *virtualDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	v := d.m.current(ctx).at(d.path)
	if v == nil || v.children[name] == nil {
		out.SetEntryTimeout(listingTimeout)
		return nil, syscall.ENOENT
	}
	c := v.children[name]
	p := d.childPath(name)
	out.SetEntryTimeout(listingTimeout)
	out.SetAttrTimeout(listingTimeout)
	switch {
	case c.link != "":
		l := &latestLink{m: d.m, target: c.link, mtime: c.mtime}
		l.attr(&out.Attr)
		// The target changes with new snapshots: a new inode each time.
		return d.NewInode(ctx, l, gofs.StableAttr{Mode: syscall.S_IFLNK, Ino: inoOf("latest", p, c.link)}), 0
	case c.snap != nil:
		sd := &treeDir{entry: entry{meta: meta{m: d.m, snap: c.snap, ino: inoOf("snapshot", p, c.snap.ID().String())}}, subtree: c.snap.Tree}
		sd.attr(&out.Attr)
		out.SetEntryTimeout(contentTimeout)
		out.SetAttrTimeout(contentTimeout)
		return d.NewInode(ctx, sd, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: sd.ino}), 0
	}
	vd := &virtualDir{m: d.m, path: p}
	vd.attr(c, &out.Attr)
	return d.NewInode(ctx, vd, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf("view", p)}), 0
}

func (d *virtualDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	v := d.m.current(ctx).at(d.path)
	if v == nil {
		return nil, syscall.ENOENT
	}
	entries := make([]fuse.DirEntry, 0, len(v.names))
	for _, name := range v.names {
		c := v.children[name]
		p := d.childPath(name)
		switch {
		case c.link != "":
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: inoOf("latest", p, c.link)})
		case c.snap != nil:
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: inoOf("snapshot", p, c.snap.ID().String())})
		default:
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: inoOf("view", p)})
		}
	}
	return gofs.NewListDirStream(entries), 0
}

// latestLink is a latest symlink of the view.
type latestLink struct {
	gofs.Inode
	m      *mountFS
	target string
	mtime  time.Time
}

var (
	_ gofs.NodeReadlinker = (*latestLink)(nil)
	_ gofs.NodeGetattrer  = (*latestLink)(nil)
)

func (l *latestLink) attr(out *fuse.Attr) {
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Size = uint64(len(l.target))
	out.Uid, out.Gid = l.m.uid, l.m.gid
	out.SetTimes(&l.mtime, &l.mtime, &l.mtime)
}

func (l *latestLink) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.attr(&out.Attr)
	return 0
}

func (l *latestLink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}
