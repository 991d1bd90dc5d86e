package repo

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/crypto"
)

// TestPackVerifiedBeforeUpload: a pack whose blob doesn't match its ID (as
// a memory or compression bug would make) is refused before it reaches
// the backend.
func TestPackVerifiedBeforeUpload(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(ctx, local.New(dir), "pw", InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, local.New(dir), "pw", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.StartWriting()
	p, err := r.newPacker(pack.Generation{}, pack.DataBlob)
	if err != nil {
		t.Fatal(err)
	}
	codec := pack.NewCodec(r.key, 0)
	stored, e := codec.Encode(nil, []byte("what was stored"), pack.DataBlob)
	e.ID = r.key.NewIDHasher().Sum([]byte("what was hashed")) // the "bug"
	if err := p.w.Add(e, stored); err != nil {
		t.Fatal(err)
	}
	err = r.writePack(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "verify new pack before upload") {
		t.Fatalf("bad pack: %v", err)
	}
	n := 0
	r.be.List(ctx, backend.PackFile, func(backend.FileInfo) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d packs uploaded despite failed verification", n)
	}
}

// TestVerifyPackEveryBlob: verifying a pack of compressed and
// uncompressed blobs (whose IDs are finished in step with later blobs)
// gives the SHA-256 of the whole pack and refuses it whichever blob is
// wrong, the ones at the end included.
func TestVerifyPackEveryBlob(t *testing.T) {
	t.Parallel()
	r := verifyRepo(t)
	blobs := verifyBlobs(9, 300_000)
	for _, bad := range []int{-1, 0, 1, 2, 4, 7, 8} {
		t.Run(strconv.Itoa(bad), func(t *testing.T) {
			p, entries, size := writeTestPack(t, r, blobs, bad)
			if entries[0].Compression == pack.Uncompressed || entries[2].Compression != pack.Uncompressed {
				t.Fatalf("the text blobs should be compressed, the random ones not: %+v", entries[:3])
			}
			id, err := r.verifyPack(p.file, size, entries)
			if bad >= 0 {
				if err == nil || !strings.Contains(err.Error(), entries[bad].ID.Short()) {
					t.Fatalf("blob %d wrong: %v", bad, err)
				}
				return
			}
			whole := make([]byte, size)
			if _, err := p.file.ReadAt(whole, 0); err != nil {
				t.Fatal(err)
			}
			if err != nil || id != pack.ID(sha256.Sum256(whole)) {
				t.Fatalf("pack ID %s, %v; want the SHA-256 of the pack", id.Short(), err)
			}
		})
	}
}

// BenchmarkVerifyPack is the verification of each new pack before upload:
// a 16 MiB pack, two thirds text (compressed), one third random; bytes are
// those of the pack.
func BenchmarkVerifyPack(b *testing.B) {
	r := verifyRepo(b)
	p, entries, size := writeTestPack(b, r, verifyBlobs(24, 2<<20), -1)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.verifyPack(p.file, size, entries); err != nil {
			b.Fatal(err)
		}
	}
}

func verifyRepo(t testing.TB) *Repository {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(ctx, local.New(dir), "pw", InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, local.New(dir), "pw", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.StartWriting()
	return r
}

// verifyBlobs returns n blobs of up to maxSize bytes: every third random, the
// others text.
func verifyBlobs(n, maxSize int) [][]byte {
	rnd := rand.New(rand.NewPCG(3, 4))
	var blobs [][]byte
	for i := range n {
		b := make([]byte, 1000+rnd.IntN(maxSize))
		if i%3 == 2 {
			for j := range b {
				b[j] = byte(rnd.Uint32())
			}
		} else {
			words := []string{"alpha ", "beta ", "gamma ", "delta\n"}
			for j := 0; j < len(b); {
				j += copy(b[j:], words[rnd.IntN(len(words))])
			}
		}
		blobs = append(blobs, b)
	}
	return blobs
}

// writeTestPack writes blobs to a finished pack in a temporary file, the
// one at index bad (if any) under the ID of other content.
func writeTestPack(t testing.TB, r *Repository, blobs [][]byte, bad int) (*packer, []pack.Entry, int64) {
	p, err := r.newPacker(pack.Generation{}, pack.DataBlob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	codec, ids := pack.NewCodec(r.key, 1), r.key.NewIDHasher()
	for i, b := range blobs {
		stored, e := codec.Encode(nil, b, pack.DataBlob)
		e.ID = ids.Sum(b)
		if i == bad {
			e.ID = ids.Sum(b[1:])
		}
		if err := p.w.Add(e, stored); err != nil {
			t.Fatal(err)
		}
	}
	entries, size, err := p.w.Finalize(r.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return p, entries, size
}
