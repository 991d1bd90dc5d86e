package cache_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/cache"
	"github.com/cairn-backup/cairn/repo/backend/local"
)

// counting counts the loads that reach the storage.
type counting struct {
	backend.Backend
	mu    sync.Mutex
	loads map[string]int
}

func (c *counting) Load(ctx context.Context, h backend.Handle, n int, off int64, fn func(io.Reader) error) error {
	c.mu.Lock()
	c.loads[h.Path()]++
	c.mu.Unlock()
	return c.Backend.Load(ctx, h, n, off, fn)
}

func (c *counting) count(h backend.Handle) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads[h.Path()]
}

const repoID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func setup(t *testing.T) (*counting, *cache.Backend, string) {
	t.Helper()
	ctx := context.Background()
	raw := local.New(t.TempDir())
	if err := raw.Create(ctx); err != nil {
		t.Fatal(err)
	}
	be := &counting{Backend: raw, loads: map[string]int{}}
	base := t.TempDir()
	d, err := cache.Open(base, repoID)
	if err != nil {
		t.Fatal(err)
	}
	return be, d.Wrap(be), filepath.Join(base, repoID)
}

func handle(t backend.FileType, content []byte, meta bool) backend.Handle {
	return backend.Handle{Type: t, Name: pack.Hash(content).String(), Metadata: meta}
}

func load(t *testing.T, be backend.Backend, h backend.Handle, n int, off int64) []byte {
	t.Helper()
	var out []byte
	err := be.Load(context.Background(), h, n, off, func(rd io.Reader) error {
		var err error
		out, err = io.ReadAll(rd)
		return err
	})
	if err != nil {
		t.Fatalf("load %s: %v", h, err)
	}
	return out
}

// TestCachedTypes: index and snapshot files and metadata packs are served
// from the cache once saved or read; data packs and files whose names are
// not their hashes always come from the storage.
func TestCachedTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	content := []byte(strings.Repeat("tree pack bytes ", 100))
	for _, tc := range []struct {
		name   string
		h      backend.Handle
		cached bool
	}{
		{"index", handle(backend.IndexFile, content, false), true},
		{"snapshot", handle(backend.SnapshotFile, content, false), true},
		{"tree pack", handle(backend.PackFile, content, true), true},
		{"data pack", handle(backend.PackFile, content, false), false},
		{"key", handle(backend.KeyFile, content, false), false},
		{"lock", handle(backend.LockFile, content, false), false},
		{"config", backend.Handle{Type: backend.ConfigFile}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, cb, _ := setup(t)
			if err := backend.SaveBytes(ctx, cb, tc.h, content); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if got := load(t, cb, tc.h, 16, 32); !bytes.Equal(got, content[32:48]) {
					t.Fatalf("partial read: %q", got)
				}
				if got := load(t, cb, tc.h, 0, 0); !bytes.Equal(got, content) {
					t.Fatalf("whole read: %d bytes", len(got))
				}
			}
			want := 6
			if tc.cached {
				want = 0
			}
			if n := raw.count(tc.h); n != want {
				t.Fatalf("%d loads reached the storage, want %d", n, want)
			}
		})
	}
}

// TestFetchWhole: the first read of a metadata pack that isn't cached
// fetches it whole, once; later reads of any part are local.
func TestFetchWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, cb, _ := setup(t)
	content := []byte(strings.Repeat("0123456789", 1000))
	h := handle(backend.PackFile, content, true)
	if err := backend.SaveBytes(ctx, raw, h, content); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 9000; off += 1000 {
		if got := load(t, cb, h, 10, off); !bytes.Equal(got, content[off:off+10]) {
			t.Fatalf("at %d: %q", off, got)
		}
	}
	if n := raw.count(h); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
	if err := cb.Load(ctx, h, 10, int64(len(content)), func(io.Reader) error { return nil }); err == nil {
		t.Fatal("a read beyond the end of a cached file succeeded")
	}
}

// TestDamage: a cached copy that no longer matches its name is dropped
// and fetched again; a file damaged in the storage is never cached, and
// its bytes reach the caller, which judges them.
func TestDamage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, cb, dir := setup(t)
	content := []byte("snapshot content")
	h := handle(backend.SnapshotFile, content, false)
	if err := backend.SaveBytes(ctx, cb, h, content); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, filepath.FromSlash(h.Path()))
	if err := os.WriteFile(copyPath, []byte("planted in the cache"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh wrapper: the copy is checked on first use in a process.
	d, err := cache.Open(filepath.Dir(dir), repoID)
	if err != nil {
		t.Fatal(err)
	}
	cb = d.Wrap(raw)
	if got := load(t, cb, h, 0, 0); !bytes.Equal(got, content) {
		t.Fatalf("read %q through a damaged cache copy", got)
	}
	if n := raw.count(h); n != 1 {
		t.Fatalf("damaged copy: %d loads, want 1 (fetched again)", n)
	}
	if b, err := os.ReadFile(copyPath); err != nil || !bytes.Equal(b, content) {
		t.Fatalf("cache copy after refetch: %q, %v", b, err)
	}

	// Damaged in the storage: the name is the hash of other bytes.
	bad := backend.Handle{Type: backend.IndexFile, Name: pack.Hash([]byte("original")).String()}
	if err := backend.SaveBytes(ctx, raw, bad, []byte("tampered")); err != nil {
		t.Fatal(err)
	}
	if got := load(t, cb, bad, 0, 0); string(got) != "tampered" {
		t.Fatalf("damaged file read as %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(bad.Path()))); err == nil {
		t.Fatal("a file whose bytes don't match its name was cached")
	}
}

// TestRemoveAndPrune: removing a file drops its copy; Prune drops copies
// of files the storage no longer lists.
func TestRemoveAndPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, cb, dir := setup(t)
	a, b := []byte("index a"), []byte("index b")
	ha, hb := handle(backend.IndexFile, a, false), handle(backend.IndexFile, b, false)
	for _, f := range []struct {
		h backend.Handle
		c []byte
	}{{ha, a}, {hb, b}} {
		if err := backend.SaveBytes(ctx, cb, f.h, f.c); err != nil {
			t.Fatal(err)
		}
	}
	cached := func(h backend.Handle) bool {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(h.Path())))
		return err == nil
	}
	if !cached(ha) || !cached(hb) {
		t.Fatal("saved index files not cached")
	}
	if err := cb.Remove(ctx, ha); err != nil {
		t.Fatal(err)
	}
	if cached(ha) {
		t.Fatal("removed file still cached")
	}
	if err := raw.Remove(ctx, hb); err != nil { // behind the cache's back
		t.Fatal(err)
	}
	if err := cb.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if cached(hb) {
		t.Fatal("prune kept the copy of a file the storage no longer has")
	}
}

// TestOpenRefusesBadIDs: a repository ID read from a config must not
// name a directory outside the cache.
func TestOpenRefusesBadIDs(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"../victim", "/etc", "", strings.ToUpper(repoID), repoID + "/"} {
		if _, err := cache.Open(t.TempDir(), id); err == nil {
			t.Errorf("Open accepted repository ID %q", id)
		}
	}
}
