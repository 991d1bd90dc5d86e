package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// ForgetRequest says which snapshots to remove: those named, or those a
// retention policy does not keep.
type ForgetRequest struct {
	// Refs names snapshots to remove; when empty the policy decides.
	Refs    []string
	Policy  snapshot.Policy
	Filter  snapshot.Filter
	GroupBy []string
	// AllowEmpty lets the policy remove every snapshot of a group (a
	// count given as 0 explicitly).
	AllowEmpty bool
	// Keep names snapshots the policy keeps whatever its rules say, each
	// with the reason shown (`cairn run` keeps the snapshot it made).
	Keep map[pack.ID]string
	// OnNote is told of unreadable snapshots removed by their ID.
	OnNote func(string)
}

// ForgetGroup is the policy's decisions for one group.
type ForgetGroup struct {
	Key       snapshot.GroupKey
	Decisions []snapshot.Decision
}

// ForgetPlan is what forget removes.
type ForgetPlan struct {
	Groups []ForgetGroup // empty when snapshots were named
	Remove []pack.ID
	// Retained lists the snapshots Apply kept because the storage
	// retains their files (S3 Object Lock); Apply takes them out of
	// Remove.
	Retained []RetainedSnapshot
}

// RetainedSnapshot is a snapshot forget could not remove yet.
type RetainedSnapshot struct {
	ID    pack.ID
	Until time.Time
}

// RemoveAllError refuses a policy that would leave a group without
// snapshots.
type RemoveAllError struct {
	Key snapshot.GroupKey
	N   int
}

func (e *RemoveAllError) Error() string {
	return fmt.Sprintf("forget: the policy would remove all %d snapshots of %s", e.N, e.Key)
}

// ExitStatus is ExitFatal.
func (e *RemoveAllError) ExitStatus() int { return ExitFatal }

// Hint says how to proceed.
func (e *RemoveAllError) Hint() string {
	return "say so explicitly with --keep-last 0, or adjust the policy"
}

// UnreadableSnapshotsError refuses to apply a policy while some
// snapshots can't be read: one of them might be one the policy keeps.
type UnreadableSnapshotsError struct{ Err *snapshot.UnreadableError }

func (e *UnreadableSnapshotsError) Error() string {
	ids := make([]string, len(e.Err.IDs))
	for i, id := range e.Err.IDs {
		ids[i] = id.Short()
	}
	return fmt.Sprintf("forget: no policy applied, %d snapshots can't be read (%s): %v", len(ids), strings.Join(ids, ", "), e.Err)
}

func (e *UnreadableSnapshotsError) Unwrap() error { return e.Err }

// ExitStatus is ExitDamage.
func (e *UnreadableSnapshotsError) ExitStatus() int { return ExitDamage }

// Hint says how to proceed.
func (e *UnreadableSnapshotsError) Hint() string {
	return "run `cairn repair snapshots`, or remove the unreadable snapshots by ID with `cairn forget ID`"
}

// PlanForget decides what forget removes from r; it writes nothing.
func PlanForget(ctx context.Context, r *repo.Repository, req ForgetRequest) (*ForgetPlan, error) {
	if len(req.Refs) > 0 {
		return planNamed(ctx, r, req)
	}
	// A policy needs every snapshot: one that can't be read might be one
	// it keeps, so none is removed until it is named.
	all, err := snapshot.LoadAll(ctx, r)
	if err != nil {
		var ue *snapshot.UnreadableError
		if errors.As(err, &ue) {
			return nil, &UnreadableSnapshotsError{ue}
		}
		return nil, err
	}
	var sns []*snapshot.Snapshot
	for _, sn := range all {
		if req.Filter.Match(sn) {
			sns = append(sns, sn)
		}
	}
	groups, err := snapshot.GroupBy(sns, req.GroupBy)
	if err != nil {
		return nil, err
	}
	plan := &ForgetPlan{}
	for _, gr := range groups {
		fg := ForgetGroup{Key: gr.Key, Decisions: req.Policy.Apply(gr.Snapshots)}
		kept := 0
		for i := range fg.Decisions {
			d := &fg.Decisions[i]
			if why, ok := req.Keep[d.Snapshot.ID()]; ok {
				d.Keep = true
				d.Reasons = append(d.Reasons, why)
			}
			if d.Keep {
				kept++
			} else {
				plan.Remove = append(plan.Remove, d.Snapshot.ID())
			}
		}
		if kept == 0 && len(fg.Decisions) > 0 && !req.AllowEmpty {
			return nil, &RemoveAllError{Key: gr.Key, N: len(fg.Decisions)}
		}
		plan.Groups = append(plan.Groups, fg)
	}
	return plan, nil
}

func planNamed(ctx context.Context, r *repo.Repository, req ForgetRequest) (*ForgetPlan, error) {
	plan := &ForgetPlan{}
	for _, ref := range req.Refs {
		sn, err := snapshot.Find(ctx, r, ref, req.Filter)
		if errors.Is(err, repo.ErrDamaged) && ref != "latest" {
			// An unreadable snapshot file can still be removed by its ID.
			id, ferr := r.FindID(ctx, backend.SnapshotFile, ref)
			if ferr != nil {
				return nil, ferr
			}
			if req.OnNote != nil {
				req.OnNote(fmt.Sprintf("snapshot %s can't be read (%v); removing it", id.Short(), err))
			}
			plan.Remove = append(plan.Remove, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		plan.Remove = append(plan.Remove, sn.ID())
	}
	return plan, nil
}

// Apply removes the plan's snapshots in the exclusive session s,
// checking the lock before each. A snapshot whose file the storage
// retains stays (in the snapshot list too): it moves from Remove to
// Retained, and the others are still removed.
func (p *ForgetPlan) Apply(ctx context.Context, s *repo.Session) error {
	if s.Mode() != repo.ExclusiveLock {
		return fmt.Errorf("forget: needs an exclusive lock: %w", repo.ErrNoSession)
	}
	removed := p.Remove[:0:0]
	defer func() { p.Remove = removed }()
	for i, id := range p.Remove {
		if err := s.Check(ctx); err != nil {
			removed = append(removed, p.Remove[i:]...) // not done: still to remove
			return err
		}
		err := s.Repository().RemoveFile(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()})
		var re *backend.RetainedError
		if errors.As(err, &re) {
			p.Retained = append(p.Retained, RetainedSnapshot{ID: id, Until: re.Until})
			continue
		}
		if err != nil {
			removed = append(removed, p.Remove[i:]...)
			return fmt.Errorf("forget snapshot %s: %w", id.Short(), err)
		}
		removed = append(removed, id)
	}
	return nil
}

// PolicyOf returns the retention policy of a profile's keep table.
func PolicyOf(k profile.Keep) (snapshot.Policy, error) {
	p := snapshot.Policy{Last: k.Last, Hourly: k.Hourly, Daily: k.Daily, Weekly: k.Weekly, Monthly: k.Monthly,
		Yearly: k.Yearly, Tags: k.Tags}
	if k.Within != "" {
		d, err := snapshot.ParseDuration(k.Within)
		if err != nil {
			return p, fmt.Errorf("keep within: %w", err)
		}
		p.Within = d
	}
	for _, n := range []int{k.Last, k.Hourly, k.Daily, k.Weekly, k.Monthly, k.Yearly} {
		if n < -1 {
			return p, fmt.Errorf("forget: keep counts must be -1 (all) or more, got %d", n)
		}
	}
	return p, nil
}
