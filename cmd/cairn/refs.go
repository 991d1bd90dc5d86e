package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// snapshotRoot is a directory inside a snapshot named by SNAPSHOT[:PATH].
type snapshotRoot struct {
	sn   *snapshot.Snapshot
	ref  string // short ID, with :path when given
	path string
	tree pack.ID
}

// resolveRoot finds the snapshot of arg (ID, prefix or latest under f)
// and the tree of its path, which must be a directory.
func resolveRoot(ctx context.Context, r *repo.Repository, arg string, f snapshot.Filter) (snapshotRoot, error) {
	ref, p := snapshot.SplitRef(arg)
	sn, err := snapshot.Find(ctx, r, ref, f)
	if err != nil {
		return snapshotRoot{}, err
	}
	node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, p)
	if err != nil {
		return snapshotRoot{}, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err)
	}
	if node.Type != snapshot.TypeDir {
		return snapshotRoot{}, fmt.Errorf("snapshot %s: %s is not a directory", sn.ID().Short(), clean)
	}
	out := snapshotRoot{sn: sn, ref: sn.ID().Short(), path: clean, tree: *node.Subtree}
	if p != "" {
		out.ref += ":" + clean
	}
	return out, nil
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// selectSnapshots returns the snapshots named by refs, or with no refs
// every snapshot that f matches (oldest first).
func selectSnapshots(ctx context.Context, r *repo.Repository, refs []string, f snapshot.Filter) ([]*snapshot.Snapshot, error) {
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
	all, err := snapshot.LoadAll(ctx, r)
	if all == nil && err != nil {
		return nil, err
	}
	for _, sn := range all {
		if f.Match(sn) {
			sns = append(sns, sn)
		}
	}
	return sns, nil
}

// withLockedRepo opens the repository (with its index when withIndex),
// takes a lock for command and runs fn; the lock is released after.
func (g *globalOptions) withLockedRepo(ctx context.Context, withIndex, exclusive bool, command string, fn func(*repo.Repository) error) error {
	r, err := g.openRepo(ctx, withIndex)
	if err != nil {
		return err
	}
	_, unlock, err := g.lockRepo(ctx, r, exclusive, command)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(r)
}
