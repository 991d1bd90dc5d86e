package index

import (
	"fmt"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pack"
)

// chunkEntries is the size of the fixed chunks a Loader's buckets grow by
// (32 KiB): a bucket never reallocates what it holds, so loading costs
// little more than the entries themselves.
const chunkEntries = 32 << 10 / 48

// firstChunk is the size of a bucket's first chunk; later chunks double up
// to chunkEntries, so a small index does not reserve 256 full chunks.
const firstChunk = 16

// maxRefs bounds the pack records a Loader accepts (they are numbered
// with 32 bits).
const maxRefs = 1<<32 - 1

// Loader builds an Index from many index files. Each file is merged as it
// arrives into 256 buckets by the first byte of the blob ID, held in fixed
// chunks; Finish copies each bucket once into its sorted array and frees
// its chunks, so the peak while loading stays close to the final size.
// Files superseded by another file are left out, whatever the order they
// arrive in. A Loader is safe for concurrent use.
type Loader struct {
	mu sync.Mutex
	// refs are the pack records of the files, in arrival order; an
	// entry's pack field numbers one of them until Finish.
	refs       []loadRef
	files      []pack.ID // ID of each file (zero: cannot be superseded)
	superseded map[pack.ID]bool
	buckets    [256][][]entry
	n          int
	// afterBucket, when set (by tests), is called after Finish has built
	// each bucket.
	afterBucket func()
}

type loadRef struct {
	id   pack.ID
	gen  pack.Generation
	file uint32
}

// NewLoader returns an empty Loader.
func NewLoader() *Loader { return &Loader{superseded: map[pack.ID]bool{}} }

// AddEncoded decodes the index file id (its binary form, see Decode) and
// merges it. The whole file is checked before anything of it is kept, so a
// file that does not decode adds nothing and allocates nothing.
func (l *Loader) AddEncoded(id pack.ID, b []byte) error {
	np, _, err := walk(b, visitor{})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.room(np); err != nil {
		return fmt.Errorf("index %s: %w", id.Short(), err)
	}
	file := l.addFileID(id)
	var ref uint32
	_, _, err = walk(b, visitor{
		supersedes: l.supersede,
		pack: func(p pack.ID, gen pack.Generation, _ int) {
			ref = l.addRef(p, gen, file)
		},
		entry: func(e pack.Entry) { l.add(ref, e) },
	})
	return err // nil: the same bytes decoded above
}

// AddFile merges a decoded index file; id is its name, or zero for packs
// read from elsewhere (repair reads pack headers).
func (l *Loader) AddFile(id pack.ID, f *File) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.room(len(f.Packs)) != nil {
		panic("index: more than 2^32 packs")
	}
	file := l.addFileID(id)
	for _, s := range f.Supersedes {
		l.supersede(s)
	}
	for _, p := range f.Packs {
		ref := l.addRef(p.ID, p.Generation, file)
		for _, e := range p.Entries {
			l.add(ref, e)
		}
	}
}

// AddPack merges the blobs of one pack.
func (l *Loader) AddPack(p Pack) { l.AddFile(pack.ID{}, &File{Packs: []Pack{p}}) }

// room checks that n more pack records can be numbered; l.mu is held.
func (l *Loader) room(n int) error {
	if uint64(len(l.refs))+uint64(n) > maxRefs {
		return fmt.Errorf("%w: more than %d packs", ErrFormat, uint64(maxRefs))
	}
	return nil
}

func (l *Loader) addFileID(id pack.ID) uint32 {
	l.files = append(l.files, id)
	return uint32(len(l.files) - 1)
}

func (l *Loader) supersede(id pack.ID) { l.superseded[id] = true }

func (l *Loader) addRef(id pack.ID, gen pack.Generation, file uint32) uint32 {
	l.refs = append(l.refs, loadRef{id: id, gen: gen, file: file})
	return uint32(len(l.refs) - 1)
}

// add appends one entry to its bucket's last chunk; l.mu is held.
func (l *Loader) add(ref uint32, e pack.Entry) {
	b := &l.buckets[e.ID[0]]
	last := len(*b) - 1
	if last < 0 || len((*b)[last]) == cap((*b)[last]) {
		size := firstChunk
		if last >= 0 {
			size = min(chunkEntries, 2*cap((*b)[last]))
		}
		*b = append(*b, make([]entry, 0, size))
		last++
	}
	(*b)[last] = append((*b)[last], toEntry(ref, e))
	l.n++
}

// Len returns the number of entries merged so far, superseded or not.
func (l *Loader) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Finish returns the index of everything merged. The Loader is empty
// afterwards.
func (l *Loader) Finish() *Index {
	idx := New()
	idx.mu.Lock()
	defer idx.mu.Unlock()
	l.finishInto(idx)
	return idx
}

// dropRef marks a pack record of a superseded file.
const dropRef = ^uint32(0)

// finishInto moves the loaded entries into idx, whose lock is held: each
// bucket is copied once, without superseded files and exact duplicates,
// into its sorted array, and its chunks are freed before the next bucket.
func (l *Loader) finishInto(idx *Index) {
	l.mu.Lock()
	defer l.mu.Unlock()
	remap := make([]uint32, len(l.refs))
	for i, r := range l.refs {
		if f := l.files[r.file]; f != (pack.ID{}) && l.superseded[f] {
			remap[i] = dropRef
		} else {
			remap[i] = idx.internPack(r.id, r.gen)
		}
	}
	l.refs, l.files, l.superseded = nil, nil, map[pack.ID]bool{}
	for b := range l.buckets {
		chunks := l.buckets[b]
		n := len(idx.buckets[b])
		for _, c := range chunks {
			for i := range c {
				if remap[c[i].pack] != dropRef {
					n++
				}
			}
		}
		if n == len(idx.buckets[b]) {
			l.buckets[b] = nil
			continue
		}
		out := make([]entry, 0, n)
		out = append(out, idx.buckets[b]...)
		for _, c := range chunks {
			for _, e := range c {
				if p := remap[e.pack]; p != dropRef {
					e.pack = p
					out = append(out, e)
				}
			}
		}
		l.buckets[b] = nil
		slices.SortFunc(out, cmpFull)
		out = slices.CompactFunc(out, func(a, b entry) bool { return a == b })
		if cap(out)-len(out) > len(out)/32 {
			out = slices.Clone(out) // many duplicates: give the slack back
		}
		idx.nsorted += len(out) - len(idx.buckets[b])
		idx.buckets[b] = out
		if l.afterBucket != nil {
			l.afterBucket()
		}
	}
	l.n = 0
}
