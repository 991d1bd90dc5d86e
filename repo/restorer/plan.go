package restorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Batch bounds: the planner hands a batch on when it holds this many
// files or blob pieces, so a restore of a million files holds the plan of
// a few thousand at a time (about 1 KiB each, with their nodes). Large
// enough that a batch still spreads over every worker.
const (
	maxBatchFiles  = 4096
	maxBatchPieces = 16384
)

// batch is a bounded part of the restore, in tree order: the files to
// write, and what must wait for them (hard links to them, the metadata of
// directories whose walk ended).
type batch struct {
	files []*fileState
	// maybeSkip are files that exist and need a content check (if-changed).
	maybeSkip []*fileState
	// blob → where to read it and where it goes
	blobs  map[pack.ID]*blobWork
	pieces int
	links  []hardlink
	// dirs in the order their walk ended: deepest first.
	dirs []dirMeta
}

func newBatch() *batch { return &batch{blobs: map[pack.ID]*blobWork{}} }

type blobWork struct {
	loc     index.Location
	targets []blobTarget
}

type blobTarget struct {
	file   *fileState
	offset int64
}

type fileState struct {
	path string // absolute target path
	node *snapshot.Node
	size int64
	// lens are the raw lengths of node.Content's blobs.
	lens      []uint32
	remaining atomic.Int64
	failed    atomic.Bool
	create    sync.Once
	createErr error
	// fd is the file, created by the first piece of a file of several,
	// kept open until the last piece (nil: reopened for each piece).
	fd *os.File
	// created says create made the file (read once the writers are done).
	created bool
	// keep says the overwrite policy keeps the existing file, which is
	// only compared to tell unchanged from kept.
	keep bool
	// have marks the pieces the existing file already holds at their
	// offsets (if-changed, a file of several pieces): only the others
	// are read and written, into the file as it is (nil: a new file).
	have []bool
}

func (f *fileState) blobs() int { return len(f.lens) }

// plan walks tree id (at snapPath in the snapshot), creating directories
// and recording the work for files. fresh says dst was just made by this
// restore.
func (rs *restorer) plan(ctx context.Context, sn *snapshot.Snapshot, id pack.ID, snapPath, dst string, fresh bool) error {
	t, err := rs.lim.Load(ctx, rs.r, id)
	if errors.Is(err, snapshot.ErrTreeBomb) {
		return fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err)
	}
	if err != nil {
		rs.report(snapPath, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err))
		return nil
	}
	for _, n := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rs.planErr != nil {
			return rs.planErr
		}
		rs.planNode(ctx, sn, n, path.Join(snapPath, n.Name), filepath.Join(dst, n.Name), fresh)
		if err := rs.maybeFlush(ctx); err != nil {
			return err
		}
	}
	return rs.planErr
}

// planNode plans one node. In a directory this restore just created
// (fresh), nothing can be in the way but what another process put there
// meanwhile, so under the policies that replace files the lstat of each
// file is left out; creation never follows what it finds anyway.
func (rs *restorer) planNode(ctx context.Context, sn *snapshot.Snapshot, n *snapshot.Node, snapPath, dst string, fresh bool) {
	ok, descend := rs.selected(snapPath, n.Type == snapshot.TypeDir)
	if !ok {
		return
	}
	if rs.kept != nil {
		rs.kept[dst] = true
	}
	replace := rs.opts.Overwrite == OverwriteAlways || rs.opts.Overwrite == OverwriteIfChanged
	if n.Type == snapshot.TypeDir && !rs.opts.Include.Empty() && !rs.opts.Include.Match(snapPath) {
		rs.planWayDir(ctx, sn, n, snapPath, dst, fresh, replace)
		return
	}
	if !rs.makeWay() {
		return
	}
	switch n.Type {
	case snapshot.TypeDir:
		made := false
		if !rs.opts.DryRun {
			var err error
			if made, err = rs.tgt.mkdir(dst, replace); err != nil {
				rs.report(dst, err)
				return
			}
		}
		rs.count.dirs.Add(1)
		if descend {
			if err := rs.plan(ctx, sn, *n.Subtree, snapPath, dst, made); err != nil && rs.planErr == nil {
				rs.planErr = err
			}
		}
		rs.cur.dirs = append(rs.cur.dirs, dirMeta{path: dst, node: n})
	case snapshot.TypeFile:
		if n.Links > 1 {
			key := [2]uint64{n.DeviceID, n.Inode}
			if first, ok := rs.inodes[key]; ok {
				rs.cur.links = append(rs.cur.links, hardlink{path: dst, to: first, node: n})
				rs.action("restore", dst)
				return
			}
			rs.inodes[key] = dst
		}
		rs.planFile(n, dst, fresh && replace)
	default:
		if !(fresh && replace) && rs.keepExisting(dst, n) {
			return
		}
		rs.action("restore", dst)
		if rs.opts.DryRun {
			rs.count.others.Add(1)
			return
		}
		if err := rs.createSpecial(n, dst); err != nil {
			rs.report(dst, err)
			return
		}
		rs.count.others.Add(1)
	}
}

