package chunker_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cairn-backup/cairn/chunker"
)

const testPol = chunker.Pol(0x3DA3358B4DC173)

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func chunks(t testing.TB, c *chunker.Chunker, data []byte) [][]byte {
	t.Helper()
	c.Reset(bytes.NewReader(data))
	var out [][]byte
	var buf []byte
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(ch))
		buf = ch
	}
}

func TestChunksReassemble(t *testing.T) {
	c := chunker.New(testPol, 0, 0)
	for _, size := range []int{0, 1, chunker.DefaultMinSize - 1, chunker.DefaultMinSize + 1, 20 << 20} {
		data := randomData(uint64(size), size)
		cs := chunks(t, c, data)
		if got := bytes.Join(cs, nil); !bytes.Equal(got, data) {
			t.Fatalf("size %d: chunks don't reassemble", size)
		}
		for i, ch := range cs {
			if len(ch) > chunker.DefaultMaxSize || (i < len(cs)-1 && len(ch) < chunker.DefaultMinSize) {
				t.Fatalf("size %d: chunk %d has %d bytes", size, i, len(ch))
			}
		}
	}
}

// TestInsertionLocality: inserting bytes in the middle changes only the
// chunks around the insertion, which is what makes dedup work.
func TestInsertionLocality(t *testing.T) {
	c := chunker.New(testPol, 0, 0)
	data := randomData(1, 32<<20)
	before := map[string]bool{}
	for _, ch := range chunks(t, c, data) {
		before[string(ch)] = true
	}
	mid := len(data) / 2
	changed := append(append(append([]byte{}, data[:mid]...), bytes.Repeat([]byte{'x'}, 100)...), data[mid:]...)
	after := chunks(t, c, changed)
	fresh := 0
	for _, ch := range after {
		if !before[string(ch)] {
			fresh++
		}
	}
	if fresh > 2 {
		t.Fatalf("100-byte insertion produced %d new chunks of %d", fresh, len(after))
	}
}

func TestPolynomialMatters(t *testing.T) {
	data := randomData(2, 16<<20)
	a := chunks(t, chunker.New(testPol, 0, 0), data)
	p2, err := chunker.RandomPolynomial()
	if err != nil {
		t.Fatal(err)
	}
	b := chunks(t, chunker.New(p2, 0, 0), data)
	if len(a) > 1 && len(b) > 1 && bytes.Equal(a[0], b[0]) {
		t.Fatal("different polynomials cut at the same place")
	}
}

func BenchmarkChunker(b *testing.B) {
	data := randomData(3, 64<<20)
	c := chunker.New(testPol, 0, 0)
	var buf []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset(bytes.NewReader(data))
		for {
			ch, err := c.Next(buf)
			if err == io.EOF {
				break
			}
			buf = ch
		}
	}
}
