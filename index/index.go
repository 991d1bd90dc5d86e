package index

import (
	"bytes"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pack"
)

// Location says where a blob is stored.
type Location struct {
	Pack       pack.ID
	Generation pack.Generation
	pack.Entry
}

// entry is the in-memory form of one blob: 52 bytes with padding. Packs and
// generations are interned into small tables.
type entry struct {
	id        pack.ID
	pack      uint32
	offset    uint32
	length    uint32
	rawLength uint32
	typComp   uint8 // type<<4 | compression
}

func (e *entry) blobType() pack.BlobType { return pack.BlobType(e.typComp >> 4) }

type packInfo struct {
	id  pack.ID
	gen uint32
}

// mergeThreshold is the number of blobs added one by one after which they
// are merged into the sorted table.
const mergeThreshold = 1 << 15

// Index maps blob IDs to their locations, at most one per generation that
// matters (duplicates from interrupted runs are tolerated). It is safe for
// concurrent use.
type Index struct {
	mu      sync.RWMutex
	packs   []packInfo
	packIdx map[pack.ID]uint32
	gens    []pack.Generation
	genIdx  map[pack.Generation]uint32
	sorted  []entry
	// pending holds blobs added since the last merge, by ID.
	pending map[pack.ID][]entry
	npend   int
	// dropped marks packs whose entries must be ignored (the pack is gone).
	dropped map[uint32]bool
}

// New returns an empty index.
func New() *Index {
	return &Index{
		packIdx: map[pack.ID]uint32{},
		genIdx:  map[pack.Generation]uint32{},
		pending: map[pack.ID][]entry{},
		dropped: map[uint32]bool{},
	}
}

func (idx *Index) internPack(id pack.ID, gen pack.Generation) uint32 {
	if p, ok := idx.packIdx[id]; ok {
		return p
	}
	g, ok := idx.genIdx[gen]
	if !ok {
		g = uint32(len(idx.gens))
		idx.gens = append(idx.gens, gen)
		idx.genIdx[gen] = g
	}
	p := uint32(len(idx.packs))
	idx.packs = append(idx.packs, packInfo{id: id, gen: g})
	idx.packIdx[id] = p
	return p
}

func toEntry(p uint32, e pack.Entry) entry {
	return entry{id: e.ID, pack: p, offset: e.Offset, length: e.Length, rawLength: e.RawLength,
		typComp: uint8(e.Type)<<4 | uint8(e.Compression)}
}

// AddPack records the blobs of one pack. Use it for packs written while the
// index is in use; use Merge for bulk loading.
func (idx *Index) AddPack(p Pack) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	pi := idx.internPack(p.ID, p.Generation)
	for _, e := range p.Entries {
		idx.pending[e.ID] = append(idx.pending[e.ID], toEntry(pi, e))
		idx.npend++
	}
	if idx.npend >= mergeThreshold {
		idx.mergePending()
	}
}

// Merge adds the packs of an index file in bulk. Call Sort once after the
// last Merge and before any lookup.
func (idx *Index) Merge(f *File) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	for _, p := range f.Packs {
		pi := idx.internPack(p.ID, p.Generation)
		for _, e := range p.Entries {
			idx.sorted = append(idx.sorted, toEntry(pi, e))
		}
	}
}

func cmpEntry(a, b entry) int { return bytes.Compare(a.id[:], b.id[:]) }

// Sort sorts bulk-merged entries; Lookup requires it after Merge.
func (idx *Index) Sort() {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	slices.SortFunc(idx.sorted, cmpEntry)
	if cap(idx.sorted) > len(idx.sorted)+len(idx.sorted)/32 {
		// Drop the slack append left, to keep within the memory budget.
		idx.sorted = slices.Clone(idx.sorted)
	}
}

// Grow reserves room for n more bulk-merged entries.
func (idx *Index) Grow(n int) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	idx.sorted = slices.Grow(idx.sorted, n)
}

