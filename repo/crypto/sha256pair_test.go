package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
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