// wayDir is a directory on the way to what include patterns match,
// not matched itself: it is created only when something below it is
// restored (made), or not at all; failed says creating it failed (and
// was reported).
type wayDir struct {
	path         string
	node         *snapshot.Node
	replace      bool
	made, failed bool
}

// planWayDir walks directory n, which only leads to what the include
// patterns may match, without creating it: the first node restored below
// it creates it (makeWay), so a restore with --include does not leave
// the snapshot's other directories behind, empty. Its metadata is set
// when it was created. In a fresh parent, the directory will be made by
// this restore, so its children count as fresh too.
func (rs *restorer) planWayDir(ctx context.Context, sn *snapshot.Snapshot, n *snapshot.Node, snapPath, dst string, fresh, replace bool) {
	rs.way = append(rs.way, wayDir{path: dst, node: n, replace: replace})
	if err := rs.plan(ctx, sn, *n.Subtree, snapPath, dst, fresh); err != nil && rs.planErr == nil {
		rs.planErr = err
	}
	w := rs.way[len(rs.way)-1]
	rs.way = rs.way[:len(rs.way)-1]
	if w.made {
		rs.cur.dirs = append(rs.cur.dirs, dirMeta{path: w.path, node: w.node})
	}
}

// makeWay creates the directories on the way to the node about to be
// restored that are not there yet, outermost first; false means one
// could not be made (reported once), so the node can't be restored.
func (rs *restorer) makeWay() bool {
	for i := range rs.way {
		w := &rs.way[i]
		if w.failed {
			return false
		}
		if w.made {
			continue
		}
		if !rs.opts.DryRun {
			if _, err := rs.tgt.mkdir(w.path, w.replace); err != nil {
				w.failed = true
				rs.report(w.path, err)
				return false
			}
		}
		w.made = true
		rs.count.dirs.Add(1)
	}
	return true
}

// keepExisting applies the overwrite policy to dst (a special node) and
// reports whether the existing object stays. if-changed is decided later
// for regular files (content check) and here for others.
func (rs *restorer) keepExisting(dst string, n *snapshot.Node) bool {
	fi, err := rs.tgt.lstat(dst)
	if err != nil || !rs.keep(dst, n, fi) {
		return false
	}
	if rs.sameSpecial(dst, n, fi) {
		rs.unchanged(dst)
	} else {
		rs.keptDifferent(dst)
	}
	return true
}

// keep reports whether the overwrite policy leaves what exists (fi) in
// place of node n. Under if-changed that is only a symlink that already
// points where n does (regular files are compared later, by content).
func (rs *restorer) keep(dst string, n *snapshot.Node, fi stat) bool {
	switch rs.opts.Overwrite {
	case OverwriteNever:
		return true
	case OverwriteIfNewer:
		return !n.ModTime.After(fi.mtime)
	case OverwriteIfChanged:
		return n.Type == snapshot.TypeSymlink && rs.sameSpecial(dst, n, fi)
	}
	return false
}

// sameSpecial reports whether fi, at dst, is already the special node n:
// a symlink to the same target, a device with the same number, a FIFO
// or socket.
func (rs *restorer) sameSpecial(dst string, n *snapshot.Node, fi stat) bool {
	if fi.mode.Type() != n.Mode.Type() {
		return false
	}
	switch n.Type {
	case snapshot.TypeSymlink:
		target, err := rs.tgt.readlink(dst)
		return err == nil && target == n.LinkTarget
	case snapshot.TypeDev, snapshot.TypeCharDev:
		return fi.rdev == n.Rdev
	}
	return true
}

// unchanged counts dst, which already is what the snapshot holds, as
// skipped.
func (rs *restorer) unchanged(dst string) {
	rs.count.skipped.Add(1)
	rs.action("skip", dst)
}

// keptDifferent counts dst as kept: it differs from the snapshot's
// version and the overwrite policy (never, if-newer) leaves it as it is.
func (rs *restorer) keptDifferent(dst string) {
	rs.count.kept.Add(1)
	rs.action("keep", dst)
}

// planFile plans regular file n at dst; noLook leaves out the look at
// what exists there.
func (rs *restorer) planFile(n *snapshot.Node, dst string, noLook bool) {
	f := &fileState{path: dst, node: n, lens: make([]uint32, len(n.Content))}
	rs.locs = rs.locs[:0]
	for i, id := range n.Content {
		loc, ok := rs.locate(id)
		if !ok {
			rs.report(dst, fmt.Errorf("data blob %s: %w: not in index", id.Short(), repo.ErrDamaged))
			return
		}
		rs.locs = append(rs.locs, loc)
		f.lens[i] = loc.RawLength
		f.size += int64(loc.RawLength)
	}
	if !noLook {
		if fi, err := rs.tgt.lstat(dst); err == nil {
			sameSize := fi.mode.IsRegular() && fi.size == f.size
			if rs.keep(dst, n, fi) {
				// Kept either way; its content says whether it is
				// unchanged or kept different.
				if sameSize {
					f.keep = true
					rs.cur.maybeSkip = append(rs.cur.maybeSkip, f)
				} else {
					rs.keptDifferent(dst)
				}
				return
			}
			// A file of several pieces is compared piece by piece
			// whatever its size, so a restore that was interrupted
			// resumes inside it.
			if rs.opts.Overwrite == OverwriteIfChanged && fi.mode.IsRegular() && (sameSize || f.blobs() > 1) {
				rs.cur.maybeSkip = append(rs.cur.maybeSkip, f)
				return
			}
		}
	}
	rs.addFile(rs.cur, f, rs.locs)
}

