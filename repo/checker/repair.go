package checker

import (
	"context"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
)

// IndexRepair says what RepairIndex did.
type IndexRepair struct {
	Packs        int      `json:"packs"`
	Blobs        int      `json:"blobs"`
	Unreadable   []string `json:"unreadable_packs,omitempty"`
	OldIndexFile int      `json:"old_index_files"`
}

// RepairIndex rebuilds the index from the headers of the packs that are
// there (every pack carries its own header for this), writes it
// superseding every old index file, then removes the old files. Packs whose
// header can't be read are left out and listed. The caller holds an
// exclusive lock.
func RepairIndex(ctx context.Context, r *repo.Repository) (*IndexRepair, error) {
	old, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	res := &IndexRepair{OldIndexFile: len(old)}
	var sizes []backend.FileInfo
	if err := r.Backend().List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		sizes = append(sizes, fi)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	idx := index.New()
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
		idx.AddPack(index.Pack{ID: id, Generation: gen, Entries: entries})
		res.Packs++
		res.Blobs += len(entries)
	}
	r.ReplaceIndex(idx)
	if err := r.RewriteIndex(ctx, old); err != nil {
		return nil, fmt.Errorf("write index: %w", err)
	}
	for _, id := range old {
		if err := r.Backend().Remove(ctx, backend.Handle{Type: backend.IndexFile, Name: id.String()}); err != nil {
			return nil, fmt.Errorf("remove old index %s: %w", id.Short(), err)
		}
	}
	return res, nil
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
