package rewriter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Options say how Run rewrites snapshots.
type Options struct {
	// Excludes selects the paths to remove, matched against the full
	// path inside the snapshot as backup's excludes are; nil removes
	// nothing.
	Excludes *snapshot.Matcher
	// NewHost and NewTime replace the host and time when set; a snapshot
	// whose metadata changes is rewritten even without matching paths.
	NewHost string
	NewTime time.Time
	// Forget removes each original once its new snapshot is saved.
	Forget bool
	// DryRun writes nothing: the results say what would be removed.
	DryRun bool
}

// ErrNothingToDo means the options change nothing.
var ErrNothingToDo = errors.New("rewrite: nothing to do: give exclude patterns, a new host or a new time")

// Result says what Run did with one snapshot.
type Result struct {
	Snapshot pack.ID
	// NewSnapshot is the ID of the snapshot written (zero when none was,
	// and in a dry run).
	NewSnapshot pack.ID
	Removed     Removed
	// Rewritten says the snapshot was (in a dry run: would be) rewritten;
	// false leaves it as it is.
	Rewritten bool
	// Empty says every path of the snapshot matched: it is left as it
	// is (remove it with forget), as restic does.
	Empty bool
	// Forgotten says the original was removed.
	Forgotten bool
}

// Run rewrites each snapshot of sns that has matching paths or whose
// metadata o changes, in order, and calls each (if not nil) with the
// result of each snapshot once it is done. It needs a locked session
// with the index loaded: an exclusive lock with o.Forget (outside a dry
// run), a shared one otherwise. Per snapshot the new trees are flushed
// (packs, then index) before the snapshot is saved, and the original is
// removed only after that; once the lock is lost nothing more is written.
func Run(ctx context.Context, r *repo.Repository, sns []*snapshot.Snapshot, o Options, each func(Result) error) ([]Result, error) {
	if o.Excludes.Empty() && o.NewHost == "" && o.NewTime.IsZero() {
		return nil, ErrNothingToDo
	}
	need := repo.SharedLock
	if o.Forget && !o.DryRun {
		need = repo.ExclusiveLock
	}
	if err := r.RequireLock(need); err != nil {
		return nil, fmt.Errorf("rewrite: %w", err)
	}
	w := NewTree(r, o.Excludes)
	seen := map[pack.ID]bool{}
	out := []Result{}
	for _, sn := range sns {
		if seen[sn.ID()] {
			continue
		}
		seen[sn.ID()] = true
		// A lock removed meanwhile (unlock --remove-all elsewhere) stops
		// the rewrite before it writes the next snapshot's trees.
		if err := r.RequireLock(need); err != nil {
			return out, fmt.Errorf("rewrite snapshot %s: %w", sn.ID().Short(), err)
		}
		if err := r.Session().Check(ctx); err != nil {
			return out, fmt.Errorf("rewrite snapshot %s: %w", sn.ID().Short(), err)
		}
		res, err := one(ctx, r, w, sn, o)
		if err != nil {
			return out, fmt.Errorf("rewrite snapshot %s: %w", sn.ID().Short(), err)
		}
		out = append(out, res)
		if each != nil {
			if err := each(res); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// one rewrites snapshot sn.
func one(ctx context.Context, r *repo.Repository, w *Tree, sn *snapshot.Snapshot, o Options) (Result, error) {
	res := Result{Snapshot: sn.ID()}
	var (
		root pack.ID
		kept int
		err  error
	)
	if o.DryRun {
		root, res.Removed, kept, err = w.Rewrite(ctx, nil, sn.Tree, "/", sn.Generation)
	} else {
		// The new trees are stored and indexed when WithUploader
		// returns: only then may a snapshot name them.
		err = r.WithUploader(ctx, func(ctx context.Context) error {
			var err error
			root, res.Removed, kept, err = w.Rewrite(ctx, r.NewSaver(), sn.Tree, "/", sn.Generation)
			return err
		})
	}
	if err != nil {
		return res, err
	}
	removed := len(res.Removed.Paths) > 0
	hostChanged := o.NewHost != "" && o.NewHost != sn.Hostname
	timeChanged := !o.NewTime.IsZero() && !o.NewTime.Equal(sn.Time)
	if !removed && !hostChanged && !timeChanged {
		return res, nil
	}
	if removed && kept == 0 {
		res.Empty = true
		return res, nil
	}
	res.Rewritten = true
	if o.DryRun {
		return res, nil
	}
	ns := newSnapshot(sn, root, res.Removed)
	if hostChanged {
		ns.Hostname = o.NewHost
	}
	if timeChanged {
		ns.Time = o.NewTime
	}
	if err := snapshot.Save(ctx, r, ns); err != nil {
		return res, err
	}
	res.NewSnapshot = ns.ID()
	if o.Forget {
		if err := r.RemoveFile(ctx, backend.Handle{Type: backend.SnapshotFile, Name: sn.ID().String()}); err != nil {
			return res, fmt.Errorf("remove the original snapshot (%s replaces it): %w", ns.ID().Short(), err)
		}
		res.Forgotten = true
	}
	return res, nil
}

// newSnapshot returns sn with tree root, recording the original and the
// files removed from the totals of its summary.
func newSnapshot(sn *snapshot.Snapshot, root pack.ID, rm Removed) *snapshot.Snapshot {
	ns := *sn
	ns.Tree = root
	ns.Paths = slices.Clone(sn.Paths)
	ns.Tags = slices.Clone(sn.Tags)
	orig := sn.ID()
	if sn.Original != nil {
		orig = *sn.Original
	}
	ns.Original = &orig
	if sn.Summary != nil {
		sum := *sn.Summary
		sum.Repaired = slices.Clone(sn.Summary.Repaired)
		sum.TotalFiles = max(0, sum.TotalFiles-rm.Files)
		sum.TotalBytes = max(0, sum.TotalBytes-rm.Bytes)
		ns.Summary = &sum
	}
	return &ns
}
