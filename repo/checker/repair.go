package checker

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
)

// IndexRepair says what RepairIndex did.
type IndexRepair struct {
	// Parity lists index files rebuilt (or not) from their parity files.
	Parity []FileRepair `json:"parity,omitempty"`
	// Rebuilt is set when the index was rebuilt from the pack headers;
	// it isn't when parity alone made the index whole again.
	Rebuilt    bool     `json:"rebuilt_from_packs"`
	Packs      int      `json:"packs"`
	Blobs      int      `json:"blobs"`
	Unreadable []string `json:"unreadable_packs,omitempty"`
	// MissingPacks lists packs the index named that are gone; their
	// entries were removed from the index.
	MissingPacks []string `json:"missing_packs_removed,omitempty"`
	OldIndexFile int      `json:"old_index_files"`
}

// RepairIndex rebuilds the index from the headers of the packs that are
// there (every pack carries its own header for this), writes it
// superseding every old index file, then removes the old files. Packs whose
// header can't be read are left out and listed; entries of packs that are
// gone are removed and listed. It needs an exclusive session; it loads
// the index itself.
func RepairIndex(ctx context.Context, r *repo.Repository, readAllPacks bool) (*IndexRepair, error) {
	if err := r.RequireLock(repo.ExclusiveLock); err != nil {
		return nil, fmt.Errorf("repair index: %w", err)
	}
	fixed, err := RepairFromParity(ctx, r, backend.IndexFile, nil)
	if err != nil {
		return nil, err
	}
	old, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	res := &IndexRepair{OldIndexFile: len(old), Parity: fixed}
	var sizes []backend.FileInfo
	if err := r.Backend().List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		sizes = append(sizes, fi)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	if !readAllPacks && indexWhole(ctx, r, fixed, sizes) {
		res.Packs = len(sizes)
		missing := r.Session().MissingPacks()
		if len(missing) == 0 {
			r.Index().Each(func(index.Location) { res.Blobs++ })
			return res, nil
		}
		// The index is whole but names packs that are gone: write it
		// again without them.
		r.Index().DropPacks(missing)
		for _, id := range missing {
			res.MissingPacks = append(res.MissingPacks, id.String())
		}
		r.Index().Each(func(index.Location) { res.Blobs++ })
		if err := r.IndexFiles().Rewrite(ctx, old); err != nil {
			return nil, fmt.Errorf("write index: %w", err)
		}
		for _, id := range old {
			if err := r.RemoveFile(ctx, backend.Handle{Type: backend.IndexFile, Name: id.String()}); err != nil {
				return nil, fmt.Errorf("remove old index %s: %w", id.Short(), err)
			}
		}
		return res, nil
	}
	res.Rebuilt = true
	for _, id := range r.Session().MissingPacks() {
		res.MissingPacks = append(res.MissingPacks, id.String())
	}
	l := index.NewLoader()
	for _, fi := range sizes {
		id, err := pack.ParseID(fi.Name)
		if err != nil {
			continue
		}
		gen, entries, err := readPackHeader(ctx, r, id, fi.Size)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res.Unreadable = append(res.Unreadable, fmt.Sprintf("%s: %v", id.Short(), err))
			continue
		}
		l.AddPack(index.Pack{ID: id, Generation: gen, Entries: entries})
		res.Packs++
		res.Blobs += len(entries)
	}
	r.IndexFiles().Replace(l.Finish())
	if err := r.IndexFiles().Rewrite(ctx, old); err != nil {
		return nil, fmt.Errorf("write index: %w", err)
	}
	for _, id := range old {
		if err := r.RemoveFile(ctx, backend.Handle{Type: backend.IndexFile, Name: id.String()}); err != nil {
			return nil, fmt.Errorf("remove old index %s: %w", id.Short(), err)
		}
	}
	return res, nil
}

// indexWhole reports whether, after the parity step, every index file is
// intact and loads, and names every pack there is.
func indexWhole(ctx context.Context, r *repo.Repository, fixed []FileRepair, packs []backend.FileInfo) bool {
	for _, f := range fixed {
		if !f.Rebuilt {
			return false
		}
	}
	if err := r.Session().LoadIndex(ctx, true); err != nil {
		return false
	}
	indexed := map[pack.ID]bool{}
	for p := range r.Index().Packs() {
		indexed[p] = true
	}
	for _, fi := range packs {
		if id, err := pack.ParseID(fi.Name); err == nil && !indexed[id] {
			return false
		}
	}
	return true
}

// readPackHeader reads the header at the end of pack id with range reads.
func readPackHeader(ctx context.Context, r *repo.Repository, id pack.ID, size int64) (pack.Generation, []pack.Entry, error) {
	ra := &backendReaderAt{ctx: ctx, be: r.Backend(), h: backend.Handle{Type: backend.PackFile, Name: id.String()}}
	return pack.ReadHeader(ra, size, r.Key())
}

