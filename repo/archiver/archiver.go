package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/chunker"
	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Options configure one backup.
type Options struct {
	Paths    []string
	Excludes *snapshot.Matcher
	// ExcludeLargerThan skips files larger than this many bytes (0: none).
	ExcludeLargerThan int64
	// ExcludeCaches backs up only the CACHEDIR.TAG of a tagged directory.
	ExcludeCaches bool
	// ExcludeIfPresent backs up only the marker file of a directory that
	// contains one of these names.
	ExcludeIfPresent []string
	// Rescan reads every file even if it is unchanged against Parent.
	Rescan bool
	// Stdin, if set, is backed up as one file named StdinFilename instead
	// of Paths.
	Stdin         io.Reader
	StdinFilename string
	// Progress, if set, is updated as the backup goes.
	Progress      *Progress
	OneFileSystem bool
	Tags          []string
	Hostname      string
	// Parent is the snapshot trusted for change detection (nil: read all).
	Parent     *snapshot.Snapshot
	Kind       snapshot.Kind
	Generation pack.Generation
	// IgnoreCtime and IgnoreInode relax change detection.
	IgnoreCtime, IgnoreInode bool
	// Time is the snapshot time (zero: now).
	Time time.Time
	// Readers and Workers size the pipeline (0: defaults).
	Readers, Workers int
	// OnError is told of each source file that could not be read; the
	// backup goes on without it. Called from several goroutines.
	OnError func(path string, err error)
	// Program is recorded in the snapshot.
	Program string
	// SkipIfUnchanged writes no snapshot when the new one would have the
	// paths of Parent and the same tree at each of them (nothing changed,
	// metadata included; the directories above them don't count): Run
	// then returns the snapshot it did not write, without an ID, its
	// Summary.Skipped set and Parent naming the snapshot that stands for
	// it (restic's --skip-if-unchanged).
	SkipIfUnchanged bool
	// BeforeSnapshot is called after all data is stored and indexed and
	// before the snapshot is written (e.g. to check the lock); an error
	// stops the backup without a snapshot.
	BeforeSnapshot func(context.Context) error
}

type archiver struct {
	r     Repository
	opts  Options
	names names

	files  chan *fileJob
	chunks chan chunkJob
	bufs   chan []byte
	// savers for tree blobs: a bounded free list, so a GC can't drop
	// their zstd encoders.
	savers chan *repo.Saver
	cancel context.CancelCauseFunc

	filesNew, filesChanged, filesUnmodified atomic.Int64
	dirsNew, dirsChanged, dirsUnmodified    atomic.Int64
	bytesRead, totalBytes, totalFiles       atomic.Int64
	errors                                  atomic.Int64

	rootID pack.ID

	// Parent trees are loaded ahead of the walker, a few at a time.
	prefetchMu  sync.Mutex
	prefetched  map[pack.ID]*treeFuture
	prefetchSem chan struct{}
}

type treeFuture struct {
	done chan struct{}
	tree *snapshot.Tree
}

// prefetch starts loading the parent trees of the subdirectories in t.
func (a *archiver) prefetch(ctx context.Context, t *snapshot.Tree) {
	if t == nil {
		return
	}
	for _, n := range t.Nodes {
		if n.Type != snapshot.TypeDir || n.Subtree == nil {
			continue
		}
		id := *n.Subtree
		a.prefetchMu.Lock()
		if _, ok := a.prefetched[id]; ok {
			a.prefetchMu.Unlock()
			continue
		}
		f := &treeFuture{done: make(chan struct{})}
		a.prefetched[id] = f
		a.prefetchMu.Unlock()
		select {
		case a.prefetchSem <- struct{}{}:
			go func() {
				defer func() { <-a.prefetchSem }()
				f.tree, _ = snapshot.LoadTree(ctx, a.r, id)
				close(f.done)
			}()
		default:
			// Enough loads running; the walker loads this one itself.
			a.prefetchMu.Lock()
			delete(a.prefetched, id)
			a.prefetchMu.Unlock()
		}
	}
}

