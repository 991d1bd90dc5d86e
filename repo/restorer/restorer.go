// Package restorer restores snapshots and dumps them: selecting nodes,
// planning reads pack by pack, writing files at their offsets from several
// workers, then setting metadata (directories last, after their contents).
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

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Overwrite says what to do with a file that already exists in the target.
type Overwrite int

// Overwrite policies.
const (
	OverwriteAlways    Overwrite = iota // replace it
	OverwriteIfChanged                  // replace it unless size and content already match
	OverwriteIfNewer                    // replace it if the snapshot's version is newer
	OverwriteNever                      // keep it
)

// ParseOverwrite parses always, if-changed, if-newer or never.
func ParseOverwrite(s string) (Overwrite, error) {
	switch s {
	case "always", "":
		return OverwriteAlways, nil
	case "if-changed":
		return OverwriteIfChanged, nil
	case "if-newer":
		return OverwriteIfNewer, nil
	case "never":
		return OverwriteNever, nil
	}
	return 0, fmt.Errorf("invalid --overwrite %q: want always, if-changed, if-newer or never", s)
}

// Options configure a restore.
type Options struct {
	// Include and Exclude select nodes by their path in the snapshot.
	Include, Exclude *snapshot.Matcher
	// Workers is the number of packs read at once (0: default).
	Workers   int
	Overwrite Overwrite
	// Delete removes what the target holds but the (selected part of
	// the) snapshot does not, inside the target only.
	Delete bool
	// DryRun reports through OnAction what would be done, and does nothing.
	DryRun bool
	// Verify reads every restored file back and checks it against the
	// snapshot's blob IDs.
	Verify bool
	// NumericOwner restores uid/gid as recorded instead of mapping the
	// recorded user and group names (as root).
	NumericOwner bool
	// OnError is told of each file or object that could not be restored;
	// the restore goes on. Called from several goroutines.
	OnError func(path string, err error)
	// OnAction, if set, is told what is done to each path ("restore",
	// "skip", "delete", "verified"). Called from several goroutines.
	OnAction func(action, path string)
	// Progress, if set, is updated as files are written.
	Progress *Progress
}

// Progress counts a running restore; read it from any goroutine.
type Progress struct {
	FilesDone, BytesDone   atomic.Int64
	TotalFiles, TotalBytes atomic.Int64
}

// Stats counts what a restore did.
type Stats struct {
	Files, Dirs, Others int64
	Skipped             int64
	Deleted             int64
	Verified            int64
	Bytes               int64
	Errors              int64
}

type fileState struct {
	path      string // absolute target path
	snapPath  string
	node      *snapshot.Node
	size      int64
	blobs     int
	ids       []pack.ID
	lens      []int64
	remaining atomic.Int64
	failed    atomic.Bool
	create    sync.Once
	createErr error
	// created says create made the file (read once the writers are done).
	created bool
}

type blobTarget struct {
	file   *fileState
	offset int64
}