type backendReaderAt struct {
	ctx context.Context
	be  backend.Backend
	h   backend.Handle
}

func (b *backendReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	err := b.be.Load(b.ctx, b.h, len(p), off, func(rd io.Reader) error {
		var err error
		n, err = io.ReadFull(rd, p)
		return err
	})
	return n, err
}

// PackRepair says what RepairPacks did with one pack.
type PackRepair struct {
	Pack string `json:"pack"`
	// Rebuilt is set when the pack was rebuilt from its parity file, byte
	// for byte; Parity says what parity found (or why it could not help).
	Rebuilt bool   `json:"rebuilt_from_parity"`
	Parity  string `json:"parity,omitempty"`
	Saved   int    `json:"blobs_saved"`
	Lost    int    `json:"blobs_lost"`
	Removed bool   `json:"removed"`
}

// RepairPacks salvages the good blobs of damaged packs into new packs of
// the same generation, then writes the index and removes the packs. Blobs
// that fail authentication are lost; `repair snapshots` then rewrites the
// snapshots that needed them. The caller holds an exclusive lock.
func RepairPacks(ctx context.Context, r *repo.Repository, ids []pack.ID) ([]PackRepair, error) {
	if err := r.RequireLock(repo.ExclusiveLock); err != nil {
		return nil, fmt.Errorf("repair packs: %w", err)
	}
	// A pack that is neither stored nor indexed is a mistyped ID (or
	// one another command removed): say so rather than "0 blobs saved".
	if s := r.Session(); s != nil && s.Packs() != nil {
		indexed := r.Index().Packs()
		for _, id := range ids {
			if _, ok := s.Packs()[id]; !ok {
				if _, ok := indexed[id]; !ok {
					return nil, fmt.Errorf("repair packs: no pack %s in the repository: %w", id.Short(), fs.ErrNotExist)
				}
			}
		}
	}
	// Parity first: a pack rebuilt byte for byte loses nothing.
	var out, salvaged []PackRepair
	var salvage []pack.ID
	for _, id := range ids {
		fr, err := RepairFromParity(ctx, r, backend.PackFile, []pack.ID{id})
		if err != nil {
			return nil, err
		}
		res := PackRepair{Pack: id.Short()}
		if len(fr) == 1 {
			res.Parity = fr[0].Damage
			if fr[0].Error != "" {
				res.Parity = fr[0].Error
			}
			if fr[0].Rebuilt {
				res.Rebuilt = true
				out = append(out, res)
				continue
			}
		}
		salvage = append(salvage, id)
		salvaged = append(salvaged, res)
	}
	if len(salvage) == 0 {
		return out, nil
	}
	res, err := salvagePacks(ctx, r, salvage)
	for i := range res {
		res[i].Parity = salvaged[i].Parity
	}
	return append(out, res...), err
}

// salvagePacks copies the good blobs of packs into new packs.
func salvagePacks(ctx context.Context, r *repo.Repository, ids []pack.ID) ([]PackRepair, error) {
	idx := r.Index()
	byPack := map[pack.ID][]index.Location{}
	idx.Each(func(l index.Location) { byPack[l.Pack] = append(byPack[l.Pack], l) })
	// Hide every pack being salvaged before saving anything: a blob must
	// not be deduplicated against another pack this repair removes.
	idx.DropPacks(ids)
	r.StartWriting()
	s := r.NewSaver()
	var out []PackRepair
	for _, id := range ids {
		res := PackRepair{Pack: id.Short()}
		data, err := r.LoadFile(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()})
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		gen, entries, herr := pack.ReadHeader(bytesReaderAt(data), int64(len(data)), r.Key())
		if herr != nil {
			// Fall back on the index for where the blobs are.
			entries = nil
			for _, l := range byPack[id] {
				entries = append(entries, l.Entry)
				gen = l.Generation
			}
		}
		var buf []byte
		for _, e := range entries {
			if int64(e.Offset)+int64(e.Length) > int64(len(data)) {
				res.Lost++
				continue
			}
			buf, err = r.DecodeBlob(data[e.Offset:e.Offset+e.Length], e, buf[:0], id)
			if err != nil {
				res.Lost++
				continue
			}
			if _, _, err := s.SaveWithID(ctx, e.Type, e.ID, buf, gen); err != nil {
				return nil, err
			}
			res.Saved++
		}
		out = append(out, res)
	}
	if err := r.Flush(ctx); err != nil {
		return nil, err
	}
	old, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	if err := r.IndexFiles().Rewrite(ctx, old); err != nil {
		return nil, err
	}
	for _, o := range old {
		if err := r.RemoveFile(ctx, backend.Handle{Type: backend.IndexFile, Name: o.String()}); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		if err := r.RemoveFile(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}); err == nil {
			out[i].Removed = true
		}
	}
	return out, nil
}
