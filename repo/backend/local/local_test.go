package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/local"
)

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return local.New(filepath.Join(t.TempDir(), "repo"))
	})
}

// TestNoTempLeftovers: a save leaves only the final file behind.
func TestNoTempLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	be := local.New(dir)
	ctx := context.Background()
	if err := be.Create(ctx); err != nil {
		t.Fatal(err)
	}
	h := backend.Handle{Type: backend.IndexFile, Name: "abcd"}
	if err := backend.SaveBytes(ctx, be, h, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "index"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
	if len(ents) != 1 {
		t.Fatalf("%d files in index/", len(ents))
	}
	// A temp file left by a crash is not listed.
	if err := os.WriteFile(filepath.Join(dir, "index", ".tmp-crash"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = be.List(ctx, backend.IndexFile, func(backend.FileInfo) error { n++; return nil })
	if n != 1 {
		t.Fatalf("list saw %d files, want 1", n)
	}
}

// TestSuiteWrapped runs the suite through the wrappers every command uses.
func TestSuiteWrapped(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return backend.NewRetry(backend.NewLimited(local.New(filepath.Join(t.TempDir(), "repo")), 64<<20, 64<<20))
	})
}

func TestTemp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	be := local.New(dir)
	if err := be.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Through the wrappers every command uses, which must not hide it.
	backendtest.RunTemp(t, backend.NewRetry(backend.NewLimited(be, 64<<20, 64<<20)), dir)
}
