package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/copier"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Sessions says how a job's sessions wait for locks and what they report.
type Sessions struct {
	// Retry is how long to wait for a conflicting lock (--retry-lock).
	Retry time.Duration
	// OnNotice is told of stale locks removed on the way.
	OnNotice func(string)
	// OnMissingPacks is told of packs the index names that are gone.
	OnMissingPacks func([]pack.ID)
}

// Do runs fn in a session on r: the lock first, then (with index) the
// index; fn runs under the session's context, cancelled when the lock
// is lost, and the lock is released after.
func (o Sessions) Do(ctx context.Context, r *repo.Repository, lock repo.LockMode, index, keepMissing bool, command string, fn func(ctx context.Context, s *repo.Session) error) error {
	so := repo.SessionOptions{Lock: lock, Index: index, KeepMissing: keepMissing, Retry: o.Retry,
		Command: command, OnNotice: o.OnNotice}
	if !keepMissing {
		// Those that keep them report them themselves.
		so.OnMissingPacks = o.OnMissingPacks
	}
	s, err := r.Begin(ctx, so)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Err(fn(s.Context(), s))
}

// Select returns the snapshots of r named by refs, or with no refs every
// readable snapshot that f matches (oldest first); onUnreadable is told
// of those that can't be read.
func Select(ctx context.Context, r *repo.Repository, refs []string, f snapshot.Filter, onUnreadable func(*snapshot.UnreadableError)) ([]*snapshot.Snapshot, error) {
	var sns []*snapshot.Snapshot
	if len(refs) > 0 {
		for _, ref := range refs {
			sn, err := snapshot.Find(ctx, r, ref, f)
			if err != nil {
				return nil, err
			}
			sns = append(sns, sn)
		}
		return sns, nil
	}
	all, bad, err := snapshot.LoadReadable(ctx, r)
	if err != nil {
		return nil, err
	}
	if bad != nil && onUnreadable != nil {
		onUnreadable(bad)
	}
	for _, sn := range all {
		if f.Match(sn) {
			sns = append(sns, sn)
		}
	}
	return sns, nil
}

// CopyRequest says what Copy copies.
type CopyRequest struct {
	Refs   []string
	Filter snapshot.Filter
	// OnCopied is told of each snapshot written to the destination.
	OnCopied     func(copier.Copied)
	OnUnreadable func(*snapshot.UnreadableError)
}

// Copy copies snapshots of src into dst, each under a shared lock with
// its index loaded (the packs that are gone dropped, so their data is
// copied again); the destination's lock is checked before each snapshot
// is written.
func (o Sessions) Copy(ctx context.Context, src, dst *repo.Repository, req CopyRequest) (*copier.Result, error) {
	var res *copier.Result
	err := o.Do(ctx, src, repo.SharedLock, true, false, "copy", func(ctx context.Context, s *repo.Session) error {
		sns, err := Select(ctx, src, req.Refs, req.Filter, req.OnUnreadable)
		if err != nil {
			return err
		}
		all := sns
		if f := req.Filter; len(req.Refs) > 0 || len(f.Hosts)+len(f.Tags)+len(f.Paths) > 0 {
			if all, err = Select(ctx, src, nil, snapshot.Filter{}, nil); err != nil {
				return err
			}
		}
		return o.Do(ctx, dst, repo.SharedLock, true, false, "copy", func(ctx context.Context, d *repo.Session) (err error) {
			res, err = copier.Copy(ctx, src, dst, sns, all, copier.Options{OnCopied: req.OnCopied,
				BeforeSnapshot: func() error { return d.Check(ctx) }})
			return err
		})
	})
	return res, err
}

// hinted is an error with a hint: what to run to fix it.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }
func (e *hinted) Hint() string  { return e.hint }

// MirrorOpenError is err, the failure to open the mirror at loc, with a
// hint to create the mirror when there is no repository there: a
// mirror is made with this repository's chunker parameters, so `cairn
// init` alone (the hint for a missing repository) would cost its dedup.
func MirrorOpenError(loc string, err error) error {
	if !errors.Is(err, repo.ErrNoRepository) {
		return err
	}
	return &hinted{err: err, hint: fmt.Sprintf("create the mirror with `cairn mirror add --init %s`, or check its location", loc)}
}