// Run backs up opts.Paths into r and writes the snapshot. Source files that
// can't be read are reported through opts.OnError and counted in the
// summary's Errors; the snapshot is written without them. With
// opts.SkipIfUnchanged an unchanged backup writes no snapshot.
func Run(ctx context.Context, r Repository, opts Options) (*snapshot.Snapshot, error) {
	start := time.Now()
	if len(opts.Paths) == 0 && opts.Stdin == nil {
		return nil, errors.New("backup: no source paths given")
	}
	if opts.Stdin != nil && !snapshot.ValidName(opts.StdinFilename) {
		return nil, fmt.Errorf("backup: invalid --stdin-filename %q: want a plain file name", opts.StdinFilename)
	}
	// A source that is missing (an unmounted disk) is reported and left
	// out; the others are backed up (exit 3, as restic). The snapshot
	// still records every path asked for, so it stays in the group of
	// its host and paths for parent choice and retention.
	targets := make([]string, 0, len(opts.Paths))
	var missing []sourceError
	for _, p := range opts.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", p, err)
		}
		if _, err := lstat(abs); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = ErrSourceMissing
			}
			missing = append(missing, sourceError{abs, err})
		}
		targets = append(targets, abs)
	}
	if opts.Stdin == nil && len(missing) == len(targets) {
		return nil, fmt.Errorf("backup %s: %w", missing[0].path, missing[0].err)
	}
	if opts.Readers <= 0 {
		opts.Readers = 2
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Kind == "" {
		opts.Kind = snapshot.Incremental
	}
	if opts.Time.IsZero() {
		opts.Time = r.Now()
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &archiver{
		r: r, opts: opts, cancel: cancel,
		names:  names{users: map[uint32]string{}, groups: map[uint32]string{}},
		files:  make(chan *fileJob, 64),
		chunks: make(chan chunkJob, opts.Workers),
		bufs:   make(chan []byte, 2*opts.Workers+opts.Readers),

		prefetched:  map[pack.ID]*treeFuture{},
		prefetchSem: make(chan struct{}, 4),
	}
	a.savers = make(chan *repo.Saver, opts.Workers+opts.Readers+1)
	walked := targets
	if len(missing) > 0 && opts.Stdin == nil {
		walked = nil
		for _, t := range targets {
			if !slices.ContainsFunc(missing, func(m sourceError) bool { return m.path == t }) {
				walked = append(walked, t)
			}
		}
		for _, m := range missing {
			a.report(m.path, m.err)
		}
	}
	// The upload session flushes packs, then the index, when the walk
	// is done; the snapshot is written after it.
	var before repo.Stats
	err := r.WithUploader(ctx, func(ctx context.Context) error {
		before = r.Stats()
		return a.walk(ctx, opts, &walked)
	})
	if opts.Stdin != nil {
		targets = walked
	}
	if cause := context.Cause(ctx); cause != nil {
		return nil, cause
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	if a.rootID.IsNull() {
		return nil, errors.New("backup: internal error: root tree not saved")
	}
	st := r.Stats()
	st.DataAdded -= before.DataAdded
	st.TreeAdded -= before.TreeAdded
	st.DataStored -= before.DataStored
	st.TreeStored -= before.TreeStored
	st.DataBlobs -= before.DataBlobs
	st.TreeBlobs -= before.TreeBlobs
	sn := &snapshot.Snapshot{
		Time: opts.Time, Tree: a.rootID, Paths: targets, Hostname: opts.Hostname,
		Tags: opts.Tags, Kind: opts.Kind, Generation: opts.Generation, Program: opts.Program,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Summary: &snapshot.Summary{
			FilesNew: a.filesNew.Load(), FilesChanged: a.filesChanged.Load(), FilesUnmodified: a.filesUnmodified.Load(),
			DirsNew: a.dirsNew.Load(), DirsChanged: a.dirsChanged.Load(), DirsUnmodified: a.dirsUnmodified.Load(),
			BytesRead: a.bytesRead.Load(), BytesAdded: st.DataAdded + st.TreeAdded, BytesStored: st.DataStored + st.TreeStored,
			BlobsAdded: st.DataBlobs + st.TreeBlobs, TotalFiles: a.totalFiles.Load(), TotalBytes: a.totalBytes.Load(),
			Errors: a.errors.Load(), Duration: time.Since(start),
		},
	}
	// Carry when this generation's full backup and its newest
	// differential were made, so a schedule can tell after retention
	// removed those snapshots.
	if opts.Parent != nil && sn.Kind != snapshot.Full {
		if t := opts.Parent.FullTime(); !t.IsZero() {
			sn.GenerationFullTime = &t
		}
		if t := opts.Parent.DiffTime(); !t.IsZero() && sn.Kind == snapshot.Incremental {
			sn.LastDifferentialTime = &t
		}
	}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}
	if opts.Excludes != nil {
		sn.Excludes = nil
	}
	if opts.Parent != nil {
		pid := opts.Parent.ID()
		sn.Parent = &pid
	}
	if opts.SkipIfUnchanged && unchanged(ctx, r, opts.Parent, sn.Tree, sn.Paths) {
		sn.Summary.Skipped = true
		return sn, nil
	}
	if r.DryRun() {
		return sn, nil
	}
	if opts.BeforeSnapshot != nil {
		if err := opts.BeforeSnapshot(ctx); err != nil {
			return nil, fmt.Errorf("backup: no snapshot written: %w", err)
		}
	}
	if err := snapshot.Save(ctx, r, sn); err != nil {
		return nil, err
	}
	return sn, nil
}

// ErrSourceMissing is a source path that does not exist.
var ErrSourceMissing = errors.New("source does not exist")

// sourceError is a source path that can't be looked at.
type sourceError struct {
	path string
	err  error
}

// backupStdin stores the stream opts.Stdin as the one file of the root.
func (a *archiver) backupStdin(ctx context.Context, root *dirJob, pnode *snapshot.Node) {
	now := a.opts.Time
	node := &snapshot.Node{Name: a.opts.StdinFilename, Type: snapshot.TypeFile, Mode: 0o644,
		ModTime: now, AccessTime: now, ChangeTime: now, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	node.User, node.Group = a.names.user(node.UID), a.names.group(node.GID)
	a.totalFiles.Add(1)
	slot := root.add(node)
	fj := &fileJob{dir: root, slot: slot, node: node, path: "stdin", changed: pnode != nil, reader: a.opts.Stdin}
	fj.pending.Store(1)
	root.pending.Add(1)
	select {
	case a.files <- fj:
	case <-ctx.Done():
	}
}

// report records a source file that could not be backed up.
func (a *archiver) report(path string, err error) {
	a.errors.Add(1)
	if a.opts.Progress != nil {
		a.opts.Progress.Errors.Add(1)
	}
	if a.opts.OnError != nil {
		a.opts.OnError(path, err)
	}
}

func (a *archiver) fail(err error) { a.cancel(err) }

// loadTree loads a parent tree; a parent that can't be read only means its
// files are read again.
func (a *archiver) loadTree(ctx context.Context, id *pack.ID) *snapshot.Tree {
	if id == nil {
		return nil
	}
	a.prefetchMu.Lock()
	f, ok := a.prefetched[*id]
	delete(a.prefetched, *id)
	a.prefetchMu.Unlock()
	if ok {
		select {
		case <-f.done:
			if f.tree != nil {
				return f.tree
			}
		case <-ctx.Done():
			return nil
		}
	}
	t, err := snapshot.LoadTree(ctx, a.r, *id)
	if err != nil {
		return nil
	}
	a.prefetch(ctx, t)
	return t
}

// vnode is a directory on the way from / to the backup targets.
type vnode struct {
	children map[string]*vnode
	target   bool
}

func buildVirtual(targets []string) *vnode {
	root := &vnode{children: map[string]*vnode{}}
	for _, t := range targets {
		v := root
		if t == "/" {
			root.target = true
			continue
		}
		sp, _ := snapshot.SlashPath(runtime.GOOS, t)
		for _, part := range strings.Split(strings.Trim(sp, "/"), "/") {
			c := v.children[part]
			if c == nil {
				c = &vnode{children: map[string]*vnode{}}
				v.children[part] = c
			}
			v = c
		}
		v.target = true
	}
	return root
}

// walkVirtual walks the directories above the backup's targets; dir is
// the snapshot path of v (with /), which names a directory of this system
// through snapshot.OSPath (the same path on Unix; /C/Users is C:\Users on
// Windows).
func (a *archiver) walkVirtual(ctx context.Context, d *dirJob, v *vnode, dir string, ptree *snapshot.Tree) {
	if v.target {
		// "/" itself is a target: walk the whole filesystem root.
		a.walkDir(ctx, d, dir, ptree, 0)
		return
	}
	for _, name := range slices.Sorted(mapKeys(v.children)) {
		if ctx.Err() != nil {
			return
		}
		c := v.children[name]
		sp := path.Join(dir, name)
		p, real := snapshot.OSPath(runtime.GOOS, sp)
		if !real {
			// /UNC and /UNC/server on Windows: no directory to stat.
			node := &snapshot.Node{Name: name, Type: snapshot.TypeDir, Mode: fs.ModeDir | 0o755}
			child := d.subdir(node, sp, findNode(ptree, name))
			child.virtual = true
			a.walkVirtual(ctx, child, c, sp, child.previous(ctx))
			child.done(ctx)
			continue
		}
		fi, err := lstat(p)
		if err != nil {
			a.report(p, err)
			continue
		}
		pnode := findNode(ptree, name)
		if c.target {
			var dev uint64
			if st, ok := sysStat(fi); ok {
				dev = st.dev
			}
			a.processEntry(ctx, d, p, name, fi, pnode, dev)
			continue
		}
		node := a.nodeFromInfo(name, fi)
		keepAtime(node, pnode)
		a.xattrs(p, node, pnode)
		child := d.subdir(node, p, pnode)
		child.virtual = true
		a.walkVirtual(ctx, child, c, sp, child.previous(ctx))
		child.done(ctx)
	}
}

func mapKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func findNode(t *snapshot.Tree, name string) *snapshot.Node {
	if t == nil {
		return nil
	}
	return t.Find(name)
}

// previous loads the directory's tree in the parent snapshot and keeps it
// for the directory's save.
func (d *dirJob) previous(ctx context.Context) *snapshot.Tree {
	if t := d.a.subtree(ctx, d.pnode); t != nil {
		d.prev, d.ptree = d.pnode.Subtree, t
		return t
	}
	return nil
}

func (a *archiver) subtree(ctx context.Context, pnode *snapshot.Node) *snapshot.Tree {
	if pnode == nil || pnode.Type != snapshot.TypeDir {
		return nil
	}
	return a.loadTree(ctx, pnode.Subtree)
}

// processEntry adds one filesystem object below directory d.
func (a *archiver) processEntry(ctx context.Context, d *dirJob, p, name string, fi fs.FileInfo, pnode *snapshot.Node, dev uint64) {
	node := a.nodeFromInfo(name, fi)
	keepAtime(node, pnode)
	a.xattrs(p, node, pnode)
	switch node.Type {
	case snapshot.TypeDir:
		child := d.subdir(node, p, pnode)
		if a.opts.OneFileSystem && dev != 0 && node.DeviceID != dev {
			child.done(ctx)
			return
		}
		a.walkDir(ctx, child, p, child.previous(ctx), dev)
		child.done(ctx)
	case snapshot.TypeFile:
		if a.opts.ExcludeLargerThan > 0 && fi.Size() > a.opts.ExcludeLargerThan {
			return
		}
		a.totalFiles.Add(1)
		slot := d.add(node)
		if !a.opts.Rescan && a.unchanged(node, pnode) && a.haveAll(pnode.Content) {
			node.Content = pnode.Content
			// Reading a file moves only its atime; keeping the parent's
			// keeps the tree of an unchanged directory identical, so it
			// is not stored again.
			node.AccessTime = pnode.AccessTime
			a.filesUnmodified.Add(1)
			a.totalBytes.Add(int64(node.Size))
			a.opts.Progress.fileDone(int64(node.Size), false)
			return
		}
		fj := &fileJob{dir: d, slot: slot, node: node, path: p, changed: pnode != nil, pnode: pnode}
		fj.pending.Store(1)
		d.pending.Add(1)
		select {
		case a.files <- fj:
		case <-ctx.Done():
		}
	case snapshot.TypeSymlink:
		target, err := readlink(p)
		if err != nil {
			a.report(p, err)
			return
		}
		node.LinkTarget = target
		d.add(node)
	case "":
		a.report(p, fmt.Errorf("unsupported file type %s", fi.Mode().Type()))
	default:
		d.add(node)
	}
}

// keepAtime keeps the parent's atime for an object whose other metadata
// is unchanged: the backup itself moved the atime (listing a directory,
// reading a link), and keeping the old one keeps an unchanged directory's
// tree ID, so it is not stored again.
func keepAtime(node, pnode *snapshot.Node) {
	if pnode != nil && pnode.Type == node.Type && pnode.ModTime.Equal(node.ModTime) &&
		pnode.ChangeTime.Equal(node.ChangeTime) && pnode.Inode == node.Inode {
		node.AccessTime = pnode.AccessTime
	}
}

// haveAll reports whether every blob of a parent's file is stored in the
// generation this backup writes to.
func (a *archiver) haveAll(ids []pack.ID) bool {
	idx := a.r.Index()
	for _, id := range ids {
		if !idx.Has(pack.BlobHandle{ID: id, Type: pack.DataBlob}, a.opts.Generation) {
			return false
		}
	}
	return true
}

// walkDir lists directory p and processes its entries into d.
func (a *archiver) walkDir(ctx context.Context, d *dirJob, p string, ptree *snapshot.Tree, dev uint64) {
	names, err := a.opts.listDir(p)
	if err != nil {
		a.report(p, err)
		if names == nil {
			return
		}
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		cp := filepath.Join(p, name)
		if a.opts.Excludes.Match(filepath.ToSlash(cp)) {
			continue
		}
		fi, err := lstat(cp)
		if err != nil {
			a.report(cp, err)
			continue
		}
		a.processEntry(ctx, d, cp, name, fi, findNode(ptree, name), dev)
	}
}

// walk backs up the sources: it walks them, feeds the readers and blob
// workers and waits for them; the caller's upload session flushes.
func (a *archiver) walk(ctx context.Context, opts Options, targets *[]string) error {
	var parentTree *snapshot.Tree
	if opts.Parent != nil {
		parentTree = a.loadTree(ctx, &opts.Parent.Tree)
	}

	var readers, workers sync.WaitGroup
	for range opts.Readers {
		readers.Go(func() { a.fileReader(ctx) })
	}
	for range opts.Workers {
		workers.Go(func() { a.blobWorker(ctx) })
	}
	root := &dirJob{a: a}
	if parentTree != nil {
		root.prev, root.ptree = &opts.Parent.Tree, parentTree
	}
	root.pending.Store(1)
	if opts.Stdin != nil {
		*targets = []string{"/" + opts.StdinFilename}
		a.backupStdin(ctx, root, findNode(parentTree, opts.StdinFilename))
	} else {
		if opts.Progress != nil {
			go a.scan(ctx, *targets)
		}
		a.walkVirtual(ctx, root, buildVirtual(*targets), "/", parentTree)
	}
	root.done(ctx)
	close(a.files)
	readers.Wait()
	close(a.chunks)
	workers.Wait()
	return context.Cause(ctx)
}

// Repository is what a backup needs of an opened repository: its clock
// and mode, the index to find what is stored, savers and chunkers for
// what isn't, the uploader they write through, and the snapshot and tree
// files. *repo.Repository is one.
type Repository interface {
	snapshot.Files
	snapshot.BlobLoader
	Now() time.Time
	DryRun() bool
	Index() *index.Index
	NewChunker() *chunker.Chunker
	NewSaver() *repo.Saver
	WithUploader(ctx context.Context, fn func(ctx context.Context) error) error
	Stats() repo.Stats
}
