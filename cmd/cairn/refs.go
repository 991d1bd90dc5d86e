package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
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
// Snapshots that can't be read are named in a warning.
func (g *globalOptions) selectSnapshots(ctx context.Context, r *repo.Repository, refs []string, f snapshot.Filter) ([]*snapshot.Snapshot, error) {
	return job.Select(ctx, r, refs, f, g.warnUnreadable)
}

// readableSnapshots returns every snapshot that can be read and names
// each one that can't in a warning.
func (g *globalOptions) readableSnapshots(ctx context.Context, r *repo.Repository) ([]*snapshot.Snapshot, error) {
	sns, bad, err := snapshot.LoadReadable(ctx, r)
	if err != nil {
		return nil, err
	}
	g.warnUnreadable(bad)
	return sns, nil
}

// warnUnreadable names each snapshot that can't be read (nil: none).
func (g *globalOptions) warnUnreadable(bad *snapshot.UnreadableError) {
	if bad == nil {
		return
	}
	for _, e := range bad.Errs {
		g.warnf("warning: %v\n", e)
	}
	g.warnf("warning: %d snapshots can't be read and are left out; run `cairn check`\n", len(bad.IDs))
}
