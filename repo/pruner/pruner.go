// Package pruner removes data no snapshot needs: unused packs are deleted,
// partly used packs are repacked, and the index is rewritten (superseding
// the old index files) before any pack is deleted.
package pruner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Options configure a prune.
type Options struct {
	// MaxUnused is the share (0 to 1) of unused data left in kept packs.
	MaxUnused float64
	// MaxRepackSize bounds the bytes repacked (0: no bound).
	MaxRepackSize int64
	// RepackSmall repacks packs far below the target pack size.
	RepackSmall bool
	// RepackUncompressed repacks packs holding uncompressed blobs.
	RepackUncompressed bool
	// Grace protects packs younger than this from deletion and repacking,
	// for backups on other hosts whose locks we may not see.
	Grace  time.Duration
	DryRun bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// BeforeDelete is called before anything is deleted (e.g. a lock
	// check); an error stops the prune.
	BeforeDelete func(context.Context) error
}

// Plan is what a prune does (or would do, with DryRun).
type Plan struct {
	Snapshots        int   `json:"snapshots"`
	UsedBlobs        int   `json:"used_blobs"`
	UnusedBlobs      int   `json:"unused_blobs"`
	PacksTotal       int   `json:"packs_total"`
	PacksDelete      int   `json:"packs_to_delete"`
	PacksRepack      int   `json:"packs_to_repack"`
	PacksKeep        int   `json:"packs_to_keep"`
	PacksYoung       int   `json:"packs_young_kept"`
	OrphanPacks      int   `json:"orphan_packs"`
	MissingPacks     int   `json:"missing_packs"`
	SizeTotal        int64 `json:"size_total"`
	SizeUnused       int64 `json:"size_unused"`
	SizeDelete       int64 `json:"size_delete"`
	SizeRepack       int64 `json:"size_repack"`
	SizeUnusedAfter  int64 `json:"size_unused_after"`
	SizeFreed        int64 `json:"size_freed"`
	IndexFilesBefore int   `json:"index_files_before"`
	// PacksRetained packs would be deleted or repacked but the storage
	// retains them (S3 Object Lock): they are kept, indexed, as if used,
	// until a prune after RetainedUntil (the last of their dates;
	// RetainedNext is the first).
	PacksRetained int       `json:"packs_retained"`
	SizeRetained  int64     `json:"size_retained"`
	RetainedNext  time.Time `json:"retained_next,omitzero"`
	RetainedUntil time.Time `json:"retained_until,omitzero"`
	// IndexRetained counts superseded index files the storage would
	// not let go; readers ignore them.
	IndexRetained int `json:"index_retained,omitempty"`
	// Temp is what was done with leftover temporary files (temp.go).
	Temp TempFiles `json:"temp_files"`

	deletePacks []pack.ID
	repackPacks []pack.ID
	used        map[usedKey]bool
}

type usedKey struct {
	h   pack.BlobHandle
	gen pack.Generation
}

type packStat struct {
	id         pack.ID
	gen        pack.Generation
	size       int64 // on the backend
	used       int64
	unused     int64
	usedBlobs  int
	uncompr    bool
	modTime    time.Time
	inIndex    bool
	onBackend  bool
	blobsTotal int
}