// addFile schedules a file to be written in b; locs are its blobs'
// locations (nil: look them up).
func (rs *restorer) addFile(b *batch, f *fileState, locs []index.Location) {
	var off int64
	pieces, bytes := 0, int64(0)
	for i, id := range f.node.Content {
		if f.have != nil && f.have[i] {
			off += int64(f.lens[i])
			continue
		}
		pieces++
		bytes += int64(f.lens[i])
		w := b.blobs[id]
		if w == nil {
			var loc index.Location
			if locs != nil {
				loc = locs[i]
			} else {
				loc, _ = rs.locate(id) // found when the file was planned
			}
			w = &blobWork{loc: loc}
			b.blobs[id] = w
		}
		w.targets = append(w.targets, blobTarget{file: f, offset: off})
		off += int64(f.lens[i])
	}
	b.pieces += pieces
	f.remaining.Store(int64(pieces))
	b.files = append(b.files, f)
	rs.count.files.Add(1)
	rs.count.bytes.Add(bytes)
	rs.action("restore", f.path)
	if p := rs.opts.Progress; p != nil {
		p.TotalFiles.Add(1)
		p.TotalBytes.Add(bytes)
	}
}

// maybeFlush hands the current batch on when it is full.
func (rs *restorer) maybeFlush(ctx context.Context) error {
	b := rs.cur
	if len(b.files)+len(b.maybeSkip) < maxBatchFiles && b.pieces < maxBatchPieces {
		return nil
	}
	return rs.flush(ctx)
}

// flush settles the if-changed files of the current batch and hands it to
// the writer; it waits while the writer is a batch behind.
func (rs *restorer) flush(ctx context.Context) error {
	b := rs.cur
	rs.cur = newBatch()
	if err := rs.checkExisting(ctx, b); err != nil {
		return err
	}
	if rs.opts.DryRun {
		return nil
	}
	select {
	case rs.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkExisting hashes files that exist with the right size (--overwrite
// if-changed, and those the policy keeps) in parallel; those whose content
// matches are skipped, so an interrupted restore resumes where it stopped.
func (rs *restorer) checkExisting(ctx context.Context, b *batch) error {
	if len(b.maybeSkip) == 0 {
		return nil
	}
	same := make([]bool, len(b.maybeSkip))
	have := make([][]bool, len(b.maybeSkip))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	for i, f := range b.maybeSkip {
		g.Go(func() error {
			h, size, err := rs.matchPieces(gctx, f, f.keep)
			if err != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			if err != nil {
				return nil
			}
			same[i] = size == f.size && !slices.Contains(h, false)
			if slices.Contains(h, true) && f.blobs() > 1 {
				have[i] = h
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, f := range b.maybeSkip {
		switch {
		case same[i]:
			rs.unchanged(f.path)
		case f.keep:
			rs.keptDifferent(f.path)
		default:
			f.have = have[i]
			rs.addFile(b, f, nil)
		}
	}
	b.maybeSkip = nil
	return nil
}

// matches reads the file at f.path and compares it, piece by piece, with
// the blob IDs of the snapshot's version.
func (rs *restorer) matches(ctx context.Context, f *fileState) (bool, error) {
	have, size, err := rs.matchPieces(ctx, f, true)
	return err == nil && size == f.size && !slices.Contains(have, false), err
}

// matchPieces reads the file at f.path at the offset of each piece of the
// snapshot's version and tells which pieces it already holds (their bytes
// hash to the blob ID), and its size. Pieces past its end don't match;
// firstOnly stops at the first piece that does not.
func (rs *restorer) matchPieces(ctx context.Context, f *fileState, firstOnly bool) ([]bool, int64, error) {
	file, err := rs.tgt.openRead(f.path)
	if err != nil {
		return nil, 0, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, 0, err
	}
	have := make([]bool, len(f.node.Content))
	h := rs.r.Key().NewIDHasher()
	var buf []byte
	var off int64
	for i, id := range f.node.Content {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		n := int(f.lens[i])
		if off+int64(n) > fi.Size() {
			break
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		if _, err := file.ReadAt(buf[:n], off); err != nil {
			return nil, 0, err
		}
		have[i] = pack.ID(h.Sum(buf[:n])) == id
		if !have[i] && firstOnly {
			break
		}
		off += int64(n)
	}
	return have, fi.Size(), nil
}
