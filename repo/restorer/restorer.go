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
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
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
	// "skip" when it is unchanged, "keep" when it differs and the policy
	// keeps it, "delete", "verified"). Called from several goroutines.
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
	Skipped             int64 // existing files that already are the snapshot's version
	Kept                int64 // existing files that differ, left as they are by the overwrite policy
	Deleted             int64
	Verified            int64
	Bytes               int64
	Errors              int64
}

// restorer is one restore. A planner walks the snapshot's tree and hands
// work on in bounded batches; a writer restores batch after batch (see
// plan.go and write.go). So memory follows the batch, not the number of
// files in the snapshot.
type restorer struct {
	r      Repository
	gen    pack.Generation
	opts   Options
	target string
	tgt    *target
	lim    *snapshot.TreeLimit
	// planErr ends the walk: cancellation, or a crafted tree.
	planErr error
	count   counters
	errs    atomic.Int64
	owners  owners

	// Planner state (its goroutine only).
	cur    *batch
	out    chan<- *batch
	locs   []index.Location // scratch for planFile
	inodes map[[2]uint64]string
	// kept holds every target path the selection covers, for --delete.
	kept map[string]bool
	// way are the directories being walked that lead to include
	// matches, outermost first (planWayDir).
	way []wayDir

	// openFiles counts descriptors held by files being written.
	openFiles atomic.Int64
}

// counters are the Stats as the planner and the writer update them.
type counters struct {
	files, dirs, others, skipped, kept, deleted, verified, bytes atomic.Int64
}

func (rs *restorer) result() Stats {
	c := &rs.count
	return Stats{Files: c.files.Load(), Dirs: c.dirs.Load(), Others: c.others.Load(), Skipped: c.skipped.Load(), Kept: c.kept.Load(),
		Deleted: c.deleted.Load(), Verified: c.verified.Load(), Bytes: c.bytes.Load(), Errors: rs.errs.Load()}
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
	// A target made by this restore holds nothing that needs a look
	// before it is written (see planNode).
	_, statErr := os.Lstat(abs)
	fresh := errors.Is(statErr, fs.ErrNotExist) && !opts.DryRun
	if !opts.DryRun {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return Stats{}, fmt.Errorf("restore target %s: %w", target, err)
		}
	}
	node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, snapPath)
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err)
	}
	rs := &restorer{r: r, opts: opts, target: abs, gen: sn.Generation,
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
	if err := rs.run(ctx, sn, node, clean, fresh); err != nil {
		return rs.result(), err
	}
	if opts.Delete && node.Type == snapshot.TypeDir {
		rs.deleteExtra(clean)
	}
	st := rs.result()
	if st.Errors > 0 {
		return st, fmt.Errorf("%w: %d errors", ErrPartial, st.Errors)
	}
	return st, nil
}

// run plans and writes at the same time: the planner walks the tree and
// sends batches, the writer restores them one after the other, in order.
// A directory's metadata goes with the batch in which its walk ended, so
// it is set after everything in it is written.
func (rs *restorer) run(ctx context.Context, sn *snapshot.Snapshot, node *snapshot.Node, clean string, fresh bool) error {
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *batch, 1)
	rs.out = batches
	rs.cur = newBatch()
	g.Go(func() error {
		defer close(batches)
		if node.Type == snapshot.TypeDir {
			if err := rs.plan(gctx, sn, *node.Subtree, clean, rs.target, fresh); err != nil {
				return err
			}
		} else {
			rs.planNode(gctx, sn, node, clean, filepath.Join(rs.target, node.Name), fresh)
			if rs.planErr != nil {
				return rs.planErr
			}
		}
		return rs.flush(gctx)
	})
	g.Go(func() error {
		for b := range batches {
			if err := rs.runBatch(gctx, b); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
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
			rs.count.deleted.Add(1)
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
