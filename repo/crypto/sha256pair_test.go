package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStreamHash: a StreamHash written in pieces, alone and in step with
// blob IDs, gives crypto/sha256's sum, and the IDs are crypto/hmac's.
func TestStreamHash(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 8))
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(rnd.Uint32())
	}
	k, err := NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	ids := k.NewIDHasher()
	for round := range 300 {
		s := NewStreamHash()
		want := sha256.New()
		for range rnd.IntN(6) {
			n := rnd.IntN(4096)
			if round%10 == 0 {
				n = rnd.IntN(len(buf))
			}
			a := buf[rnd.IntN(len(buf)-n):][:n]
			m := rnd.IntN(8192)
			if round%7 == 0 {
				m = rnd.IntN(len(buf))
			}
			b := buf[rnd.IntN(len(buf)-m):][:m]
			want.Write(a)
			if rnd.IntN(2) == 0 {
				s.Write(a)
				continue
			}
			mac := hmac.New(sha256.New, k.MAC[:])
			mac.Write(b)
			if id := ids.SumAlong(b, s, a); !bytes.Equal(id[:], mac.Sum(nil)) {
				t.Fatalf("round %d: ID of %d bytes along %d differs from HMAC-SHA256", round, m, n)
			}
		}
		if got := s.Sum(nil); !bytes.Equal(got, want.Sum(nil)) {
			t.Fatalf("round %d: stream sum differs from SHA-256", round)
		}
	}
	mac := hmac.New(sha256.New, k.MAC[:])
	mac.Write(buf[:1000])
	if id := ids.Sum(buf[:1000]); !bytes.Equal(id[:], mac.Sum(nil)) {
		t.Fatal("Sum differs from HMAC-SHA256")
	}
}

func BenchmarkIDAlong(b *testing.B) {
	k, _ := NewRandomKey()
	ids := k.NewIDHasher()
	plain := make([]byte, 1<<20)
	stored := make([]byte, 1<<20)
	b.Run("separate", func(b *testing.B) {
		b.SetBytes(2 << 20)
		b.ReportAllocs()
		s := NewStreamHash()
		for b.Loop() {
			s.Write(stored)
			ids.Sum(plain)
		}
	})
	b.Run("along", func(b *testing.B) {
		b.SetBytes(2 << 20)
		b.ReportAllocs()
		s := NewStreamHash()
		for b.Loop() {
			ids.SumAlong(plain, s, stored)
		}
	})
	b.Run("std", func(b *testing.B) {
		b.SetBytes(2 << 20)
		b.ReportAllocs()
		s := sha256.New()
		mac := hmac.New(sha256.New, k.MAC[:])
		for b.Loop() {
			s.Write(stored)
			mac.Reset()
			mac.Write(plain)
			mac.Sum(nil)
		}
	})
}