type restorer struct {
	r      Repository
	gen    pack.Generation
	opts   Options
	target string
	tgt    *target
	lim    *snapshot.TreeLimit
	// planErr ends the walk: cancellation, or a crafted tree.
	planErr error
	stats   Stats
	errs    atomic.Int64
	owners  owners

	files []*fileState
	// maybeSkip are files that exist and need a content check (if-changed).
	maybeSkip []*fileState
	dirs      []dirMeta
	links     []hardlink
	// blob → where it goes
	blobs map[pack.ID][]blobTarget
	// inode key → first restored path
	inodes map[[2]uint64]string
	// kept holds every target path the selection covers, for --delete.
	kept map[string]bool
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
func Restore(ctx context.Context, r Repository, sn *snapshot.Snapshot, snapPath, target string, opts Options) (Stats, error) {
	if opts.Workers <= 0 {
		opts.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return Stats{}, fmt.Errorf("restore target %s: %w", target, err)
	}
	if !opts.DryRun {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return Stats{}, fmt.Errorf("restore target %s: %w", target, err)
		}
	}
	node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, snapPath)
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err)
	}
	rs := &restorer{r: r, opts: opts, target: abs, gen: sn.Generation, blobs: map[pack.ID][]blobTarget{},
		inodes: map[[2]uint64]string{}, owners: newOwners(opts.NumericOwner), lim: snapshot.NewTreeLimit()}
	if opts.Delete {
		rs.kept = map[string]bool{abs: true}
	}
	// Everything below happens beneath this descriptor of the target.
	if rs.tgt, err = openTarget(abs); err != nil {
		if !opts.DryRun || !errors.Is(err, fs.ErrNotExist) {
			return Stats{}, fmt.Errorf("restore target %s: %w", target, err)
		}
	}
	defer rs.tgt.close()
	if node.Type == snapshot.TypeDir {
		if err := rs.plan(ctx, sn, *node.Subtree, clean, abs); err != nil {
			return rs.stats, err
		}
	} else {
		rs.planNode(ctx, sn, node, clean, filepath.Join(abs, node.Name))
	}
	if err := rs.checkExisting(ctx); err != nil {
		return rs.stats, err
	}
	if !opts.DryRun {
		if err := rs.writeContent(ctx); err != nil {
			return rs.stats, err
		}
		rs.finish()
	}
	if opts.Delete && node.Type == snapshot.TypeDir {
		rs.deleteExtra(clean)
	}
	if opts.Verify && !opts.DryRun {
		if err := rs.verify(ctx); err != nil {
			return rs.stats, err
		}
	}
	rs.stats.Errors = rs.errs.Load()
	if rs.stats.Errors > 0 {
		return rs.stats, fmt.Errorf("%w: %d errors", ErrPartial, rs.stats.Errors)
	}
	return rs.stats, nil
}

func (rs *restorer) report(p string, err error) {
	rs.errs.Add(1)
	if rs.opts.OnError != nil {
		rs.opts.OnError(p, err)
	}
}

func (rs *restorer) action(a, p string) {
	if rs.opts.OnAction != nil {
		rs.opts.OnAction(a, p)
	}
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
		rs.planNode(ctx, sn, n, path.Join(snapPath, n.Name), filepath.Join(dst, n.Name))
	}
	return rs.planErr
}

func (rs *restorer) planNode(ctx context.Context, sn *snapshot.Snapshot, n *snapshot.Node, snapPath, dst string) {
	ok, descend := rs.selected(snapPath, n.Type == snapshot.TypeDir)
	if !ok {
		return
	}
	if rs.kept != nil {
		rs.kept[dst] = true
	}
	switch n.Type {
	case snapshot.TypeDir:
		if !rs.opts.DryRun {
			if err := rs.tgt.mkdir(dst, rs.opts.Overwrite == OverwriteAlways || rs.opts.Overwrite == OverwriteIfChanged); err != nil {
				rs.report(dst, err)
				return
			}
		}
		rs.stats.Dirs++
		if descend {
			if err := rs.plan(ctx, sn, *n.Subtree, snapPath, dst); err != nil && rs.planErr == nil {
				rs.planErr = err
			}
		}
		rs.dirs = append(rs.dirs, dirMeta{path: dst, node: n})
	case snapshot.TypeFile:
		if n.Links > 1 {
			key := [2]uint64{n.DeviceID, n.Inode}
			if first, ok := rs.inodes[key]; ok {
				rs.links = append(rs.links, hardlink{path: dst, to: first, node: n})
				rs.action("restore", dst)
				return
			}
			rs.inodes[key] = dst
		}
		rs.planFile(n, snapPath, dst)
	default:
		if skip := rs.keepExisting(dst, n); skip {
			return
		}
		rs.action("restore", dst)
		if rs.opts.DryRun {
			rs.stats.Others++
			return
		}
		if err := rs.createSpecial(n, dst); err != nil {
			rs.report(dst, err)
			return
		}
		rs.stats.Others++
	}
}

// keepExisting applies the overwrite policy to dst (a file or special
// node) and reports whether the existing object stays. if-changed is
// decided later for regular files (content check) and here for others.
func (rs *restorer) keepExisting(dst string, n *snapshot.Node) bool {
	fi, err := rs.tgt.lstat(dst)
	if err != nil {
		return false
	}
	keep := false
	switch rs.opts.Overwrite {
	case OverwriteNever:
		keep = true
	case OverwriteIfNewer:
		keep = !n.ModTime.After(fi.mtime)
	case OverwriteIfChanged:
		if n.Type == snapshot.TypeSymlink && fi.mode&os.ModeSymlink != 0 {
			target, _ := rs.tgt.readlink(dst)
			keep = target == n.LinkTarget
		}
	}
	if keep {
		rs.stats.Skipped++
		rs.action("skip", dst)
	}
	return keep
}