// Prune plans and (unless DryRun) carries out the removal of unused data.
// It needs an exclusive session whose index was loaded after the lock was
// held; the plan uses the session's listing of data/.
func Prune(ctx context.Context, r *repo.Repository, o Options) (*Plan, error) {
	if err := r.RequireLock(repo.ExclusiveLock); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	if r.Session().Packs() == nil {
		return nil, fmt.Errorf("prune: the session has no index: %w", repo.ErrNoSession)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxUnused < 0 || o.MaxUnused > 1 {
		return nil, fmt.Errorf("prune: max unused share %v out of range 0-1", o.MaxUnused)
	}
	plan, err := makePlan(ctx, r, o)
	if err != nil {
		return nil, err
	}
	if plan.Temp, err = removeTemp(ctx, r.Backend(), o); err != nil {
		return nil, err
	}
	if o.DryRun {
		return plan, nil
	}
	return plan, execute(ctx, r, o, plan)
}

// used collects which blobs every snapshot needs, in its own generation.
func usedBlobs(ctx context.Context, r *repo.Repository, sns []*snapshot.Snapshot) (map[usedKey]bool, error) {
	used := map[usedKey]bool{}
	for _, sn := range sns {
		gen := sn.Generation
		seen := map[pack.ID]bool{}
		var walk func(id pack.ID) error
		walk = func(id pack.ID) error {
			k := usedKey{pack.BlobHandle{ID: id, Type: pack.TreeBlob}, gen}
			if seen[id] {
				return nil
			}
			seen[id] = true
			used[k] = true
			t, err := snapshot.LoadTree(ctx, r, id)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", sn.ID().Short(), err)
			}
			for _, p := range t.Parts {
				used[usedKey{pack.BlobHandle{ID: p, Type: pack.TreeBlob}, gen}] = true
			}
			for _, n := range t.Nodes {
				switch n.Type {
				case snapshot.TypeDir:
					if err := walk(*n.Subtree); err != nil {
						return err
					}
				case snapshot.TypeFile:
					for _, b := range n.Content {
						used[usedKey{pack.BlobHandle{ID: b, Type: pack.DataBlob}, gen}] = true
					}
				}
			}
			return nil
		}
		if err := walk(sn.Tree); err != nil {
			return nil, err
		}
	}
	return used, nil
}

func makePlan(ctx context.Context, r *repo.Repository, o Options) (*Plan, error) {
	sns, err := snapshot.LoadAll(ctx, r)
	if err != nil {
		// A snapshot we can't read may need any blob: don't guess.
		return nil, fmt.Errorf("prune: %w; repair or remove the damaged snapshot first", err)
	}
	used, err := usedBlobs(ctx, r, sns)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	plan := &Plan{Snapshots: len(sns), used: used}
	idxIDs, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	plan.IndexFilesBefore = len(idxIDs)

	// The listing of data/ the session took once its lock was held: no
	// pack written before then by a finished command is missing from it.
	packs := map[pack.ID]*packStat{}
	for id, fi := range r.Session().Packs() {
		packs[id] = &packStat{id: id, size: fi.Size, modTime: fi.ModTime, onBackend: true}
	}
	plan.MissingPacks = len(r.Session().MissingPacks())
	// Which copy of each used blob is kept: the one in the snapshot's
	// generation, in a pack that exists (the lowest pack ID when several
	// do, so the choice doesn't depend on index order); without one,
	// every copy (blobs are never guessed away).
	idx := r.Index()
	keepLoc := map[usedKey]pack.ID{}
	idx.Each(func(l index.Location) {
		k := usedKey{l.Handle(), l.Generation}
		if !used[k] || packs[l.Pack] == nil {
			return
		}
		if cur, ok := keepLoc[k]; !ok || bytes.Compare(l.Pack[:], cur[:]) < 0 {
			keepLoc[k] = l.Pack
		}
	})
	anyGen := map[pack.BlobHandle]bool{}
	for k := range used {
		if _, ok := keepLoc[k]; !ok {
			anyGen[k.h] = true
		}
	}
	idx.Each(func(l index.Location) {
		ps := packs[l.Pack]
		if ps == nil {
			ps = &packStat{id: l.Pack}
			packs[l.Pack] = ps
		}
		ps.inIndex = true
		ps.gen = l.Generation
		ps.blobsTotal++
		k := usedKey{l.Handle(), l.Generation}
		if keepLoc[k] == l.Pack || anyGen[l.Handle()] {
			ps.used += int64(l.Length)
			ps.usedBlobs++
			plan.UsedBlobs++
		} else {
			ps.unused += int64(l.Length)
			plan.UnusedBlobs++
		}
		if l.Compression == pack.Uncompressed && l.RawLength > 64 {
			ps.uncompr = true
		}
	})
	now := o.Now()
	var candidates []*packStat
	// youngUnused is the unused data of packs kept for their age: it is
	// still there after this prune.
	var youngUnused int64
	for _, ps := range packs {
		plan.PacksTotal++
		plan.SizeTotal += ps.size
		young := o.Grace > 0 && !ps.modTime.IsZero() && now.Sub(ps.modTime) < o.Grace
		switch {
		case !ps.onBackend:
			// Not possible in a session that dropped missing packs; a
			// pack that is gone has nothing to delete.
		case !ps.inIndex:
			// Written by a command that never indexed it (killed, or still
			// running elsewhere: hence the grace period).
			plan.OrphanPacks++
			plan.SizeUnused += ps.size
			if young {
				plan.PacksYoung++
				youngUnused += ps.size
				continue
			}
			plan.deletePacks = append(plan.deletePacks, ps.id)
			plan.SizeDelete += ps.size
		case ps.usedBlobs == 0:
			plan.SizeUnused += ps.size
			if young {
				plan.PacksYoung++
				youngUnused += ps.size
				continue
			}
			plan.deletePacks = append(plan.deletePacks, ps.id)
			plan.SizeDelete += ps.size
		default:
			plan.SizeUnused += ps.unused
			if young {
				plan.PacksYoung++
				plan.PacksKeep++
				youngUnused += ps.unused
				continue
			}
			candidates = append(candidates, ps)
		}
	}
	chooseRepacks(plan, candidates, r.Config().PackSize, o)
	plan.SizeUnusedAfter += youngUnused
	if err := holdRetained(ctx, r.Backend(), plan, packs); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	plan.PacksDelete = len(plan.deletePacks)
	plan.PacksRepack = len(plan.repackPacks)
	plan.SizeFreed = plan.SizeDelete + plan.SizeRepack - repackedUsed(candidates, plan.repackPacks)
	return plan, nil
}

