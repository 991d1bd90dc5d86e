package index_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func blobID(i int) pack.ID {
	var id pack.ID
	binary.BigEndian.PutUint64(id[:], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return id
}

func makePack(n, start int, gen pack.Generation) index.Pack {
	p := index.Pack{ID: blobID(1<<40 + start), Generation: gen}
	p.ID[31] ^= gen[0]
	for i := 0; i < n; i++ {
		p.Entries = append(p.Entries, pack.Entry{ID: blobID(start + i), Type: pack.DataBlob,
			Compression: pack.Zstd, Offset: uint32(i * 1000), Length: 1000, RawLength: 2000})
	}
	return p
}

func TestLookupByGeneration(t *testing.T) {
	g1 := pack.Generation{1}
	tests := []struct {
		name string
		bulk bool
	}{{"bulk", true}, {"incremental", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := index.New()
			p0 := makePack(100, 0, pack.Generation{})
			p1 := makePack(50, 0, g1) // same blobs, other generation
			if tt.bulk {
				idx.Merge(&index.File{Packs: []index.Pack{p0, p1}})
				idx.Sort()
			} else {
				idx.AddPack(p0)
				idx.AddPack(p1)
			}
			for i := 0; i < 100; i++ {
				h := pack.BlobHandle{ID: blobID(i), Type: pack.DataBlob}
				loc, ok := idx.Lookup(h, pack.Generation{})
				if !ok || loc.Pack != p0.ID || loc.Offset != uint32(i*1000) {
					t.Fatalf("blob %d gen 0: %+v %v", i, loc, ok)
				}
				_, ok = idx.Lookup(h, g1)
				if ok != (i < 50) {
					t.Fatalf("blob %d in gen 1: %v", i, ok)
				}
				if idx.Has(pack.BlobHandle{ID: blobID(i), Type: pack.TreeBlob}, pack.Generation{}) {
					t.Fatalf("blob %d found as tree", i)
				}
			}
			if got := len(idx.LookupAny(pack.BlobHandle{ID: blobID(1), Type: pack.DataBlob})); got != 2 {
				t.Fatalf("LookupAny: %d locations, want 2", got)
			}
			idx.DropPacks([]pack.ID{p0.ID})
			if idx.Has(pack.BlobHandle{ID: blobID(70), Type: pack.DataBlob}, pack.Generation{}) {
				t.Fatal("blob of a dropped pack still found")
			}
		})
	}
}

// TestMergeThreshold adds enough packs one by one for several merges of
// the pending blobs into the buckets (each 32768 blobs), so later merges
// interleave with what earlier ones stored.
func TestMergeThreshold(t *testing.T) {
	idx := index.New()
	const n = 100_000
	for p := 0; p < n/1000; p++ {
		idx.AddPack(makePack(1000, p*1000, pack.Generation{}))
	}
	for i := 0; i < n; i++ {
		loc, ok := idx.Lookup(pack.BlobHandle{ID: blobID(i), Type: pack.DataBlob}, pack.Generation{})
		if !ok || loc.ID != blobID(i) || loc.Offset != uint32(i%1000*1000) {
			t.Fatalf("blob %d after merges: %+v %v", i, loc, ok)
		}
	}
	seen := 0
	idx.Each(func(index.Location) { seen++ })
	if idx.Len() != n || seen != n {
		t.Fatalf("len %d, Each saw %d, want %d", idx.Len(), seen, n)
	}
}

func TestFileRoundTrip(t *testing.T) {
	f := &index.File{Supersedes: []pack.ID{{7}}, Packs: []index.Pack{makePack(3, 0, pack.Generation{5}), makePack(0, 9, pack.Generation{})}}
	b := f.Encode()
	golden := filepath.Join("testdata", "basic.idx")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatal("index file format changed; run with -update if intended")
	}
	g, err := index.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(g), normalize(f)) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", g, f)
	}
	for n := 0; n < len(b); n++ {
		if _, err := index.Decode(b[:n]); err == nil {
			t.Fatalf("truncated file of %d bytes accepted", n)
		}
	}
}

func normalize(f *index.File) *index.File {
	for i := range f.Packs {
		if len(f.Packs[i].Entries) == 0 {
			f.Packs[i].Entries = nil
		}
	}
	return f
}

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "basic.idx")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := index.Decode(data)
		if err != nil {
			return
		}
		again, err := index.Decode(file.Encode())
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(file)) {
			t.Fatalf("accepted index does not round-trip: %v", err)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	idx := index.New()
	const n = 1 << 20
	f := &index.File{}
	for p := 0; p < n/1000; p++ {
		f.Packs = append(f.Packs, makePack(1000, p*1000, pack.Generation{}))
	}
	idx.Merge(f)
	idx.Sort()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		idx.Has(pack.BlobHandle{ID: blobID(i % n), Type: pack.DataBlob}, pack.Generation{})
		i += 7919
	}
}

// BenchmarkMemoryPerBlob reports the heap bytes the index holds per blob
// (budget: 64, DESIGN.md section 3).
func BenchmarkMemoryPerBlob(b *testing.B) {
	const n = 1 << 20
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		idx := index.New()
		for p := 0; p < n/1000; p++ {
			idx.Merge(&index.File{Packs: []index.Pack{makePack(1000, p*1000, pack.Generation{})}})
		}
		idx.Sort()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(idx.Len()), "bytes/blob")
		runtime.KeepAlive(idx)
	}
}