func (idx *Index) mergePending() {
	add := make([]entry, 0, idx.npend)
	for _, es := range idx.pending {
		add = append(add, es...)
	}
	slices.SortFunc(add, cmpEntry)
	merged := make([]entry, 0, len(idx.sorted)+len(add))
	i, j := 0, 0
	for i < len(idx.sorted) && j < len(add) {
		if cmpEntry(idx.sorted[i], add[j]) <= 0 {
			merged = append(merged, idx.sorted[i])
			i++
		} else {
			merged = append(merged, add[j])
			j++
		}
	}
	merged = append(merged, idx.sorted[i:]...)
	merged = append(merged, add[j:]...)
	idx.sorted = merged
	idx.pending = map[pack.ID][]entry{}
	idx.npend = 0
}

func (idx *Index) location(e *entry) Location {
	pi := idx.packs[e.pack]
	return Location{
		Pack:       pi.id,
		Generation: idx.gens[pi.gen],
		Entry: pack.Entry{ID: e.id, Type: e.blobType(), Compression: pack.Compression(e.typComp & 0xf),
			Offset: e.offset, Length: e.length, RawLength: e.rawLength},
	}
}

// each calls fn for every live entry of blob id until fn returns false.
func (idx *Index) each(id pack.ID, fn func(*entry) bool) {
	i, _ := slices.BinarySearchFunc(idx.sorted, id, func(e entry, id pack.ID) int {
		return bytes.Compare(e.id[:], id[:])
	})
	for ; i < len(idx.sorted) && idx.sorted[i].id == id; i++ {
		if !idx.dropped[idx.sorted[i].pack] && !fn(&idx.sorted[i]) {
			return
		}
	}
	es := idx.pending[id]
	for k := range es {
		if !idx.dropped[es[k].pack] && !fn(&es[k]) {
			return
		}
	}
}

// Lookup returns where blob h is stored in generation gen.
func (idx *Index) Lookup(h pack.BlobHandle, gen pack.Generation) (Location, bool) {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	g, ok := idx.genIdx[gen]
	if !ok {
		return Location{}, false
	}
	var loc Location
	found := false
	idx.each(h.ID, func(e *entry) bool {
		if e.blobType() == h.Type && idx.packs[e.pack].gen == g {
			loc, found = idx.location(e), true
			return false
		}
		return true
	})
	return loc, found
}

// Has reports whether blob h is stored in generation gen.
func (idx *Index) Has(h pack.BlobHandle, gen pack.Generation) bool {
	_, ok := idx.Lookup(h, gen)
	return ok
}

// LookupAny returns every location of blob h, in any generation.
func (idx *Index) LookupAny(h pack.BlobHandle) []Location {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	var locs []Location
	idx.each(h.ID, func(e *entry) bool {
		if e.blobType() == h.Type {
			locs = append(locs, idx.location(e))
		}
		return true
	})
	return locs
}

// DropPacks makes the index ignore every entry in the given packs, e.g.
// because they are missing from the backend.
func (idx *Index) DropPacks(ids []pack.ID) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	for _, id := range ids {
		if p, ok := idx.packIdx[id]; ok {
			idx.dropped[p] = true
		}
	}
}

// Len returns the number of entries.
func (idx *Index) Len() int {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	return len(idx.sorted) + idx.npend
}

// Packs returns the IDs of all packs the index knows and does not ignore.
func (idx *Index) Packs() map[pack.ID]pack.Generation {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	m := make(map[pack.ID]pack.Generation, len(idx.packs))
	for i, p := range idx.packs {
		if !idx.dropped[uint32(i)] {
			m[p.id] = idx.gens[p.gen]
		}
	}
	return m
}

// Each calls fn for every entry the index does not ignore, in no
// particular order. fn must not call back into the index.
func (idx *Index) Each(fn func(Location)) {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	for i := range idx.sorted {
		if !idx.dropped[idx.sorted[i].pack] {
			fn(idx.location(&idx.sorted[i]))
		}
	}
	for _, es := range idx.pending {
		for k := range es {
			if !idx.dropped[es[k].pack] {
				fn(idx.location(&es[k]))
			}
		}
	}
}
