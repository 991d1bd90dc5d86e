package repo

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// LoadIndexFile reads and decodes one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, id pack.ID) (*index.File, error) {
	plain, err := r.LoadUnpacked(ctx, backend.IndexFile, id)
	if err != nil {
		return nil, err
	}
	f, err := index.Decode(plain)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w: %w", id.Short(), ErrDamaged, err)
	}
	return f, nil
}

// LoadIndex reads every index file concurrently into the in-memory index.
// Files superseded by another file are ignored.
func (r *Repository) LoadIndex(ctx context.Context) error {
	ids, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	files := make([]*index.File, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			f, err := r.LoadIndexFile(gctx, id)
			if err != nil {
				return err
			}
			files[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	superseded := map[pack.ID]bool{}
	for _, f := range files {
		for _, s := range f.Supersedes {
			superseded[s] = true
		}
	}
	idx := index.New()
	n := 0
	for i, f := range files {
		if !superseded[ids[i]] {
			for _, p := range f.Packs {
				n += len(p.Entries)
			}
		}
	}
	idx.Grow(n)
	for i, f := range files {
		if !superseded[ids[i]] {
			idx.Merge(f)
		}
	}
	idx.Sort()
	r.idx = idx
	return nil
}

// saveIndexFile writes an index file listing packs.
func (r *Repository) saveIndexFile(ctx context.Context, packs []index.Pack) error {
	f := &index.File{Packs: packs}
	if _, err := r.SaveUnpacked(ctx, backend.IndexFile, f.Encode()); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	return nil
}
