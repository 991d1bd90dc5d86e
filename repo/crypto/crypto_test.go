package crypto_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/crypto"
)

var fastKDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

func TestSealOpen(t *testing.T) {
	k, err := crypto.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.NewRandomKey()
	plain := []byte("secret data")
	sealed := k.Seal(nil, plain, "snapshot")
	if bytes.Contains(sealed, plain) {
		t.Fatal("plaintext visible in sealed bytes")
	}
	if len(sealed) != len(plain)+crypto.Overhead {
		t.Fatalf("sealed length %d", len(sealed))
	}
	tests := []struct {
		name   string
		key    *crypto.Key
		ad     string
		mod    func([]byte) []byte
		wantOK bool
	}{
		{"ok", k, "snapshot", nil, true},
		{"wrong type", k, "index", nil, false},
		{"wrong key", other, "snapshot", nil, false},
		{"bit flip", k, "snapshot", func(b []byte) []byte { b[30] ^= 1; return b }, false},
		{"truncated", k, "snapshot", func(b []byte) []byte { return b[:len(b)-1] }, false},
		{"too short", k, "snapshot", func(b []byte) []byte { return b[:10] }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(sealed)
			if tt.mod != nil {
				b = tt.mod(b)
			}
			got, err := tt.key.Open(nil, b, tt.ad)
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.wantOK)
			}
			if err != nil && !errors.Is(err, crypto.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
			if tt.wantOK && !bytes.Equal(got, plain) {
				t.Fatal("wrong plaintext")
			}
		})
	}
	if bytes.Equal(k.Seal(nil, plain, "x"), k.Seal(nil, plain, "x")) {
		t.Fatal("nonce reused")
	}
}

func TestBlobIDKeyed(t *testing.T) {
	a, _ := crypto.NewRandomKey()
	b, _ := crypto.NewRandomKey()
	data := []byte("same content")
	if a.NewIDHasher().Sum(data) == b.NewIDHasher().Sum(data) {
		t.Fatal("blob IDs are not keyed")
	}
	h := a.NewIDHasher()
	first := h.Sum(data)
	if h.Sum([]byte("other")); h.Sum(data) != first {
		t.Fatal("hasher not deterministic after reuse")
	}
}

func TestKeyFile(t *testing.T) {
	master, _ := crypto.NewRandomKey()
	kf, err := crypto.NewKeyFile(master, "pw", fastKDF, "host", "user", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(kf)
	parsed, err := crypto.ParseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsed.Open("pw")
	if err != nil {
		t.Fatal(err)
	}
	if got.Encrypt != master.Encrypt || got.MAC != master.MAC {
		t.Fatal("wrong master key")
	}
	if _, err := parsed.Open("wrong"); !errors.Is(err, crypto.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	hostile := *parsed
	hostile.Memory = 1 << 30
	if _, err := hostile.Open("pw"); err == nil {
		t.Fatal("absurd KDF memory accepted")
	}
}

func FuzzParseKeyFile(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "key.json")); err == nil {
		f.Add(b)
	}
	master, _ := crypto.NewRandomKey()
	kf, _ := crypto.NewKeyFile(master, "pw", fastKDF, "h", "u", time.Unix(0, 0))
	b, _ := json.Marshal(kf)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := crypto.ParseKeyFile(data)
		if err != nil {
			return
		}
		// Bounded parameters only: opening must not blow up. Skip costly
		// but valid parameters to keep the fuzzer fast.
		if kf.Memory > 1024 || kf.Time > 2 {
			return
		}
		_, _ = kf.Open("pw")
	})
}

func BenchmarkSeal(b *testing.B) {
	k, _ := crypto.NewRandomKey()
	data := make([]byte, 1<<20)
	var buf []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		buf = k.Seal(buf[:0], data, "data")
	}
}

func BenchmarkOpen(b *testing.B) {
	k, _ := crypto.NewRandomKey()
	sealed := k.Seal(nil, make([]byte, 1<<20), "data")
	var buf []byte
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = k.Open(buf[:0], sealed, "data"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlobID(b *testing.B) {
	k, _ := crypto.NewRandomKey()
	h := k.NewIDHasher()
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h.Sum(data)
	}
}

// TestKDFBounds (issue 14, demonstrated 5): a key file may ask at most
// t = 10, m = 1 GiB, p = 16 and at least what Argon2id needs; anything else
// is refused when the file is parsed, before any derivation.
func TestKDFBounds(t *testing.T) {
	t.Parallel()
	master, _ := crypto.NewRandomKey()
	kf, err := crypto.NewKeyFile(master, "pw", fastKDF, "host", "user", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p  crypto.KDFParams
		ok bool
	}{
		{crypto.DefaultKDF, true},
		{crypto.KDFParams{Time: 10, Memory: 1 << 20, Threads: 16}, true},
		{crypto.KDFParams{Time: 1, Memory: 8, Threads: 1}, true},
		{crypto.KDFParams{Time: 11, Memory: 64 << 10, Threads: 4}, false},
		{crypto.KDFParams{Time: 100, Memory: 64 << 10, Threads: 4}, false},
		{crypto.KDFParams{Time: 3, Memory: 1<<20 + 1, Threads: 4}, false},
		{crypto.KDFParams{Time: 3, Memory: 4 << 20, Threads: 4}, false},
		{crypto.KDFParams{Time: 3, Memory: 64 << 10, Threads: 17}, false},
		{crypto.KDFParams{Time: 0, Memory: 64 << 10, Threads: 4}, false},
		{crypto.KDFParams{Time: 3, Memory: 64 << 10, Threads: 0}, false},
		{crypto.KDFParams{Time: 1, Memory: 31, Threads: 4}, false},
	}
	for _, tt := range tests {
		h := *kf
		h.KDFParams = tt.p
		b, _ := json.Marshal(h)
		_, err := crypto.ParseKeyFile(b)
		if (err == nil) != tt.ok {
			t.Errorf("%+v: parse gave %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}