// TestPackHasher: a PackHasher fed a pack in pieces (bytes of no blob,
// blobs whose plaintext is longer, shorter or as long as their stored
// bytes, empty ones, stored bytes written before the blob) gives
// crypto/sha256's sum of all stored bytes and finds exactly the blobs
// whose plaintext isn't what crypto/hmac says their ID is. Every
// plaintext is copied into the buffer Buffer hands out, so a buffer
// handed out while the hasher still holds it shows as a mismatch.
func TestPackHasher(t *testing.T) {
	t.Parallel()
	k, err := NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	modes := []bool{false}
	if haveSHANI {
		modes = append(modes, true)
	}
	for _, shani := range modes {
		rnd := rand.New(rand.NewPCG(9, 10))
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(rnd.Uint32())
		}
		piece := func(small int) []byte {
			n := rnd.IntN(small)
			switch rnd.IntN(8) {
			case 0:
				n = 0
			case 1:
				n = rnd.IntN(len(buf) / 4)
			case 2:
				n = 64 * rnd.IntN(small/64)
			}
			return buf[rnd.IntN(len(buf)-n):][:n]
		}
		h := k.newPackHasher(shani)
		for round := range 300 {
			h.Reset()
			want := sha256.New()
			var wantBad [][32]byte
			for i := range rnd.IntN(12) {
				if rnd.IntN(4) == 0 {
					p := piece(300)
					want.Write(p)
					h.Write(p)
				}
				stored, plain := piece(5000), piece(20000)
				mac := hmac.New(sha256.New, k.MAC[:])
				mac.Write(plain)
				id := [32]byte(mac.Sum(nil))
				if rnd.IntN(5) == 0 {
					id[i%32] ^= 1
					wantBad = append(wantBad, id)
				}
				want.Write(stored)
				if rnd.IntN(3) == 0 {
					h.Write(stored)
					stored = nil
				}
				b := append(h.Buffer(), plain...)
				h.Blob(stored, b, id)
			}
			if rnd.IntN(2) == 0 {
				p := piece(300)
				want.Write(p)
				h.Write(p)
			}
			sum, bad := h.Sum()
			if !bytes.Equal(sum[:], want.Sum(nil)) {
				t.Fatalf("SHA-NI %v, round %d: pack sum differs from SHA-256", shani, round)
			}
			slices.SortFunc(bad, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
			slices.SortFunc(wantBad, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
			if !slices.Equal(bad, wantBad) {
				t.Fatalf("SHA-NI %v, round %d: %d blobs mismatched, want %d", shani, round, len(bad), len(wantBad))
			}
		}
	}
}

// BenchmarkPackHasher: a 16 MiB pack of 1 MiB blobs whose plaintext is
// three times as long as their stored bytes (text, compressed), hashed
// by a PackHasher and by hashing the pack and the IDs one after the other;
// bytes are stored and plaintext bytes together.
func BenchmarkPackHasher(b *testing.B) {
	k, _ := NewRandomKey()
	plain := make([]byte, 1<<20)
	stored := make([]byte, len(plain)/3)
	const blobs = 16
	b.Run("paired", func(b *testing.B) {
		h := k.NewPackHasher()
		b.SetBytes(blobs * int64(len(plain)+len(stored)))
		b.ReportAllocs()
		for b.Loop() {
			h.Reset()
			for range blobs {
				h.Blob(stored, append(h.Buffer(), plain...), [32]byte{})
			}
			h.Sum()
		}
	})
	b.Run("along", func(b *testing.B) {
		ids := k.NewIDHasher()
		b.SetBytes(blobs * int64(len(plain)+len(stored)))
		b.ReportAllocs()
		for b.Loop() {
			s := NewStreamHash()
			for range blobs {
				ids.SumAlong(plain, s, stored)
			}
			s.Sum(nil)
		}
	})
}

// TestSumPair: the IDs of two blobs hashed in step are crypto/hmac's, for
// lengths around the block size, either one longer, and empty ones.
func TestSumPair(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(9, 10))
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(rnd.Uint32())
	}
	k, err := NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	ids := k.NewIDHasher()
	mac := func(p []byte) [32]byte {
		m := hmac.New(sha256.New, k.MAC[:])
		m.Write(p)
		return [32]byte(m.Sum(nil))
	}
	lengths := []int{0, 1, 55, 56, 63, 64, 65, 127, 128, 4096, 100000, 1 << 20}
	for _, n := range lengths {
		for _, m := range lengths {
			a, b := buf[:n], buf[len(buf)-m:]
			ia, ib := ids.SumPair(a, b)
			if ia != mac(a) || ib != mac(b) {
				t.Fatalf("SumPair of %d and %d bytes differs from HMAC-SHA256", n, m)
			}
		}
	}
	for range 200 {
		n, m := rnd.IntN(len(buf)), rnd.IntN(len(buf))
		a, b := buf[rnd.IntN(len(buf)-n):][:n], buf[rnd.IntN(len(buf)-m):][:m]
		if ia, ib := ids.SumPair(a, b); ia != mac(a) || ib != mac(b) {
			t.Fatalf("SumPair of %d and %d bytes differs from HMAC-SHA256", n, m)
		}
	}
	// The hasher is left as it was: the next Sum is right.
	if id := ids.Sum(buf[:1000]); id != mac(buf[:1000]) {
		t.Fatal("Sum after SumPair differs from HMAC-SHA256")
	}
}

func BenchmarkSumPair(b *testing.B) {
	k, _ := NewRandomKey()
	ids := k.NewIDHasher()
	x, y := make([]byte, 1<<20), make([]byte, 1<<20)
	b.Run("one by one", func(b *testing.B) {
		b.SetBytes(2 << 20)
		b.ReportAllocs()
		for b.Loop() {
			ids.Sum(x)
			ids.Sum(y)
		}
	})
	b.Run("pair", func(b *testing.B) {
		b.SetBytes(2 << 20)
		b.ReportAllocs()
		for b.Loop() {
			ids.SumPair(x, y)
		}
	})
}
