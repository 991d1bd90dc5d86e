package index

import (
	"bytes"
	"cmp"
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

// entry is the in-memory form of one blob: 48 bytes. The first byte of
// the blob ID is the number of the bucket holding the entry, so it is not
// stored; packs and generations are interned into small tables.
type entry struct {
	id        [len(pack.ID{}) - 1]byte // the blob ID without its first byte
	typComp   uint8                    // type<<4 | compression
	pack      uint32
	offset    uint32
	length    uint32
	rawLength uint32
}

func (e *entry) blobType() pack.BlobType { return pack.BlobType(e.typComp >> 4) }

type packInfo struct {
	id  pack.ID
	gen uint32
}

// mergeThreshold is the number of blobs added one by one after which they
// are merged into the sorted buckets.
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
	// buckets holds the entries by the first byte of their blob ID, each
	// bucket sorted by the rest of the ID. Buckets are separate arrays, so
	// merging new blobs reallocates one bucket at a time, never the whole
	// table.
	buckets [256][]entry
	nsorted int
	// pending holds blobs added since the last merge, by bucket, each
	// sorted; they are few, so inserting in order is cheap.
	pending [256][]entry
	npend   int
	// dropped marks packs whose entries must be ignored (the pack is gone).
	dropped map[uint32]bool
	// bulk collects the files given to Merge until Sort.
	bulk *Loader
}

// New returns an empty index.
func New() *Index {
	return &Index{
		packIdx: map[pack.ID]uint32{},
		genIdx:  map[pack.Generation]uint32{},
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
	en := entry{pack: p, offset: e.Offset, length: e.Length, rawLength: e.RawLength,
		typComp: uint8(e.Type)<<4 | uint8(e.Compression)}
	copy(en.id[:], e.ID[1:])
	return en
}

// AddPack records the blobs of one pack. Use it for packs written while the
// index is in use; use a Loader for bulk loading.
func (idx *Index) AddPack(p Pack) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	pi := idx.internPack(p.ID, p.Generation)
	for _, e := range p.Entries {
		en := toEntry(pi, e)
		b := &idx.pending[e.ID[0]]
		i, _ := slices.BinarySearchFunc(*b, en, cmpEntry)
		*b = slices.Insert(*b, i, en)
		idx.npend++
	}
	if idx.npend >= mergeThreshold {
		idx.mergePending()
	}
}

// Merge adds the packs of an index file in bulk. Call Sort once after the
// last Merge and before any lookup. A Loader does the same for many files
// with less memory.
func (idx *Index) Merge(f *File) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.bulk == nil {
		idx.bulk = NewLoader()
	}
	idx.bulk.AddFile(pack.ID{}, f)
}

// cmpEntry orders entries of one bucket by blob ID.
func cmpEntry(a, b entry) int { return bytes.Compare(a.id[:], b.id[:]) }

// cmpFull orders entries of one bucket by blob ID, then by everything
// else, so equal entries end up next to each other.
func cmpFull(a, b entry) int {
	if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
		return c
	}
	if a.pack != b.pack {
		return cmp.Compare(a.pack, b.pack)
	}
	if a.typComp != b.typComp {
		return cmp.Compare(a.typComp, b.typComp)
	}
	if a.offset != b.offset {
		return cmp.Compare(a.offset, b.offset)
	}
	if a.length != b.length {
		return cmp.Compare(a.length, b.length)
	}
	return cmp.Compare(a.rawLength, b.rawLength)
}

// Sort merges the files given to Merge; Lookup requires it after Merge.
func (idx *Index) Sort() {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.bulk != nil {
		idx.bulk.finishInto(idx)
		idx.bulk = nil
	}
}

// mergePending merges the pending blobs into the buckets, one bucket at a
// time, in place from the back. A bucket that must grow grows by an eighth
// more than it needs, so merges rarely reallocate and the slack stays
// small.
func (idx *Index) mergePending() {
	for b := range idx.pending {
		add := idx.pending[b]
		if len(add) == 0 {
			continue
		}
		old := idx.buckets[b]
		n := len(old) + len(add)
		if cap(old) < n {
			grown := make([]entry, len(old), n+n/8)
			copy(grown, old)
			old = grown
		}
		merged := old[:n]
		i, j := len(old)-1, len(add)-1
		for k := n - 1; j >= 0; k-- {
			if i >= 0 && cmpEntry(old[i], add[j]) > 0 {
				merged[k] = old[i]
				i--
			} else {
				merged[k] = add[j]
				j--
			}
		}
		idx.buckets[b] = merged
		idx.pending[b] = add[:0]
	}
	idx.nsorted += idx.npend
	idx.npend = 0
}

func (idx *Index) location(b byte, e *entry) Location {
	pi := idx.packs[e.pack]
	l := Location{
		Pack:       pi.id,
		Generation: idx.gens[pi.gen],
		Entry: pack.Entry{Type: e.blobType(), Compression: pack.Compression(e.typComp & 0xf),
			Offset: e.offset, Length: e.length, RawLength: e.rawLength},
	}
	l.ID[0] = b
	copy(l.ID[1:], e.id[:])
	return l
}

// each calls fn for every live entry of blob id until fn returns false.
func (idx *Index) each(id pack.ID, fn func(*entry) bool) {
	key := id[1:]
	for _, s := range [2][]entry{idx.buckets[id[0]], idx.pending[id[0]]} {
		i, _ := slices.BinarySearchFunc(s, key, func(e entry, key []byte) int {
			return bytes.Compare(e.id[:], key)
		})
		for ; i < len(s) && bytes.Equal(s[i].id[:], key); i++ {
			if !idx.dropped[s[i].pack] && !fn(&s[i]) {
				return
			}
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
			loc, found = idx.location(h.ID[0], e), true
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
			locs = append(locs, idx.location(h.ID[0], e))
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
	return idx.nsorted + idx.npend
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
	for b := range idx.buckets {
		for _, s := range [2][]entry{idx.buckets[b], idx.pending[b]} {
			for i := range s {
				if !idx.dropped[s[i].pack] {
					fn(idx.location(byte(b), &s[i]))
				}
			}
		}
	}
}
