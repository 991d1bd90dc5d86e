package archiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cairn-backup/cairn/chunker"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// dirJob is a directory whose tree is being built. pending counts the
// children still being saved plus one for the walker's listing; the
// goroutine that brings it to zero encodes and saves the tree.
type dirJob struct {
	a      *archiver
	parent *dirJob
	node   *snapshot.Node // nil for the root
	pnode  *snapshot.Node
	path   string
	// virtual marks a directory on the way to a backup target: it is
	// stored but not counted in the summary, which speaks of the user's
	// data only.
	virtual bool
	// prev and ptree are the directory's tree in the parent snapshot, if
	// it could be read: when the new nodes are the same, prev is the new
	// tree's ID too.
	prev  *pack.ID
	ptree *snapshot.Tree

	mu      sync.Mutex
	nodes   []*snapshot.Node
	pending atomic.Int64
}

func (d *dirJob) subdir(node *snapshot.Node, p string, pnode *snapshot.Node) *dirJob {
	d.add(node)
	d.pending.Add(1)
	c := &dirJob{a: d.a, parent: d, node: node, pnode: pnode, path: p}
	c.pending.Store(1)
	return c
}

func (d *dirJob) add(n *snapshot.Node) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodes = append(d.nodes, n)
	return len(d.nodes) - 1
}

func (d *dirJob) drop(slot int) {
	d.mu.Lock()
	d.nodes[slot] = nil
	d.mu.Unlock()
}

// done marks one child (or the listing) finished.
func (d *dirJob) done(ctx context.Context) {
	if d.pending.Add(-1) != 0 {
		return
	}
	a := d.a
	if ctx.Err() != nil {
		return
	}
	t := &snapshot.Tree{Nodes: make([]*snapshot.Node, 0, len(d.nodes))}
	for _, n := range d.nodes {
		if n != nil {
			t.Nodes = append(t.Nodes, n)
		}
	}
	id, err := d.save(ctx, t)
	if err != nil {
		a.fail(fmt.Errorf("save tree %s: %w", d.path, err))
		return
	}
	if d.parent == nil {
		a.rootID = id
		return
	}
	switch {
	case d.virtual:
	case d.pnode == nil || d.pnode.Subtree == nil:
		a.dirsNew.Add(1)
	case *d.pnode.Subtree == id:
		a.dirsUnmodified.Add(1)
	default:
		a.dirsChanged.Add(1)
	}
	d.node.Subtree = &id
	d.parent.done(ctx)
}

// save stores the directory's tree t, or keeps the parent snapshot's
// when t's nodes are the same and its blobs are stored in this backup's
// generation: SaveTree would encode the same bytes to the same ID and
// find them stored.
func (d *dirJob) save(ctx context.Context, t *snapshot.Tree) (pack.ID, error) {
	a := d.a
	t.Sort()
	if d.prev != nil && d.ptree != nil && snapshot.SameNodes(t.Nodes, d.ptree.Nodes) && a.treeStored(*d.prev, d.ptree.Parts) {
		return *d.prev, nil
	}
	var s *repo.Saver
	select {
	case s = <-a.savers:
	default:
		s = a.r.NewSaver()
	}
	id, err := snapshot.SaveTree(ctx, s, t, a.opts.Generation)
	select {
	case a.savers <- s:
	default:
	}
	return id, err
}

// treeStored reports whether tree blob id and its parts are stored in the
// generation this backup writes to.
func (a *archiver) treeStored(id pack.ID, parts []pack.ID) bool {
	idx := a.r.Index()
	for _, p := range append([]pack.ID{id}, parts...) {
		if !idx.Has(pack.BlobHandle{ID: p, Type: pack.TreeBlob}, a.opts.Generation) {
			return false
		}
	}
	return true
}

// fileJob is a file being read and stored. pending counts the chunks in
// flight plus one for the reader.
type fileJob struct {
	dir     *dirJob
	slot    int
	node    *snapshot.Node
	path    string
	changed bool
	pnode   *snapshot.Node
	reader  io.Reader // stdin instead of path

	mu      sync.Mutex
	ids     []pack.ID
	size    uint64
	err     error
	pending atomic.Int64
}

func (f *fileJob) done(ctx context.Context) {
	if f.pending.Add(-1) != 0 {
		return
	}
	a := f.dir.a
	a.opts.Progress.fileDone(0, true)
	if f.err != nil && ctx.Err() != nil {
		// The backup failed (a full disk, the lock lost) or was
		// interrupted: the file was cut short by that, which is
		// reported once, not as a file that could not be read.
		f.dir.drop(f.slot)
	} else if f.err != nil {
		if f.keepParent() {
			a.report(f.path, fmt.Errorf("%w; kept its earlier version from the parent snapshot", f.err))
			a.filesUnmodified.Add(1)
		} else {
			a.report(f.path, fmt.Errorf("%w; not in this snapshot", f.err))
			f.dir.drop(f.slot)
		}
	} else {
		f.node.Content = f.ids
		f.node.Size = f.size
		if f.changed {
			a.filesChanged.Add(1)
		} else {
			a.filesNew.Add(1)
		}
		a.totalBytes.Add(int64(f.size))
	}
	f.dir.done(ctx)
}

// keepParent falls back to the parent's version of a file that could not
// be read completely, when that version is stored in this generation; the
// error message says so.
func (f *fileJob) keepParent() bool {
	p := f.pnode
	a := f.dir.a
	if p == nil || p.Type != snapshot.TypeFile || !a.haveAll(p.Content) {
		return false
	}
	*f.node = *p
	return true
}

type chunkJob struct {
	file *fileJob
	i    int
	data []byte
}

