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

// Open opens the repository in dir with Password in a shared-lock session
// with its index loaded; the session is closed when the test ends (close
// it earlier with r.Session().Close(); Exclusive swaps it for an
// exclusive one).
func Open(t testing.TB, dir string) *repo.Repository {
	t.Helper()
	return OpenWith(t, dir, repo.Options{})
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
	Begin(t, r)
	return r
}

// Exclusive closes r's session and begins an exclusive one with the index
// loaded (for prune and repair), closed when the test ends.
func Exclusive(t testing.TB, r *repo.Repository) *repo.Session {
	t.Helper()
	if s := r.Session(); s != nil {
		s.Close()
	}
	s, err := r.Begin(context.Background(), repo.SessionOptions{Lock: repo.ExclusiveLock, Index: true, Command: "test"})
	if err != nil {
		t.Fatalf("begin exclusive session: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Clock is a settable clock for tests.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// Begin starts a shared-lock session on r with its index loaded (missing
// packs dropped), closed when the test ends.
func Begin(t testing.TB, r *repo.Repository) *repo.Session {
	t.Helper()
	s, err := r.Begin(context.Background(), repo.SessionOptions{Lock: repo.SharedLock, Index: true, Command: "test"})
	if err != nil {
		t.Fatalf("begin session: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// OpenBare opens the repository in dir without a session: only keys, the
// config, snapshot files and locks can be used until a session begins.
func OpenBare(t testing.TB, dir string, o repo.Options) *repo.Repository {
	t.Helper()
	r, err := repo.Open(context.Background(), local.New(dir), Password, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}
