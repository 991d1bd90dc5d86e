package index_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
)

// fileID names index file k of a test.
func fileID(k int) pack.ID {
	var id pack.ID
	binary.BigEndian.PutUint64(id[:], uint64(k)+1)
	id[31] = 0xf1
	return id
}

// locations returns every location of the blobs start..start+n-1, for
// comparing two indexes.
func locations(idx *index.Index, n int) map[pack.ID][]index.Location {
	m := map[pack.ID][]index.Location{}
	idx.Each(func(l index.Location) { m[l.ID] = append(m[l.ID], l) })
	return m
}

func TestLoaderArrivalOrderAndSupersede(t *testing.T) {
	t.Parallel()
	g1 := pack.Generation{1}
	// Files 0-2 as a backup wrote them; file 3 is a prune's rewrite of
	// files 0 and 1 (it drops pack 1 and keeps packs 0 and 2 of file 0),
	// and file 4 supersedes file 3 in turn with just pack 0.
	p0, p1, p2 := makePack(300, 0, pack.Generation{}), makePack(300, 300, pack.Generation{}), makePack(200, 600, g1)
	p3 := makePack(100, 900, pack.Generation{})
	files := []*index.File{
		{Packs: []index.Pack{p0, p2}},
		{Packs: []index.Pack{p1}},
		{Packs: []index.Pack{p3}},
		{Supersedes: []pack.ID{fileID(0), fileID(1)}, Packs: []index.Pack{p0, p2}},
		{Supersedes: []pack.ID{fileID(3)}, Packs: []index.Pack{p0}},
	}
	orders := [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {3, 0, 4, 2, 1}, {2, 4, 1, 3, 0}}
	var want map[pack.ID][]index.Location
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			l := index.NewLoader()
			for _, k := range order {
				if err := l.AddEncoded(fileID(k), files[k].Encode()); err != nil {
					t.Fatal(err)
				}
			}
			idx := l.Finish()
			if idx.Len() != 400 {
				t.Fatalf("len %d, want 400 (packs 0 and 3)", idx.Len())
			}
			for i := 0; i < 1000; i++ {
				h := pack.BlobHandle{ID: blobID(i), Type: pack.DataBlob}
				loc, ok := idx.Lookup(h, pack.Generation{})
				wantOK := i < 300 || i >= 900
				if ok != wantOK {
					t.Fatalf("blob %d found %v, want %v", i, ok, wantOK)
				}
				if ok && (loc.ID != h.ID || loc.RawLength != 2000) {
					t.Fatalf("blob %d: %+v", i, loc)
				}
				if idx.Has(h, g1) {
					t.Fatalf("blob %d of a superseded pack in generation 1", i)
				}
			}
			packs := idx.Packs()
			if _, ok := packs[p1.ID]; ok || len(packs) != 2 {
				t.Fatalf("packs %v", packs)
			}
			got := locations(idx, 1000)
			if want == nil {
				want = got
			} else if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatal("another arrival order gave another index")
			}
		})
	}
}

func TestLoaderDuplicates(t *testing.T) {
	t.Parallel()
	p0 := makePack(500, 0, pack.Generation{})
	other := makePack(200, 0, pack.Generation{}) // the same blobs in another pack
	other.ID[0] ^= 0xff
	l := index.NewLoader()
	// A pack listed by two files (an interrupted run wrote it twice), and
	// one file listing the same pack twice.
	l.AddFile(fileID(0), &index.File{Packs: []index.Pack{p0}})
	l.AddFile(fileID(1), &index.File{Packs: []index.Pack{p0, other, p0}})
	idx := l.Finish()
	if idx.Len() != 700 {
		t.Fatalf("len %d, want 700: exact duplicates are kept once", idx.Len())
	}
	for i := 0; i < 500; i++ {
		locs := idx.LookupAny(pack.BlobHandle{ID: blobID(i), Type: pack.DataBlob})
		want := 1
		if i < 200 {
			want = 2
		}
		if len(locs) != want {
			t.Fatalf("blob %d: %d locations, want %d", i, len(locs), want)
		}
	}
	// Dropping one copy leaves the other.
	idx.DropPacks([]pack.ID{p0.ID})
	loc, ok := idx.Lookup(pack.BlobHandle{ID: blobID(10), Type: pack.DataBlob}, pack.Generation{})
	if !ok || loc.Pack != other.ID {
		t.Fatalf("after drop: %+v %v", loc, ok)
	}
}

