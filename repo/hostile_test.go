package repo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/parity"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// craftParity builds a parity file whose header (with a valid checksum)
// claims fileSize bytes in K+M shards, followed by body bytes.
func craftParity(p parity.Params, fileSize int64, body int) []byte {
	ss := max(1, (fileSize+int64(p.K)-1)/int64(p.K))
	n := len("CAIRNPAR") + 4 + 16 + 32*(p.K+p.M) + 32
	b := make([]byte, n+body)
	copy(b, "CAIRNPAR")
	b[8], b[9], b[10] = parity.Version, byte(p.K), byte(p.M)
	binary.LittleEndian.PutUint64(b[12:], uint64(ss))
	binary.LittleEndian.PutUint64(b[20:], uint64(fileSize))
	sum := sha256.Sum256(b[:n-32])
	copy(b[n-32:], sum[:])
	return b
}

// allocDuring returns how many bytes fn allocated.
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileParityFiles (issue 14, demonstrated 7): a planted parity file
// is never read where the config keeps no parity, and where it does, its
// claimed sizes are checked against its own length and against the
// largest file the repository can hold before anything is allocated.
func TestHostileParityFiles(t *testing.T) {
	ctx := context.Background()
	for _, withParity := range []bool{false, true} {
		r, dir := repotest.New(t, repo.InitOptions{})
		if withParity {
			s := repotest.Exclusive(t, r)
			if err := r.UpdateConfig(ctx, func(c *repo.Config) error { c.Parity = parity.Default; return nil }); err != nil {
				t.Fatal(err)
			}
			s.Close()
			repotest.Begin(t, r)
		}
		// A damaged snapshot file: its load falls back to parity.
		id := pack.Hash([]byte("x"))
		snap := filepath.Join(dir, "snapshots", id.String())
		if err := os.WriteFile(snap, []byte("not this"), 0o644); err != nil {
			t.Fatal(err)
		}
		par := filepath.Join(dir, "parity", id.String())
		if err := os.MkdirAll(filepath.Dir(par), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			b    []byte
		}{
			{"claims 512 GiB, holds a header", craftParity(parity.Default, 512<<30, 0)},
			{"claims 1 GiB, holds half its parity", craftParity(parity.Default, 1<<30, 100<<20)},
			{"claims 200 MiB, holds 4 MB", craftParity(parity.Default, 200<<20, 4<<20)},
		} {
			if err := os.WriteFile(par, tc.b, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			n := allocDuring(func() { _, err = r.LoadUnpacked(ctx, backend.SnapshotFile, id) })
			if !errors.Is(err, repo.ErrDamaged) {
				t.Fatalf("parity %v, %s: load gave %v, want damage", withParity, tc.name, err)
			}
			if limit := uint64(len(tc.b)) + 8<<20; n > limit {
				t.Fatalf("parity %v, %s: the load allocated %d MiB for a %d-byte parity file", withParity, tc.name, n>>20, len(tc.b))
			}
		}

		// A parity file that would rebuild a damaged snapshot is used
		// only where the config keeps parity.
		good, err := r.SaveUnpacked(ctx, backend.SnapshotFile, []byte(`{"time":"2026-01-01T00:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "snapshots", good.String())
		stored, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := parity.Encode(bytes.NewReader(stored), int64(len(stored)), parity.Default)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "parity", good.String()), pb, 0o644); err != nil {
			t.Fatal(err)
		}
		stored[3] ^= 1
		if err := os.WriteFile(f, stored, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = r.LoadUnpacked(ctx, backend.SnapshotFile, good)
		if withParity && err != nil {
			t.Fatalf("parity enabled: the damaged snapshot was not read through its parity file: %v", err)
		}
		if !withParity && !errors.Is(err, repo.ErrDamaged) {
			t.Fatalf("parity disabled: load gave %v; want damage, the planted parity file unread", err)
		}
	}
}
