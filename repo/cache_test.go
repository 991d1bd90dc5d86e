package repo_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/cache"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// counting counts loads by file type, as a remote server would see them.
type counting struct {
	backend.Backend
	loads map[backend.FileType]*atomic.Int64
}

func (c *counting) Load(ctx context.Context, h backend.Handle, n int, off int64, fn func(io.Reader) error) error {
	c.loads[h.Type].Add(1)
	return c.Backend.Load(ctx, h, n, off, fn)
}

// TestCacheSavesRequests: with a warm cache, listing snapshots, loading
// the index and walking every tree load nothing from the backend.
func TestCacheSavesRequests(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	src := t.TempDir()
	repotest.WriteFiles(t, src, map[string]string{"a/b/c": "x", "d/e": "y", "f": "z"})
	if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}}); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	browse := func() map[backend.FileType]int64 {
		cb := &counting{Backend: local.New(dir), loads: map[backend.FileType]*atomic.Int64{}}
		for _, ft := range append(backend.AllTypes, backend.ConfigFile) {
			cb.loads[ft] = &atomic.Int64{}
		}
		r, err := repo.Open(ctx, cb, repotest.Password, repo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cd, err := cache.Open(cacheDir, r.Config().ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetCache(cd); err != nil {
			t.Fatal(err)
		}
		defer repotest.Begin(t, r).Close()
		sns, err := snapshot.LoadAll(ctx, r)
		if err != nil || len(sns) != 1 {
			t.Fatalf("snapshots: %v", err)
		}
		if err := snapshot.Walk(ctx, r, sns[0].Tree, "/", func(string, *snapshot.Node) error { return nil }); err != nil {
			t.Fatal(err)
		}
		out := map[backend.FileType]int64{}
		for ft, n := range cb.loads {
			out[ft] = n.Load()
		}
		return out
	}
	cold := browse()
	if cold[backend.IndexFile] == 0 || cold[backend.SnapshotFile] == 0 || cold[backend.PackFile] == 0 {
		t.Fatalf("cold cache loaded nothing? %v", cold)
	}
	warm := browse()
	if warm[backend.IndexFile]+warm[backend.SnapshotFile]+warm[backend.PackFile] != 0 {
		t.Fatalf("warm cache still loaded %v", warm)
	}
	// A damaged cached copy is detected and fetched again.
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*", "snapshots", "*"))
	if len(files) != 1 {
		t.Fatalf("cached snapshots: %v", files)
	}
	if err := writeGarbage(files[0]); err != nil {
		t.Fatal(err)
	}
	if again := browse(); again[backend.SnapshotFile] != 1 {
		t.Fatalf("damaged cache entry not refetched: %v", again)
	}
}

func writeGarbage(p string) error {
	return os.WriteFile(p, []byte("garbage"), 0o600)
}