// getBuf and putBuf recycle chunk buffers through a bounded free list
// (not a sync.Pool, which a GC empties and which then reallocates them).
// A new buffer holds 2 MiB: most chunks fit (the chunker's average is
// 1 MiB), where at 1 MiB the chunker grew and copied it for every chunk
// above the average (0.3 CPU-s of a 1 GB backup).
func (a *archiver) getBuf() []byte {
	select {
	case b := <-a.bufs:
		return b[:0]
	default:
		return make([]byte, 0, 2<<20)
	}
}

func (a *archiver) putBuf(b []byte) {
	if cap(b) > 4<<20 {
		// Rare big chunks are left to the GC, so the free list doesn't
		// fill up with maximum-size buffers.
		return
	}
	select {
	case a.bufs <- b[:0]:
	default:
	}
}

func (a *archiver) fileReader(ctx context.Context) {
	ch := a.r.NewChunker()
	for fj := range a.files {
		if ctx.Err() != nil {
			fj.done(ctx)
			continue
		}
		if err := a.readFile(ctx, ch, fj); err != nil {
			fj.mu.Lock()
			if fj.err == nil {
				fj.err = err
			}
			fj.mu.Unlock()
		}
		fj.done(ctx)
	}
}

// readFile reads one file and sends its chunks to the blob workers.
func (a *archiver) readFile(ctx context.Context, ch *chunker.Chunker, fj *fileJob) error {
	a.opts.Progress.setCurrent(fj.path)
	if fj.reader != nil {
		ch.Reset(fj.reader)
		return a.chunkAll(ctx, ch, fj)
	}
	f, err := openNoFollow(fj.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := a.readContent(ctx, ch, fj, f); err != nil {
		return err
	}
	// A file written to while we read it may be stored torn: compare its
	// metadata now with what lstat said before.
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if st, ok := sysStat(fi); ok {
		n := fj.node
		if uint64(fi.Size()) != n.Size || !fi.ModTime().Equal(n.ModTime) ||
			!st.ctime.Equal(n.ChangeTime) || fj.size != n.Size {
			return ErrChanged
		}
	}
	return nil
}

// ErrChanged reports a file that changed while it was being read.
var ErrChanged = errors.New("file changed while being read")

func (a *archiver) readContent(ctx context.Context, ch *chunker.Chunker, fj *fileJob, f *os.File) error {
	var r io.Reader = f
	if fj.node.Size < uint64(ch.MinSize()) {
		// Small file: one read, one chunk, no chunker.
		buf := a.getBuf()
		want := int(fj.node.Size) + 1
		if cap(buf) < want {
			buf = make([]byte, 0, want)
		}
		n, err := io.ReadFull(f, buf[:want])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return a.sendChunk(ctx, fj, buf[:n])
		}
		if err != nil {
			a.putBuf(buf)
			return err
		}
		// The file grew since lstat: chunk what we read and the rest.
		head := bytes.Clone(buf[:n])
		a.putBuf(buf)
		r = io.MultiReader(bytes.NewReader(head), f)
	}
	ch.Reset(r)
	return a.chunkAll(ctx, ch, fj)
}

// chunkAll sends every chunk of the chunker's stream to the blob workers.
func (a *archiver) chunkAll(ctx context.Context, ch *chunker.Chunker, fj *fileJob) error {
	for {
		buf, err := ch.Next(a.getBuf())
		if err == io.EOF {
			a.putBuf(buf)
			return nil
		}
		if err != nil {
			a.putBuf(buf)
			return err
		}
		if err := a.sendChunk(ctx, fj, buf); err != nil {
			return err
		}
	}
}

func (a *archiver) sendChunk(ctx context.Context, fj *fileJob, data []byte) error {
	fj.mu.Lock()
	fj.ids = append(fj.ids, pack.ID{})
	i := len(fj.ids) - 1
	fj.size += uint64(len(data))
	fj.mu.Unlock()
	a.bytesRead.Add(int64(len(data)))
	a.opts.Progress.addBytes(int64(len(data)))
	fj.pending.Add(1)
	select {
	case a.chunks <- chunkJob{file: fj, i: i, data: data}:
		return nil
	case <-ctx.Done():
		fj.pending.Add(-1)
		return context.Cause(ctx)
	}
}

func (a *archiver) blobWorker(ctx context.Context) {
	s := a.r.NewSaver()
	for cj := range a.chunks {
		// A second chunk waiting is taken along: the IDs of two chunks
		// are hashed in step (Saver.IDPair), at about the cost of one.
		select {
		case next, ok := <-a.chunks:
			if ok {
				id, nextID := s.IDPair(cj.data, next.data)
				a.saveChunk(ctx, s, cj, id)
				a.saveChunk(ctx, s, next, nextID)
				continue
			}
		default:
		}
		a.saveChunk(ctx, s, cj, s.ID(cj.data))
	}
}

// saveChunk stores chunk cj, whose ID is id, and hands its buffer back.
func (a *archiver) saveChunk(ctx context.Context, s *repo.Saver, cj chunkJob, id pack.ID) {
	_, _, err := s.SaveWithID(ctx, pack.DataBlob, id, cj.data, a.opts.Generation)
	a.putBuf(cj.data)
	if err != nil {
		// The error names the blob store's file (a pack's temporary
		// file, a repository file): the source file whose chunk was
		// being saved has nothing to do with it.
		a.fail(fmt.Errorf("backup: store data: %w", err))
	} else {
		cj.file.mu.Lock()
		cj.file.ids[cj.i] = id
		cj.file.mu.Unlock()
	}
	cj.file.done(ctx)
}
