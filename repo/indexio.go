package repo

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Load reads and decodes one index file.
func (xf *IndexFiles) Load(ctx context.Context, id pack.ID) (*index.File, error) {
	r := xf.r
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

// loadIndex reads every index file concurrently into the in-memory index.
// Each file is merged as soon as it is read and verified, so only the
// files being read are held whole; files superseded by another file are
// ignored. Only a session loads the index, after its lock is held.
func (r *Repository) loadIndex(ctx context.Context) error {
	ids, err := r.List(ctx, backend.IndexFile)
	if err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	l := index.NewLoader()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			plain, err := r.LoadUnpacked(gctx, backend.IndexFile, id)
			if err != nil {
				return err
			}
			if err := l.AddEncoded(id, plain); err != nil {
				return fmt.Errorf("index %s: %w: %w", id.Short(), ErrDamaged, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	r.idx = l.Finish()
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

// indexFilePacks bounds the packs per index file when the whole index is
// rewritten.
const indexFilePacks = 20000

// Rewrite writes the whole in-memory index (without dropped packs)
// to new index files; the last of them lists supersede, so readers switch
// from the old files to the new ones at once, and a crash part way leaves
// the old files in force. The caller removes the superseded files after.
func (xf *IndexFiles) Rewrite(ctx context.Context, supersede []pack.ID) error {
	r := xf.r
	byPack := map[pack.ID]*index.Pack{}
	var order []pack.ID
	r.idx.Each(func(l index.Location) {
		p := byPack[l.Pack]
		if p == nil {
			p = &index.Pack{ID: l.Pack, Generation: l.Generation}
			byPack[l.Pack] = p
			order = append(order, l.Pack)
		}
		p.Entries = append(p.Entries, l.Entry)
	})
	slices.SortFunc(order, func(a, b pack.ID) int { return bytes.Compare(a[:], b[:]) })
	for start := 0; start < len(order) || start == 0; start += indexFilePacks {
		end := min(start+indexFilePacks, len(order))
		f := &index.File{}
		for _, id := range order[start:end] {
			f.Packs = append(f.Packs, *byPack[id])
		}
		if end == len(order) {
			f.Supersedes = supersede
		}
		if _, err := r.SaveUnpacked(ctx, backend.IndexFile, f.Encode()); err != nil {
			return fmt.Errorf("save index: %w", err)
		}
		if end == len(order) {
			break
		}
	}
	return nil
}

// Replace swaps the in-memory index (repair rebuilds one).
func (xf *IndexFiles) Replace(idx *index.Index) { xf.r.idx = idx }