func (rs *restorer) planFile(n *snapshot.Node, snapPath, dst string) {
	fsState := &fileState{path: dst, snapPath: snapPath, node: n}
	for _, id := range n.Content {
		loc, ok := rs.locate(id)
		if !ok {
			rs.report(dst, fmt.Errorf("data blob %s: %w: not in index", id.Short(), repo.ErrDamaged))
			return
		}
		fsState.ids = append(fsState.ids, id)
		fsState.lens = append(fsState.lens, int64(loc.RawLength))
		fsState.size += int64(loc.RawLength)
		fsState.blobs++
	}
	if fi, err := rs.tgt.lstat(dst); err == nil {
		if rs.keepExisting(dst, n) {
			return
		}
		if rs.opts.Overwrite == OverwriteIfChanged && fi.mode.IsRegular() && fi.size == fsState.size {
			rs.maybeSkip = append(rs.maybeSkip, fsState)
			return
		}
	}
	rs.addFile(fsState)
}

// addFile schedules a file to be written.
func (rs *restorer) addFile(f *fileState) {
	var off int64
	for i, id := range f.ids {
		rs.blobs[id] = append(rs.blobs[id], blobTarget{file: f, offset: off})
		off += f.lens[i]
	}
	f.remaining.Store(int64(f.blobs))
	rs.files = append(rs.files, f)
	rs.stats.Files++
	rs.stats.Bytes += f.size
	rs.action("restore", f.path)
	if p := rs.opts.Progress; p != nil {
		p.TotalFiles.Add(1)
		p.TotalBytes.Add(f.size)
	}
}

// checkExisting hashes files that exist with the right size (--overwrite
// if-changed) in parallel; those whose content matches are skipped, so an
// interrupted restore resumes where it stopped.
func (rs *restorer) checkExisting(ctx context.Context) error {
	same := make([]bool, len(rs.maybeSkip))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	for i, f := range rs.maybeSkip {
		g.Go(func() error {
			ok, err := rs.matches(gctx, f)
			if err != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			same[i] = ok && err == nil
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, f := range rs.maybeSkip {
		if same[i] {
			rs.stats.Skipped++
			rs.action("skip", f.path)
			continue
		}
		rs.addFile(f)
	}
	return nil
}

// matches reads the file at f.path and compares it, piece by piece, with
// the blob IDs of the snapshot's version.
func (rs *restorer) matches(ctx context.Context, f *fileState) (bool, error) {
	file, err := rs.tgt.openRead(f.path)
	if err != nil {
		return false, err
	}
	defer file.Close()
	h := rs.r.Key().NewIDHasher()
	var buf []byte
	var off int64
	for i, id := range f.ids {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n := f.lens[i]
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		if _, err := file.ReadAt(buf[:n], off); err != nil {
			return false, err
		}
		if pack.ID(h.Sum(buf[:n])) != id {
			return false, nil
		}
		off += n
	}
	return true, nil
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
				if err := rs.tgt.writeWhole(f.path, nil, 0, f.node, &rs.owners); err != nil {
					rs.fail(f, err)
				}
				rs.fileDone(f)
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
			return rs.r.ReadBlobs(gctx, packID, entries,
				func(e pack.Entry, plain []byte) error { rs.writeBlob(e.ID, plain); return nil },
				func(e pack.Entry, err error) { rs.failBlob(e.ID, err) })
		})
	}
	err := g.Wait()
	rs.removeIncomplete()
	return err
}

// removeIncomplete removes the files of several blobs that were created
// at their full size but did not get every piece (one failed, or the
// restore was cancelled): with holes for content and the time of the
// restore, such a file would pass for restored, and a later restore with
// --overwrite if-newer would keep it. The error for it was reported
// already (unless cancelled).
func (rs *restorer) removeIncomplete() {
	for _, f := range rs.files {
		if !f.created || f.remaining.Load() == 0 {
			continue
		}
		if err := rs.tgt.remove(f.path); err != nil {
			rs.report(f.path, fmt.Errorf("remove the incomplete file: %w", err))
		}
	}
}

