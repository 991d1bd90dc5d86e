// Package repotest provides test support shared by packages: a real
// repository on the local backend in t.TempDir(), and file tree builders.
package repotest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/crypto"
)

// Password is the password of repositories made by New.
const Password = "test-password"

// FastKDF keeps key derivation cheap in tests.
var FastKDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

// New creates a repository in a temporary directory and returns it opened,
// with its index loaded, and its directory.
func New(t testing.TB, o repo.InitOptions) (*repo.Repository, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if o.KDF == (crypto.KDFParams{}) {
		o.KDF = FastKDF
	}
	if o.PackSize == 0 {
		o.PackSize = 1 << 20
	}
	if _, err := repo.Init(context.Background(), local.New(dir), Password, o); err != nil {
		t.Fatalf("init: %v", err)
	}
	return Open(t, dir), dir
}

// Open opens the repository in dir with Password and loads its index.
func Open(t testing.TB, dir string) *repo.Repository {
	t.Helper()
	r, err := repo.Open(context.Background(), local.New(dir), Password, repo.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatalf("load index: %v", err)
	}
	return r
}

// WriteFiles creates files under root from a map of slash paths to
// contents; a path ending in / makes a directory.
func WriteFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if p[len(p)-1] == '/' {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// OpenWith opens the repository in dir with options (e.g. a test clock).
func OpenWith(t testing.TB, dir string, o repo.Options) *repo.Repository {
	t.Helper()
	r, err := repo.Open(context.Background(), local.New(dir), Password, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatalf("load index: %v", err)
	}
	return r
}

// Clock is a settable clock for tests.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }
