// Package restorer restores snapshots: selecting nodes, planning reads pack
// by pack, writing files at their offsets from several workers, then
// setting metadata (directories last, after their contents).
package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Options configure a restore.
type Options struct {
	// Include and Exclude select nodes by their path in the snapshot.
	Include, Exclude *snapshot.Matcher
	// Workers is the number of packs read at once (0: default).
	Workers int
	// OnError is told of each file or object that could not be restored;
	// the restore goes on. Called from several goroutines.
	OnError func(path string, err error)
}

// Stats counts what a restore did.
type Stats struct {
	Files, Dirs, Others int64
	Bytes               int64
	Errors              int64
}

type fileState struct {
	path      string // absolute target path
	snapPath  string
	node      *snapshot.Node
	size      int64
	blobs     int
	remaining atomic.Int64
	failed    atomic.Bool
	create    sync.Once
	createErr error
}

type blobTarget struct {
	file   *fileState
	offset int64
}

type restorer struct {
	r      *repo.Repository
	gen    pack.Generation
	opts   Options
	target string
	stats  Stats
	errs   atomic.Int64

	files []*fileState
	dirs  []dirMeta
	links []hardlink
	// blob → where it goes
	blobs map[pack.ID][]blobTarget
	// inode key → first restored path
	inodes map[[2]uint64]string
}

type dirMeta struct {
	path string
	node *snapshot.Node
}

type hardlink struct {
	path, to string
	node     *snapshot.Node
}

// ErrPartial means some files could not be restored (reported via OnError).
var ErrPartial = errors.New("restore incomplete")

// Restore writes the subtree at snapPath of sn into target. The target
// directory is created if missing.
func Restore(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, snapPath, target string, opts Options) (Stats, error) {
	if opts.Workers <= 0 {
		opts.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return Stats{}, fmt.Errorf("restore target %s: %w", target, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return Stats{}, fmt.Errorf("restore target %s: %w", target, err)
	}
	node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, snapPath)
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err)
	}
	rs := &restorer{r: r, opts: opts, target: abs, gen: sn.Generation, blobs: map[pack.ID][]blobTarget{}, inodes: map[[2]uint64]string{}}
	if node.Type == snapshot.TypeDir {
		if err := rs.plan(ctx, sn, *node.Subtree, clean, abs); err != nil {
			return rs.stats, err
		}
	} else {
		rs.planNode(ctx, sn, node, clean, filepath.Join(abs, node.Name))
	}
	if err := rs.writeContent(ctx); err != nil {
		return rs.stats, err
	}
	rs.finish()
	rs.stats.Errors = rs.errs.Load()
	if rs.stats.Errors > 0 {
		return rs.stats, fmt.Errorf("%w: %d errors", ErrPartial, rs.stats.Errors)
	}
	return rs.stats, nil
}

// locate picks where to read a data blob from: its copy in the snapshot's
// own generation, which a full backup guarantees to exist independent of
// older packs, or else any copy.
func (rs *restorer) locate(id pack.ID) (index.Location, bool) {
	h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
	if loc, ok := rs.r.Index().Lookup(h, rs.gen); ok {
		return loc, true
	}
	locs := rs.r.Index().LookupAny(h)
	if len(locs) == 0 {
		return index.Location{}, false
	}
	return locs[0], true
}

func (rs *restorer) report(p string, err error) {
	rs.errs.Add(1)
	if rs.opts.OnError != nil {
		rs.opts.OnError(p, err)
	}
}

// selected reports whether snapPath is to be restored, and whether to
// descend into it if it is a directory.
func (rs *restorer) selected(snapPath string, dir bool) (restore, descend bool) {
	if rs.opts.Exclude.Match(snapPath) {
		return false, false
	}
	if rs.opts.Include.Empty() || rs.opts.Include.Match(snapPath) {
		return true, true
	}
	if dir && rs.opts.Include.MatchPrefix(snapPath) {
		return true, true
	}
	return false, false
}

// plan walks tree id (at snapPath in the snapshot), creating directories
// and recording the work for files.
func (rs *restorer) plan(ctx context.Context, sn *snapshot.Snapshot, id pack.ID, snapPath, dst string) error {
	t, err := snapshot.LoadTree(ctx, rs.r, id)
	if err != nil {
		rs.report(snapPath, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err))
		return nil
	}
	for _, n := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		rs.planNode(ctx, sn, n, path.Join(snapPath, n.Name), filepath.Join(dst, n.Name))
	}
	return nil
}

func (rs *restorer) planNode(ctx context.Context, sn *snapshot.Snapshot, n *snapshot.Node, snapPath, dst string) {
	ok, descend := rs.selected(snapPath, n.Type == snapshot.TypeDir)
	if !ok {
		return
	}
	switch n.Type {
	case snapshot.TypeDir:
		if err := mkdirNoFollow(dst); err != nil {
			rs.report(dst, err)
			return
		}
		rs.stats.Dirs++
		if descend {
			_ = rs.plan(ctx, sn, *n.Subtree, snapPath, dst)
		}
		rs.dirs = append(rs.dirs, dirMeta{path: dst, node: n})
	case snapshot.TypeFile:
		if n.Links > 1 {
			key := [2]uint64{n.DeviceID, n.Inode}
			if first, ok := rs.inodes[key]; ok {
				rs.links = append(rs.links, hardlink{path: dst, to: first, node: n})
				return
			}
			rs.inodes[key] = dst
		}
		rs.planFile(n, snapPath, dst)
	default:
		if err := rs.createSpecial(n, dst); err != nil {
			rs.report(dst, err)
			return
		}
		rs.stats.Others++
	}
}