// holdRetained keeps the packs chosen for deletion or repacking that the
// storage still retains: they stay as they are, in the index, as if used.
// A backend without retention costs nothing here.
func holdRetained(ctx context.Context, be backend.Backend, plan *Plan, packs map[pack.ID]*packStat) error {
	if _, ok := backend.RetainerOf(be); !ok {
		return nil
	}
	held := func(id pack.ID) (bool, error) {
		until, err := backend.RetainedUntil(ctx, be, backend.Handle{Type: backend.PackFile, Name: id.String()})
		if errors.Is(err, fs.ErrNotExist) || err == nil && until.IsZero() {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		plan.PacksRetained++
		plan.SizeRetained += packs[id].size
		if plan.RetainedNext.IsZero() || until.Before(plan.RetainedNext) {
			plan.RetainedNext = until
		}
		if until.After(plan.RetainedUntil) {
			plan.RetainedUntil = until
		}
		return true, nil
	}
	var del, rep []pack.ID
	for _, id := range plan.deletePacks {
		ok, err := held(id)
		if err != nil {
			return err
		}
		if !ok {
			del = append(del, id)
			continue
		}
		plan.SizeDelete -= packs[id].size
		plan.SizeUnusedAfter += packs[id].size
		if packs[id].inIndex {
			plan.PacksKeep++
		}
	}
	for _, id := range plan.repackPacks {
		ok, err := held(id)
		if err != nil {
			return err
		}
		if !ok {
			rep = append(rep, id)
			continue
		}
		plan.SizeRepack -= packs[id].size
		plan.SizeUnusedAfter += packs[id].unused
		plan.PacksKeep++
	}
	plan.deletePacks, plan.repackPacks = del, rep
	return nil
}

func repackedUsed(c []*packStat, ids []pack.ID) int64 {
	var n int64
	for _, ps := range c {
		if slices.Contains(ids, ps.id) {
			n += ps.used
		}
	}
	return n
}

// chooseRepacks picks partly used packs to repack, most wasteful first,
// until the unused share left is at most MaxUnused (and within
// MaxRepackSize); small and uncompressed packs on request.
func chooseRepacks(plan *Plan, cands []*packStat, packSize int, o Options) {
	slices.SortFunc(cands, func(a, b *packStat) int {
		ra := float64(a.unused) / float64(a.used+a.unused)
		rb := float64(b.unused) / float64(b.used+b.unused)
		if ra != rb {
			if ra > rb {
				return -1
			}
			return 1
		}
		return slices.Compare(a.id[:], b.id[:])
	})
	var unusedLeft, usedTotal int64
	for _, ps := range cands {
		unusedLeft += ps.unused
		usedTotal += ps.used
	}
	var repackBytes int64
	for _, ps := range cands {
		want := false
		if ps.unused > 0 && float64(unusedLeft) > o.MaxUnused*float64(usedTotal+unusedLeft) {
			want = true
		}
		if o.RepackSmall && ps.size < int64(packSize)/4 && len(cands) > 1 {
			want = true
		}
		if o.RepackUncompressed && ps.uncompr {
			want = true
		}
		if !want || (o.MaxRepackSize > 0 && repackBytes+ps.size > o.MaxRepackSize) {
			plan.PacksKeep++
			continue
		}
		repackBytes += ps.size
		unusedLeft -= ps.unused
		plan.repackPacks = append(plan.repackPacks, ps.id)
		plan.SizeRepack += ps.size
	}
	plan.SizeUnusedAfter = unusedLeft
}

// execute repacks, writes the new index superseding every old index file,
// and only then deletes index files and packs.
func execute(ctx context.Context, r *repo.Repository, o Options, plan *Plan) error {
	if err := executePlan(ctx, r, o, plan); err != nil {
		return err
	}
	// Parity files left by interrupted writers or deleters; young ones may
	// belong to a file being written by a host that can't see our lock.
	if _, err := r.Parity().RemoveOrphans(ctx, o.Now().Add(-o.Grace)); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}

func executePlan(ctx context.Context, r *repo.Repository, o Options, plan *Plan) error {
	idx := r.Index()
	gone := append(slices.Clone(plan.deletePacks), plan.repackPacks...)
	if len(plan.repackPacks) > 0 {
		if err := repack(ctx, r, plan, gone); err != nil {
			return fmt.Errorf("prune: repack: %w", err)
		}
	}
	if len(gone) == 0 && plan.MissingPacks == 0 {
		return nil
	}
	// The new index names neither the packs that go nor those that are
	// gone already (the session dropped their entries).
	idx.DropPacks(gone)
	oldIndex, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return err
	}
	if err := r.IndexFiles().Rewrite(ctx, oldIndex); err != nil {
		return fmt.Errorf("prune: write new index: %w", err)
	}
	if o.BeforeDelete != nil {
		if err := o.BeforeDelete(ctx); err != nil {
			return err
		}
	}
	for _, id := range oldIndex {
		err := r.RemoveFile(ctx, backend.Handle{Type: backend.IndexFile, Name: id.String()})
		if errors.Is(err, backend.ErrRetained) {
			// Superseded: readers ignore it until it may go.
			plan.IndexRetained++
			continue
		}
		if err != nil {
			return fmt.Errorf("prune: remove old index %s: %w", id.Short(), err)
		}
	}
	for _, id := range gone {
		if err := r.RemoveFile(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}); err != nil {
			return fmt.Errorf("prune: remove pack %s: %w", id.Short(), err)
		}
	}
	return nil
}

