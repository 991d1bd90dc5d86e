package snapshot

import (
	"context"
	"slices"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
)

// Stats describes a set of snapshots and the repository they live in.
type Stats struct {
	Snapshots   int   `json:"snapshots_count"`
	TotalFiles  int64 `json:"total_file_count"`
	RestoreSize int64 `json:"restore_size"`
	// Distinct blobs the snapshots reference, their plaintext and stored
	// sizes.
	DataBlobs   int     `json:"data_blobs"`
	TreeBlobs   int     `json:"tree_blobs"`
	UniqueSize  int64   `json:"unique_size"`
	StoredSize  int64   `json:"stored_size"`
	DedupRatio  float64 `json:"dedup_ratio"`
	Compression float64 `json:"compression_ratio"`
	// Generations lists every generation of the repository.
	Generations []GenerationStats `json:"generations"`
}

// GenerationStats is the size of one generation (DESIGN.md section 1).
type GenerationStats struct {
	Generation pack.Generation `json:"generation"`
	Snapshots  int             `json:"snapshots"`
	Packs      int             `json:"packs"`
	Blobs      int             `json:"blobs"`
	StoredSize int64           `json:"stored_size"`
}

// ComputeStats walks the trees of sns once each (shared subtrees once)
// and sizes the repository's generations from the index.
func ComputeStats(ctx context.Context, r *repo.Repository, sns []*Snapshot) (Stats, error) {
	st := Stats{Snapshots: len(sns)}
	trees := map[pack.ID]bool{}
	blobs := map[pack.ID]bool{}
	idx := r.Index()
	var walk func(id pack.ID) error
	walk = func(id pack.ID) error {
		if trees[id] {
			return nil
		}
		trees[id] = true
		if locs := idx.LookupAny(pack.BlobHandle{ID: id, Type: pack.TreeBlob}); len(locs) > 0 {
			st.StoredSize += int64(locs[0].Length)
			st.UniqueSize += int64(locs[0].RawLength)
		}
		t, err := LoadTree(ctx, r, id)
		if err != nil {
			return err
		}
		for _, p := range t.Parts {
			if !trees[p] {
				trees[p] = true
				if locs := idx.LookupAny(pack.BlobHandle{ID: p, Type: pack.TreeBlob}); len(locs) > 0 {
					st.StoredSize += int64(locs[0].Length)
					st.UniqueSize += int64(locs[0].RawLength)
				}
			}
		}
		for _, n := range t.Nodes {
			switch n.Type {
			case TypeDir:
				if err := walk(*n.Subtree); err != nil {
					return err
				}
			case TypeFile:
				for _, b := range n.Content {
					if blobs[b] {
						continue
					}
					blobs[b] = true
					if locs := idx.LookupAny(pack.BlobHandle{ID: b, Type: pack.DataBlob}); len(locs) > 0 {
						st.StoredSize += int64(locs[0].Length)
						st.UniqueSize += int64(locs[0].RawLength)
					}
				}
			}
		}
		return nil
	}
	for _, sn := range sns {
		// Restore size counts each snapshot in full, as restoring it would.
		if err := Walk(ctx, r, sn.Tree, "/", func(_ string, n *Node) error {
			if n.Type == TypeFile {
				st.TotalFiles++
				st.RestoreSize += int64(n.Size)
			}
			return nil
		}); err != nil {
			return st, err
		}
		if err := walk(sn.Tree); err != nil {
			return st, err
		}
	}
	st.DataBlobs, st.TreeBlobs = len(blobs), len(trees)
	if st.UniqueSize > 0 {
		st.DedupRatio = float64(st.RestoreSize) / float64(st.UniqueSize)
	}
	if st.StoredSize > 0 {
		st.Compression = float64(st.UniqueSize) / float64(st.StoredSize)
	}
	st.Generations = generationStats(r, sns)
	return st, nil
}

func generationStats(r *repo.Repository, sns []*Snapshot) []GenerationStats {
	byGen := map[pack.Generation]*GenerationStats{}
	get := func(g pack.Generation) *GenerationStats {
		if byGen[g] == nil {
			byGen[g] = &GenerationStats{Generation: g}
		}
		return byGen[g]
	}
	packs := map[pack.ID]bool{}
	r.Index().Each(func(l index.Location) {
		gs := get(l.Generation)
		gs.Blobs++
		gs.StoredSize += int64(l.Length)
		if !packs[l.Pack] {
			packs[l.Pack] = true
			gs.Packs++
		}
	})
	for _, sn := range sns {
		get(sn.Generation).Snapshots++
	}
	out := make([]GenerationStats, 0, len(byGen))
	for _, gs := range byGen {
		out = append(out, *gs)
	}
	slices.SortFunc(out, func(a, b GenerationStats) int {
		return slices.Compare(a.Generation[:], b.Generation[:])
	})
	return out
}
