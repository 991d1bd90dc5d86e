package repo

import (
	"context"
	"path/filepath"
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
