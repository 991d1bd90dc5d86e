package checker

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// SnapshotRepair says what RepairSnapshots did with one snapshot.
type SnapshotRepair struct {
	Snapshot    string   `json:"snapshot"`
	NewSnapshot string   `json:"new_snapshot,omitempty"`
	Damaged     []string `json:"damaged_paths"`
	Forgotten   bool     `json:"original_removed"`
}

// RepairSnapshots rewrites every snapshot whose trees reference missing
// blobs: a file keeps the blobs that exist (a truncated copy), a
// directory whose tree is gone becomes empty; the damaged paths are listed
// in the new snapshot's summary and the new snapshot records the original.
// With forget the originals are removed. The caller holds an exclusive
// lock and has dropped missing packs from the index.
func RepairSnapshots(ctx context.Context, r *repo.Repository, forget bool) ([]SnapshotRepair, error) {
	// Snapshot files that can't be read are left to the caller: there is
	// nothing in them to rewrite.
	if err := r.RequireLock(repo.ExclusiveLock); err != nil {
		return nil, fmt.Errorf("repair snapshots: %w", err)
	}
	sns, _, err := snapshot.LoadReadable(ctx, r)
	if err != nil {
		return nil, err
	}
	r.StartWriting()
	s := r.NewSaver()
	var out []SnapshotRepair
	for _, sn := range sns {
		rw := &rewriter{ctx: ctx, r: r, s: s, gen: sn.Generation, done: map[pack.ID]pack.ID{}}
		root, err := rw.tree(sn.Tree, "/")
		if err != nil {
			return nil, err
		}
		if len(rw.damaged) == 0 {
			continue
		}
		if err := r.Flush(ctx); err != nil {
			return nil, err
		}
		ns := *sn
		ns.Tree = root
		orig := sn.ID()
		if sn.Original != nil {
			orig = *sn.Original
		}
		ns.Original = &orig
		sum := snapshot.Summary{}
		if sn.Summary != nil {
			sum = *sn.Summary
		}
		// A snapshot repaired before keeps the damage found then: its
		// paths were cut already, so this walk can't see them again.
		sum.Repaired = append(slices.Clone(sum.Repaired), rw.damaged...)
		ns.Summary = &sum
		ns.Tags = slices.Clone(sn.Tags)
		if !slices.Contains(ns.Tags, "repaired") {
			ns.Tags = append(ns.Tags, "repaired")
		}
		if err := snapshot.Save(ctx, r, &ns); err != nil {
			return nil, err
		}
		res := SnapshotRepair{Snapshot: sn.ID().Short(), NewSnapshot: ns.ID().Short(), Damaged: rw.damaged}
		if forget {
			if err := r.RemoveFile(ctx, backend.Handle{Type: backend.SnapshotFile, Name: sn.ID().String()}); err != nil {
				return nil, fmt.Errorf("remove snapshot %s: %w", sn.ID().Short(), err)
			}
			res.Forgotten = true
		}
		out = append(out, res)
	}
	return out, nil
}

type rewriter struct {
	ctx     context.Context
	r       *repo.Repository
	s       *repo.Saver
	gen     pack.Generation
	done    map[pack.ID]pack.ID
	damaged []string
}

func (w *rewriter) has(h pack.BlobHandle) bool { return len(w.r.Index().LookupAny(h)) > 0 }

// tree returns the ID of tree id with damage cut out (id itself if none).
func (w *rewriter) tree(id pack.ID, dir string) (pack.ID, error) {
	if n, ok := w.done[id]; ok {
		return n, nil
	}
	var t *snapshot.Tree
	if w.has(pack.BlobHandle{ID: id, Type: pack.TreeBlob}) {
		var err error
		t, err = snapshot.LoadTree(w.ctx, w.r, id)
		// Only a tree whose content is damaged is lost; a storage
		// failure or a cancellation must not rewrite a healthy snapshot.
		if err != nil && !errors.Is(err, repo.ErrDamaged) {
			return id, fmt.Errorf("tree %s at %s: %w", id.Short(), dir, err)
		}
		if err != nil {
			t = nil
		}
	}
	changed := false
	if t == nil {
		w.damaged = append(w.damaged, dir+" (directory lost)")
		t, changed = &snapshot.Tree{}, true
	}
	for i, n := range t.Nodes {
		p := path.Join(dir, n.Name)
		switch n.Type {
		case snapshot.TypeDir:
			sub, err := w.tree(*n.Subtree, p)
			if err != nil {
				return id, err
			}
			if sub != *n.Subtree {
				c := *n
				c.Subtree = &sub
				t.Nodes[i], changed = &c, true
			}
		case snapshot.TypeFile:
			var keep []pack.ID
			var size uint64
			for _, b := range n.Content {
				locs := w.r.Index().LookupAny(pack.BlobHandle{ID: b, Type: pack.DataBlob})
				if len(locs) > 0 {
					keep = append(keep, b)
					size += uint64(locs[0].RawLength)
				}
			}
			if len(keep) != len(n.Content) {
				c := *n
				c.Content, c.Size = keep, size
				t.Nodes[i], changed = &c, true
				w.damaged = append(w.damaged, fmt.Sprintf("%s (truncated: %d of %d blobs lost)", p, len(n.Content)-len(keep), len(n.Content)))
			}
		}
	}
	if !changed {
		w.done[id] = id
		return id, nil
	}
	nid, err := snapshot.SaveTree(w.ctx, w.s, &snapshot.Tree{Nodes: t.Nodes}, w.gen)
	if err != nil {
		return id, err
	}
	w.done[id] = nid
	return nid, nil
}
