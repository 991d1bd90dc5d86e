package repo_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// TestAdoptPacks: packs a killed backup uploaded but never indexed are
// taken over by the next upload session after a full check, and named
// by its index file; a damaged orphan is left alone (for prune).
func TestAdoptPacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{PackSize: 1 << 20})
	// The killed backup: three packs uploaded, no index file (the
	// interval and pack counts were not reached).
	r.StartWriting()
	s := r.NewSaver()
	rnd := rand.New(rand.NewPCG(5, 6))
	var ids []pack.ID
	for i := 0; i < 3; i++ {
		blob := make([]byte, 1<<20+1)
		for j := range blob {
			blob[j] = byte(rnd.Uint32())
		}
		id, _, _, err := s.Save(ctx, pack.DataBlob, blob, pack.Generation{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for deadline := time.Now().Add(20 * time.Second); packFiles(t, dir) < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d packs uploaded, want 3", packFiles(t, dir))
		}
	}
	r.Session().Close()
	if n := countFiles(t, filepath.Join(dir, "index")); n != 0 {
		t.Fatalf("%d index files before the rerun, want none", n)
	}
	// Damage one of the packs.
	var packs []string
	filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), backend.TempPrefix) {
			packs = append(packs, p)
		}
		return nil
	})
	bad := packs[0]
	os.Chmod(bad, 0o600)
	b, _ := os.ReadFile(bad)
	b[100] ^= 1
	os.WriteFile(bad, b, 0o600)

	r2 := repotest.Open(t, dir)
	var got repo.Adopted
	err := r2.WithUploader(ctx, func(ctx context.Context) error {
		var err error
		got, err = r2.Session().AdoptPacks(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Packs != 2 || got.Blobs != 2 {
		t.Fatalf("adopted %+v, want the 2 undamaged packs", got)
	}
	r3 := repotest.Open(t, dir)
	indexed := 0
	for _, id := range ids {
		if r3.Index().Has(pack.BlobHandle{ID: id, Type: pack.DataBlob}, pack.Generation{}) {
			indexed++
		}
	}
	if indexed != 2 {
		t.Fatalf("%d of the blobs indexed after the rerun, want 2", indexed)
	}
	if _, ok := r3.Index().Packs()[mustParse(t, filepath.Base(bad))]; ok {
		t.Fatal("the damaged orphan pack was indexed")
	}
}

// packFiles counts the stored packs (not the temporary files of uploads).
func packFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), backend.TempPrefix) {
			n++
		}
		return nil
	})
	return n
}

func mustParse(t *testing.T, s string) pack.ID {
	id, err := pack.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