func (rs *restorer) fileDone(f *fileState) {
	if p := rs.opts.Progress; p != nil {
		p.FilesDone.Add(1)
	}
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
// each piece, and get their metadata after the last piece. Runs of zeros
// are left as holes, so sparse files stay sparse.
func (rs *restorer) writeBlob(id pack.ID, data []byte) {
	for _, t := range rs.blobs[id] {
		f := t.file
		if f.failed.Load() {
			continue
		}
		if p := rs.opts.Progress; p != nil {
			p.BytesDone.Add(int64(len(data)))
		}
		if f.blobs == 1 {
			if err := rs.tgt.writeWhole(f.path, data, f.size, f.node, &rs.owners); err != nil {
				rs.fail(f, err)
			}
			rs.fileDone(f)
			continue
		}
		f.create.Do(func() {
			f.createErr = rs.tgt.createSized(f.path, f.size)
			f.created = f.createErr == nil
		})
		if f.createErr != nil {
			rs.fail(f, f.createErr)
			continue
		}
		if err := rs.tgt.pwriteFile(f.path, data, t.offset); err != nil {
			rs.fail(f, err)
			continue
		}
		if f.remaining.Add(-1) == 0 {
			if err := rs.tgt.setMetadata(f.path, f.node, &rs.owners); err != nil {
				rs.fail(f, err)
			}
			rs.fileDone(f)
		}
	}
}

// finish creates hard links, then sets directory metadata deepest first so
// writing into a directory can't move its mtime.
func (rs *restorer) finish() {
	for _, l := range rs.links {
		if _, err := rs.tgt.lstat(l.path); err == nil {
			if rs.keepExisting(l.path, l.node) {
				continue
			}
			if err := rs.tgt.remove(l.path); err != nil {
				rs.report(l.path, err)
				continue
			}
		}
		if err := rs.tgt.link(l.to, l.path); err != nil {
			rs.report(l.path, err)
			continue
		}
		rs.stats.Files++
	}
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := rs.tgt.setMetadata(d.path, d.node, &rs.owners); err != nil {
			rs.report(d.path, err)
		}
	}
}

// verify reads every restored file back and checks it against the blob IDs.
func (rs *restorer) verify(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	var verified atomic.Int64
	for _, f := range rs.files {
		if f.failed.Load() {
			continue
		}
		g.Go(func() error {
			ok, err := rs.matches(gctx, f)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			switch {
			case err != nil:
				rs.report(f.path, fmt.Errorf("verify: %w", err))
			case !ok:
				rs.report(f.path, errors.New("verify: restored content does not match the snapshot"))
			default:
				verified.Add(1)
				rs.action("verified", f.path)
			}
			return nil
		})
	}
	err := g.Wait()
	rs.stats.Verified = verified.Load()
	return err
}

// deleteExtra removes, inside the target, what the selection covers but
// the snapshot does not hold. It never follows a symlink.
func (rs *restorer) deleteExtra(snapRoot string) {
	var walk func(dir, snapDir string)
	walk = func(dir, snapDir string) {
		ents, err := rs.tgt.readDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			sp := path.Join(snapDir, e.Name())
			if rs.kept[p] {
				if e.IsDir() && e.Type()&os.ModeSymlink == 0 {
					walk(p, sp)
				}
				continue
			}
			if ok, _ := rs.selected(sp, e.IsDir()); !ok {
				continue
			}
			rs.action("delete", p)
			rs.stats.Deleted++
			if rs.opts.DryRun {
				continue
			}
			if err := rs.tgt.removeAll(p); err != nil {
				rs.report(p, err)
			}
		}
	}
	walk(rs.target, snapRoot)
}

// Repository is what a restore needs of an opened repository: the index
// to find blobs, whole-pack reads to fetch them, single loads for the
// rest, and the key's ID hash to compare existing files with.
// *repo.Repository is one.
type Repository interface {
	snapshot.BlobLoader
	Index() *index.Index
	Key() *crypto.Key
	ReadBlobs(ctx context.Context, id pack.ID, entries []pack.Entry, fn func(e pack.Entry, plain []byte) error, fail func(e pack.Entry, err error)) error
}
