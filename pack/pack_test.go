package pack_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/crypto"
)

func testKey(t testing.TB) *crypto.Key {
	t.Helper()
	k, err := crypto.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func buildPack(t testing.TB, k *crypto.Key, gen pack.Generation, blobs [][]byte) ([]byte, []pack.Entry) {
	t.Helper()
	c := pack.NewCodec(k, zstd.SpeedDefault)
	h := k.NewIDHasher()
	var buf bytes.Buffer
	w := pack.NewWriter(gen, pack.DataBlob, &buf)
	for _, b := range blobs {
		stored, e := c.Encode(nil, b, pack.DataBlob)
		e.ID = h.Sum(b)
		if err := w.Add(e, stored); err != nil {
			t.Fatal(err)
		}
	}
	entries, size, err := w.Finalize(k)
	if err != nil || size != int64(buf.Len()) {
		t.Fatalf("finalize: %v, size %d of %d", err, size, buf.Len())
	}
	return buf.Bytes(), entries
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t)
	random := make([]byte, 100000)
	rand.Read(random)
	blobs := [][]byte{
		[]byte("hello"),
		bytes.Repeat([]byte("compressible text "), 5000),
		random,
		{},
	}
	gen := pack.Generation{1, 2, 3}
	data, written := buildPack(t, k, gen, blobs)
	gotGen, entries, err := pack.ReadHeader(bytes.NewReader(data), int64(len(data)), k)
	if err != nil {
		t.Fatal(err)
	}
	if gotGen != gen {
		t.Fatalf("generation %v, want %v", gotGen, gen)
	}
	if len(entries) != len(blobs) {
		t.Fatalf("%d entries, want %d", len(entries), len(blobs))
	}
	c := pack.NewCodec(k, 0)
	for i, e := range entries {
		if e != written[i] {
			t.Errorf("entry %d: %+v, want %+v", i, e, written[i])
		}
		plain, err := c.Decode(nil, data[e.Offset:e.Offset+e.Length], e)
		if err != nil {
			t.Fatalf("blob %d: %v", i, err)
		}
		if !bytes.Equal(plain, blobs[i]) {
			t.Errorf("blob %d differs", i)
		}
	}
	if entries[1].Compression != pack.Zstd {
		t.Errorf("text blob not compressed")
	}
	if entries[2].Compression != pack.Uncompressed {
		t.Errorf("random blob stored compressed")
	}
}

func TestCorruption(t *testing.T) {
	k := testKey(t)
	data, _ := buildPack(t, k, pack.Generation{}, [][]byte{[]byte("one"), []byte("two")})
	tests := []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"flip header byte", func(b []byte) []byte { b[len(b)-10] ^= 1; return b }},
		{"truncate", func(b []byte) []byte { return b[:len(b)-1] }},
		{"huge length", func(b []byte) []byte { b[len(b)-1] = 0xff; return b }},
		{"empty", func(b []byte) []byte { return nil }},
		{"drop first byte", func(b []byte) []byte { return b[1:] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mod(bytes.Clone(data))
			if _, _, err := pack.ReadHeader(bytes.NewReader(b), int64(len(b)), k); err == nil {
				t.Fatal("corrupted pack accepted")
			}
		})
	}
	// A flipped bit in a blob is caught when the blob is opened.
	b := bytes.Clone(data)
	b[3] ^= 0x80
	_, entries, err := pack.ReadHeader(bytes.NewReader(b), int64(len(b)), k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pack.NewCodec(k, 0).Decode(nil, b[:entries[0].Length], entries[0]); !errors.Is(err, crypto.ErrUnauthenticated) {
		t.Fatalf("damaged blob: err %v, want ErrUnauthenticated", err)
	}
}

func TestTreeHeaderNotData(t *testing.T) {
	k := testKey(t)
	c := pack.NewCodec(k, 0)
	stored, e := c.Encode(nil, []byte(`{"nodes":[]}`), pack.TreeBlob)
	// A tree blob presented as a data blob must not open.
	e.Type = pack.DataBlob
	if _, err := c.Decode(nil, stored, e); err == nil {
		t.Fatal("tree blob opened as data blob")
	}
}

// fixedSealer lets the fuzzer reach the parser: it "seals" by copying.
type fixedSealer struct{}

func (fixedSealer) Seal(dst, p []byte, ad string) []byte { return append(dst, p...) }
func (fixedSealer) Open(dst, s []byte, ad string) ([]byte, error) {
	return append(dst, s...), nil
}
func (fixedSealer) Overhead() int                          { return 0 }
func (fixedSealer) NonceSize() int                         { return 0 }
func (fixedSealer) SealInPlace(b []byte, ad string) []byte { return b }