func (rs *restorer) planFile(n *snapshot.Node, snapPath, dst string) {
	fsState := &fileState{path: dst, snapPath: snapPath, node: n}
	for _, id := range n.Content {
		loc, ok := rs.locate(id)
		if !ok {
			rs.report(dst, fmt.Errorf("data blob %s: %w: not in index", id.Short(), repo.ErrDamaged))
			return
		}
		rs.blobs[id] = append(rs.blobs[id], blobTarget{file: fsState, offset: fsState.size})
		fsState.size += int64(loc.RawLength)
		fsState.blobs++
	}
	fsState.remaining.Store(int64(fsState.blobs))
	rs.files = append(rs.files, fsState)
	rs.stats.Files++
	rs.stats.Bytes += fsState.size
}

// writeContent reads every needed pack once and writes its blobs into the
// files at their offsets.
func (rs *restorer) writeContent(ctx context.Context) error {
	byPack := map[pack.ID][]index.Location{}
	for id := range rs.blobs {
		loc, _ := rs.locate(id)
		byPack[loc.Pack] = append(byPack[loc.Pack], loc)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	var empty []*fileState
	for _, f := range rs.files {
		if f.blobs == 0 {
			empty = append(empty, f)
		}
	}
	for i := 0; i < len(empty); i += 256 {
		batch := empty[i:min(i+256, len(empty))]
		g.Go(func() error {
			for _, f := range batch {
				if err := writeWhole(f.path, nil, f.node); err != nil {
					rs.fail(f, err)
				}
			}
			return nil
		})
	}
	for packID, locs := range byPack {
		g.Go(func() error {
			entries := make([]pack.Entry, len(locs))
			for i, l := range locs {
				entries[i] = l.Entry
			}
			var buf []byte
			err := rs.r.ReadPack(gctx, packID, entries, func(e pack.Entry, stored []byte) error {
				var err error
				buf, err = rs.r.DecodeBlob(stored, e, buf[:0], packID)
				if err != nil {
					rs.failBlob(e.ID, err)
					return nil
				}
				rs.writeBlob(e.ID, buf)
				return nil
			})
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				for _, e := range entries {
					rs.failBlob(e.ID, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (rs *restorer) failBlob(id pack.ID, err error) {
	for _, t := range rs.blobs[id] {
		rs.fail(t.file, err)
	}
}

// fail reports the first error of a file.
func (rs *restorer) fail(f *fileState, err error) {
	if !f.failed.Swap(true) {
		rs.report(f.path, err)
	}
}

// writeBlob writes a blob everywhere it belongs. A file of one blob is
// created, written and given its metadata through one descriptor; larger
// files are created once, written at offsets by whichever worker holds
// each piece, and get their metadata after the last piece.
func (rs *restorer) writeBlob(id pack.ID, data []byte) {
	for _, t := range rs.blobs[id] {
		f := t.file
		if f.failed.Load() {
			continue
		}
		if f.blobs == 1 {
			if err := writeWhole(f.path, data, f.node); err != nil {
				rs.fail(f, err)
			}
			continue
		}
		f.create.Do(func() { f.createErr = createSized(f.path, f.size) })
		if f.createErr != nil {
			rs.fail(f, f.createErr)
			continue
		}
		if err := pwriteFile(f.path, data, t.offset); err != nil {
			rs.fail(f, err)
			continue
		}
		if f.remaining.Add(-1) == 0 {
			if err := setMetadata(f.path, f.node); err != nil {
				rs.fail(f, err)
			}
		}
	}
}

// finish creates hard links, then sets directory
// metadata deepest first so writing into a directory can't move its mtime.
func (rs *restorer) finish() {
	for _, l := range rs.links {
		if err := os.Link(l.to, l.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				_ = os.Remove(l.path)
				err = os.Link(l.to, l.path)
			}
			if err != nil {
				rs.report(l.path, err)
				continue
			}
		}
		rs.stats.Files++
	}
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := setMetadata(d.path, d.node); err != nil {
			rs.report(d.path, err)
		}
	}
}

// createSpecial makes a symlink, device, FIFO or socket node.
func (rs *restorer) createSpecial(n *snapshot.Node, dst string) error {
	if fi, err := os.Lstat(dst); err == nil && !fi.IsDir() {
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	var err error
	switch n.Type {
	case snapshot.TypeSymlink:
		err = os.Symlink(n.LinkTarget, dst)
	case snapshot.TypeFIFO:
		err = unix.Mkfifo(dst, uint32(n.Mode.Perm()))
	case snapshot.TypeDev:
		err = unix.Mknod(dst, unix.S_IFBLK|uint32(n.Mode.Perm()), int(n.Rdev))
	case snapshot.TypeCharDev:
		err = unix.Mknod(dst, unix.S_IFCHR|uint32(n.Mode.Perm()), int(n.Rdev))
	case snapshot.TypeSocket:
		// A socket can't be restored meaningfully; restic skips it too.
		return nil
	}
	if err != nil {
		return err
	}
	return setMetadata(dst, n)
}