// repack copies the used blobs of the chosen packs into new packs of the
// same generation. gone lists every pack this prune removes.
func repack(ctx context.Context, r *repo.Repository, plan *Plan, gone []pack.ID) error {
	idx := r.Index()
	byPack := map[pack.ID][]index.Location{}
	idx.Each(func(l index.Location) {
		if slices.Contains(plan.repackPacks, l.Pack) && plan.used[usedKey{l.Handle(), l.Generation}] {
			byPack[l.Pack] = append(byPack[l.Pack], l)
		}
	})
	// The blobs must be written again although the index knows them: hide
	// every pack this prune removes first (the repacked ones and the
	// deleted ones), so no blob is deduplicated against a pack that goes.
	idx.DropPacks(gone)
	return r.WithUploader(ctx, func(ctx context.Context) error {
		return repackBlobs(ctx, r, byPack)
	})
}

func repackBlobs(ctx context.Context, r *repo.Repository, byPack map[pack.ID][]index.Location) error {
	s := r.NewSaver()
	var buf []byte
	for packID, locs := range byPack {
		entries := make([]pack.Entry, len(locs))
		for i, l := range locs {
			entries[i] = l.Entry
		}
		gen := locs[0].Generation
		err := r.ReadPack(ctx, packID, entries, func(e pack.Entry, stored []byte) error {
			var err error
			buf, err = r.DecodeBlob(stored, e, buf[:0], packID)
			if err != nil {
				return err
			}
			_, _, err = s.SaveWithID(ctx, e.Type, e.ID, buf, gen)
			return err
		})
		if err != nil {
			return fmt.Errorf("pack %s: %w", packID.Short(), err)
		}
	}
	return nil
}