func FuzzReadHeader(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.pack"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	var seed bytes.Buffer
	w := pack.NewWriter(pack.Generation{9}, pack.DataBlob, &seed)
	w.Add(pack.Entry{Type: pack.DataBlob, RawLength: 3}, []byte("abc"))
	w.Finalize(fixedSealer{})
	f.Add(seed.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		gen, entries, err := pack.ReadHeader(bytes.NewReader(data), int64(len(data)), fixedSealer{})
		if err != nil {
			return
		}
		// Anything accepted round-trips.
		var out bytes.Buffer
		w := pack.NewWriter(gen, pack.DataBlob, &out)
		for _, e := range entries {
			w.Add(e, data[e.Offset:e.Offset+e.Length])
		}
		w.Finalize(fixedSealer{})
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("accepted pack does not round-trip")
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	k := testKey(b)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog 0123456789\n"), 20000)[:1<<20]
	random := make([]byte, 1<<20)
	rand.Read(random)
	for _, bc := range []struct {
		name  string
		level zstd.EncoderLevel
		data  []byte
	}{
		{"text/default", zstd.SpeedDefault, text},
		{"text/fastest", zstd.SpeedFastest, text},
		{"random/default", zstd.SpeedDefault, random},
		{"random/fastest", zstd.SpeedFastest, random},
		{"random/off", 0, random},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := pack.NewCodec(k, bc.level)
			var buf []byte
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = c.Encode(buf[:0], bc.data, pack.DataBlob)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	k := testKey(b)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog 0123456789\n"), 20000)[:1<<20]
	c := pack.NewCodec(k, zstd.SpeedDefault)
	stored, e := c.Encode(nil, text, pack.DataBlob)
	var buf []byte
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = c.Decode(buf[:0], stored, e); err != nil {
			b.Fatal(err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestGolden pins the pack byte format (with a transparent sealer, so the
// bytes are deterministic); the file also seeds FuzzReadHeader.
func TestGolden(t *testing.T) {
	var buf bytes.Buffer
	w := pack.NewWriter(pack.Generation{0xca, 0x1e}, pack.DataBlob, &buf)
	w.Add(pack.Entry{ID: pack.ID{1}, Type: pack.DataBlob, RawLength: 5}, []byte("hello"))
	w.Add(pack.Entry{ID: pack.ID{2}, Type: pack.DataBlob, Compression: pack.Zstd, RawLength: 100}, []byte("zstd-ish"))
	w.Finalize(fixedSealer{})
	got := buf.Bytes()
	golden := filepath.Join("testdata", "basic.pack")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pack format changed:\n got %x\nwant %x", got, want)
	}
}

// TestEncodeInPlace checks that Encode seals into dst without touching
// what dst already holds, that its output opens with the key as Seal's
// would, and that DecodeInPlace gives the same plaintext as Decode and
// refuses a damaged blob.
func TestEncodeInPlace(t *testing.T) {
	t.Parallel()
	k := testKey(t)
	random := make([]byte, 300000)
	rand.Read(random)
	text := bytes.Repeat([]byte("compressible text "), 20000)
	for _, level := range []zstd.EncoderLevel{0, zstd.SpeedFastest, zstd.SpeedDefault} {
		c := pack.NewCodec(k, level)
		for _, plain := range [][]byte{{}, []byte("short"), text, random, text[:65]} {
			prefix := []byte("already in dst")
			for _, dst := range [][]byte{bytes.Clone(prefix), append(make([]byte, 0, 1<<20), prefix...)} {
				out, e := c.Encode(dst, plain, pack.DataBlob)
				if !bytes.Equal(out[:len(prefix)], prefix) {
					t.Fatalf("level %v: Encode changed dst's bytes", level)
				}
				stored := out[len(prefix):]
				if int(e.Length) != len(stored) || e.RawLength != uint32(len(plain)) {
					t.Fatalf("level %v: entry %+v for %d stored bytes", level, e, len(stored))
				}
				if level == zstd.SpeedDefault && len(plain) == len(text) && e.Compression != pack.Zstd {
					t.Fatal("text not compressed")
				}
				if _, err := k.Open(nil, stored, pack.DataBlob.String()); err != nil {
					t.Fatalf("level %v: stored blob does not open: %v", level, err)
				}
				got, err := c.Decode(nil, stored, e)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("level %v: Decode: %v", level, err)
				}
				got, err = c.DecodeInPlace([]byte("x"), bytes.Clone(stored), e)
				if err != nil || !bytes.Equal(got[1:], plain) || got[0] != 'x' {
					t.Fatalf("level %v: DecodeInPlace: %v", level, err)
				}
				bad := bytes.Clone(stored)
				bad[len(bad)/2] ^= 1
				if _, err := c.DecodeInPlace(nil, bad, e); !errors.Is(err, crypto.ErrUnauthenticated) {
					t.Fatalf("level %v: damaged blob decoded in place: %v", level, err)
				}
			}
		}
	}
}

// TestFastestSmallAlphabet: at SpeedFastest, data of a small alphabet
// without repeats (which that level stores as it is) is compressed at
// SpeedDefault instead; random data is stored raw, and every blob decodes
// to its plaintext.
func TestFastestSmallAlphabet(t *testing.T) {
	t.Parallel()
	k := testKey(t)
	random := make([]byte, 1<<20)
	rand.Read(random)
	hex := make([]byte, len(random))
	for i, b := range random {
		hex[i] = "0123456789abcdef"[b&15]
	}
	c := pack.NewCodec(k, zstd.SpeedFastest)
	for _, tc := range []struct {
		name     string
		data     []byte
		maxRatio float64 // stored / raw
		comp     pack.Compression
	}{
		{"hex digits", hex, 0.7, pack.Zstd},
		{"random", random, 1.01, pack.Uncompressed},
		{"random, small", random[:3000], 1.05, pack.Uncompressed},
	} {
		stored, e := c.Encode(nil, tc.data, pack.DataBlob)
		if e.Compression != tc.comp || float64(len(stored)) > tc.maxRatio*float64(len(tc.data)) {
			t.Errorf("%s: compression %d, %d of %d bytes stored; want compression %d, at most %.2f of them", tc.name, e.Compression, len(stored), len(tc.data), tc.comp, tc.maxRatio)
		}
		plain, err := c.Decode(nil, stored, e)
		if err != nil || !bytes.Equal(plain, tc.data) {
			t.Errorf("%s: decode: %v", tc.name, err)
		}
	}
}