func TestLoaderConcurrent(t *testing.T) {
	t.Parallel()
	l := index.NewLoader()
	var wg sync.WaitGroup
	for k := 0; k < 16; k++ {
		wg.Go(func() {
			f := &index.File{Packs: []index.Pack{makePack(1000, k*1000, pack.Generation{})}}
			if err := l.AddEncoded(fileID(k), f.Encode()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	idx := l.Finish()
	for i := 0; i < 16000; i += 7 {
		if !idx.Has(pack.BlobHandle{ID: blobID(i), Type: pack.DataBlob}, pack.Generation{}) {
			t.Fatalf("blob %d missing", i)
		}
	}
	if idx.Len() != 16000 {
		t.Fatalf("len %d", idx.Len())
	}
}

// TestLoaderHostile feeds files whose counts claim far more than they
// hold: each is refused, adds nothing, and allocates nothing for it. Not
// parallel: it counts the bytes allocated meanwhile.
func TestLoaderHostile(t *testing.T) {
	head := func(parts ...[]byte) []byte {
		b := append([]byte("CAIRNIDX"), 1)
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	onePack := func(entries uint64) []byte {
		return append(append(make([]byte, 48), uv(entries)...), make([]byte, 80)...)
	}
	good := (&index.File{Packs: []index.Pack{makePack(3, 0, pack.Generation{})}}).Encode()
	tests := []struct {
		name string
		b    []byte
	}{
		{"billions of superseded files", head(uv(1<<40), make([]byte, 64))},
		{"billions of packs", head(uv(0), uv(1<<33), make([]byte, 200))},
		{"billions of entries", head(uv(0), uv(1), onePack(1<<32))},
		{"entries beyond the end", head(uv(0), uv(1), onePack(3))},
		{"a good file cut short", good[:len(good)-1]},
		{"trailing bytes", append(good[:len(good):len(good)], 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := index.NewLoader()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := l.AddEncoded(fileID(0), tt.b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, index.ErrFormat) {
				t.Fatalf("err %v, want ErrFormat", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
				t.Fatalf("%d bytes allocated for a refused file", n)
			}
			if l.Len() != 0 || l.Finish().Len() != 0 {
				t.Fatal("a refused file added entries")
			}
		})
	}
}

// benchBlobs is the number of blobs of the memory benchmark:
// CAIRN_BENCH_BLOBS, default 200k (scripts/bench.sh measures 10M).
func benchBlobs(b *testing.B) int {
	n := 200_000
	if s := os.Getenv("CAIRN_BENCH_BLOBS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("CAIRN_BENCH_BLOBS=%q: want a number of at least 1000", s)
		}
		n = v
	}
	return n
}

// liveHeap returns the live heap after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkLoaderMemory loads index files of 64k blobs (what a backup
// writes) as they arrive and reports the live heap per blob at the peak of
// loading and once loaded (budget: 100 and 64 bytes, DESIGN.md section 3).
// Each file is encoded just before it is added, as a read file would be
// decrypted, so the peak includes one file in flight.
func BenchmarkLoaderMemory(b *testing.B) {
	n := benchBlobs(b)
	const perPack, perFile = 1000, 64 << 10
	for b.Loop() {
		base := liveHeap()
		var peak int64
		sample := func() { peak = max(peak, liveHeap()-base) }
		l := index.NewLoader()
		for k, start := 0, 0; start < n; k, start = k+1, start+perFile {
			f := &index.File{}
			end := min(n, start+perFile)
			for p := start; p < end; p += perPack {
				f.Packs = append(f.Packs, makePack(min(perPack, end-p), p, pack.Generation{}))
			}
			enc := f.Encode()
			f = nil
			sample()
			if err := l.AddEncoded(fileID(k), enc); err != nil {
				b.Fatal(err)
			}
			runtime.KeepAlive(enc)
		}
		// Every 16th bucket: sampling costs a collection.
		nb := 0
		index.SetAfterBucket(l, func() {
			if nb++; nb%16 == 1 {
				sample()
			}
		})
		idx := l.Finish()
		steady := liveHeap() - base
		if idx.Len() != n {
			b.Fatalf("len %d, want %d", idx.Len(), n)
		}
		b.ReportMetric(float64(peak)/float64(n), "peak-bytes/blob")
		b.ReportMetric(float64(steady)/float64(n), "bytes/blob")
		runtime.KeepAlive(idx)
	}
}
