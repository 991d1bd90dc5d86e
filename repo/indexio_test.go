package repo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// TestIndexFileEveryBlobs: a backup of many small blobs writes an index
// file every 64k blobs, not only every 64 packs, so the entries waiting
// for an index file stay few; everything is indexed once after a reopen.
func TestIndexFileEveryBlobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	s := r.NewSaver()
	const n = 100_000 // about 6 packs of 1 MiB, far fewer than 64
	for i := 0; i < n; i++ {
		if _, _, _, err := s.Save(ctx, pack.DataBlob, []byte(fmt.Sprint("small blob ", i)), pack.Generation{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Packs >= 64 {
		t.Fatalf("%d packs: the test needs fewer than 64", st.Packs)
	}
	files, err := os.ReadDir(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d index files, want 2 (one at 64k blobs, one at the flush)", len(files))
	}
	if got := repotest.Open(t, dir).Index().Len(); got != n {
		t.Fatalf("index has %d entries after reopen, want %d", got, n)
	}
}
