package archiver

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Plan is what a backup of some kind is based on (DESIGN.md section 1).
type Plan struct {
	Kind       snapshot.Kind
	Parent     *snapshot.Snapshot // change-detection base; nil: read all
	Generation pack.Generation
	// Fallback says why the kind differs from the one asked for.
	Fallback string
}

// PlanKind picks the parent and generation of a backup of kind for host
// and the absolute paths, from the repository's snapshots (oldest first):
//
//   - full: no parent, a new generation;
//   - differential: the full snapshot of the newest generation of the
//     same host and paths (if retention removed it, that generation's
//     oldest snapshot left) and its generation (none: a full backup);
//   - incremental: explicit, or else the latest snapshot of any kind of
//     the same host and paths, and its generation (none: generation 0).
func PlanKind(sns []*snapshot.Snapshot, kind snapshot.Kind, host string, paths []string, explicit *snapshot.Snapshot) (Plan, error) {
	if explicit != nil && kind != snapshot.Incremental {
		return Plan{}, fmt.Errorf("--parent can't be combined with a %s backup", kind)
	}
	same := func(sn *snapshot.Snapshot) bool {
		return sn.Hostname == host && samePaths(sn.Paths, paths)
	}
	latest := func(match func(*snapshot.Snapshot) bool) *snapshot.Snapshot {
		for i := len(sns) - 1; i >= 0; i-- {
			if match(sns[i]) {
				return sns[i]
			}
		}
		return nil
	}
	switch kind {
	case snapshot.Full:
		gen, err := repo.NewGeneration()
		return Plan{Kind: snapshot.Full, Generation: gen}, err
	case snapshot.Differential:
		// The newest generation is the one whose full backup is newest;
		// snapshots carry their full backup's time, so it is known even
		// when retention removed the full snapshot itself.
		var newest *snapshot.Snapshot
		for _, sn := range sns {
			if same(sn) && !sn.FullTime().IsZero() && (newest == nil || !sn.FullTime().Before(newest.FullTime())) {
				newest = sn
			}
		}
		if newest == nil {
			gen, err := repo.NewGeneration()
			return Plan{Kind: snapshot.Full, Generation: gen,
				Fallback: "no full snapshot of this host and paths yet: making a full backup"}, err
		}
		base := latest(func(sn *snapshot.Snapshot) bool {
			return same(sn) && sn.Kind == snapshot.Full && sn.Generation == newest.Generation
		})
		if base != nil {
			return Plan{Kind: snapshot.Differential, Parent: base, Generation: base.Generation}, nil
		}
		// The full snapshot is gone: compare with the oldest snapshot
		// left of its generation, which stores into the same generation.
		for _, sn := range sns {
			if same(sn) && sn.Generation == newest.Generation && (base == nil || sn.Time.Before(base.Time)) {
				base = sn
			}
		}
		return Plan{Kind: snapshot.Differential, Parent: base, Generation: base.Generation,
			Fallback: fmt.Sprintf("the full snapshot of generation %s was removed: comparing with its oldest snapshot left, %s", base.Generation.Short(), base.ID().Short())}, nil
	case snapshot.Incremental:
		base := explicit
		if base == nil {
			base = latest(same)
		}
		if base == nil {
			return Plan{Kind: snapshot.Incremental}, nil
		}
		return Plan{Kind: snapshot.Incremental, Parent: base, Generation: base.Generation}, nil
	}
	return Plan{}, errors.New("unknown backup kind " + string(kind))
}

func samePaths(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
