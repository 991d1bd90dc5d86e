package repo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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

// syncClock is a test clock safe to read from the upload goroutines.
type syncClock struct{ ns atomic.Int64 }

func (c *syncClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *syncClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	e, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// TestIndexFileEveryInterval: a backup that has uploaded for
// IndexInterval writes an index file for the packs stored so far, long
// before 64 packs; after a crash (no Flush) a reopened repository knows
// those packs' blobs, and each index file names only packs that are
// stored.
func TestIndexFileEveryInterval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dir := repotest.New(t, repo.InitOptions{PackSize: 1 << 20})
	clk := &syncClock{}
	clk.Advance(time.Hour)
	// One upload at a time: packs are stored, and index files decided,
	// in the order they fill.
	r := repotest.OpenWith(t, dir, repo.Options{Now: clk.Now, Uploads: 1})
	r.StartWriting()
	s := r.NewSaver()
	rnd := rand.New(rand.NewPCG(1, 2))
	blob := make([]byte, 1<<20+1) // a pack of its own
	var saved []pack.ID
	for i := 0; i < 3; i++ {
		for j := range blob {
			blob[j] = byte(rnd.Uint32())
		}
		id, _, _, err := s.Save(ctx, pack.DataBlob, blob, pack.Generation{})
		if err != nil {
			t.Fatal(err)
		}
		saved = append(saved, id)
		// Each blob fills a pack. From the second on, move the clock past
		// the interval and wait for the index file the pack's upload
		// writes (the first pack's upload may finish on either side of
		// the move).
		if i == 0 {
			continue
		}
		clk.Advance(repo.DefaultIndexInterval)
		deadline := time.Now().Add(20 * time.Second)
		for countFiles(t, filepath.Join(dir, "index")) < i {
			if time.Now().After(deadline) {
				t.Fatalf("after %d packs and %v of upload: %d index files, want %d", i, repo.DefaultIndexInterval*time.Duration(i),
					countFiles(t, filepath.Join(dir, "index")), i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A crash now: no Flush. The reopened repository has the blobs of
	// the indexed packs, all of them stored.
	r.Session().Close()
	r2 := repotest.Open(t, dir)
	if m := r2.Session().MissingPacks(); len(m) != 0 {
		t.Fatalf("index files name %d packs that are not stored", len(m))
	}
	if got := r2.Index().Len(); got < 2 {
		t.Fatalf("reopened index has %d blobs, want at least the 2 of the packs uploaded before the interval passed", got)
	}
	for _, id := range saved[:2] {
		if !r2.Index().Has(pack.BlobHandle{ID: id, Type: pack.DataBlob}, pack.Generation{}) {
			t.Fatalf("blob %s of an uploaded pack is not indexed after the crash", id.Short())
		}
	}
}
