package repotest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// OpenOn opens the repository stored in be (e.g. a backend.Faulty around
// local.New(dir)) with Password and begins a session with so (a shared
// lock if so.Lock is unset), closed when the test ends.
func OpenOn(t testing.TB, be backend.Backend, so repo.SessionOptions) *repo.Repository {
	t.Helper()
	r, err := repo.Open(context.Background(), be, Password, repo.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if so.Lock == repo.NoLock {
		so.Lock = repo.SharedLock
	}
	if so.Command == "" {
		so.Command = "test"
	}
	s, err := r.Begin(context.Background(), so)
	if err != nil {
		t.Fatalf("begin session: %v", err)
	}
	t.Cleanup(s.Close)
	return r
}

// Backup backs up paths into r with the archiver and returns the snapshot.
func Backup(t testing.TB, r *repo.Repository, paths ...string) *snapshot.Snapshot {
	t.Helper()
	sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: paths, Hostname: "test"})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return sn
}

// PackPath is the file of pack id in the repository in dir.
func PackPath(dir string, id pack.ID) string {
	return filepath.Join(dir, "data", id.String()[:2], id.String())
}

// FlipByte flips the lowest bit of the byte at off in file p (made
// writable first: the local backend stores files read-only).
func FlipByte(t testing.TB, p string, off int64) {
	t.Helper()
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 || off >= int64(len(b)) {
		t.Fatalf("flip byte %d of %s: the file has %d bytes", off, p, len(b))
	}
	b[off] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Files returns the slash path and SHA-256 of every file below dir,
// except those below the directories named in skip (e.g. "locks"), so a
// test can tell that nothing was written or removed.
func Files(t testing.TB, dir string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
