package pruner_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// store saves blobs in r's session, flushing after each group so that each
// group lands in a pack of its own.
func store(t *testing.T, r *repo.Repository, groups ...[][]byte) [][]pack.ID {
	t.Helper()
	var out [][]pack.ID
	for _, g := range groups {
		var ids []pack.ID
		err := r.WithUploader(context.Background(), func(ctx context.Context) error {
			s := r.NewSaver()
			for _, b := range g {
				id, _, _, err := s.Save(ctx, pack.DataBlob, b, pack.Generation{})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ids)
	}
	return out
}

// snapshotOf saves a snapshot of one file made of blobs.
func snapshotOf(t *testing.T, r *repo.Repository, blobs []pack.ID) {
	t.Helper()
	ctx := context.Background()
	var root pack.ID
	err := r.WithUploader(ctx, func(ctx context.Context) error {
		tr := &snapshot.Tree{Nodes: []*snapshot.Node{{Name: "f", Type: snapshot.TypeFile, Mode: 0o644, Content: blobs}}}
		b, err := tr.Encode()
		if err != nil {
			return err
		}
		id, _, _, err := r.NewSaver().Save(ctx, pack.TreeBlob, b, pack.Generation{})
		if err != nil {
			return err
		}
		root = id
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Tree: root, Kind: snapshot.Full, Time: time.Now(), Paths: []string{"/x"}}); err != nil {
		t.Fatal(err)
	}
}

func junk(seed, n int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("junk %d ", seed)), n)
}

// pruneAndCheck prunes with no grace and no unused share left, then checks
// every blob with a fresh session: nothing referenced may be gone.
func pruneAndCheck(t *testing.T, dir string) *pruner.Plan {
	t.Helper()
	ctx := context.Background()
	r := repotest.OpenBare(t, dir, repo.Options{})
	s := repotest.Exclusive(t, r)
	plan, err := pruner.Prune(ctx, r, pruner.Options{MaxUnused: 0})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r2 := repotest.Open(t, dir)
	rep, err := checker.Check(ctx, r2, checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() {
		t.Fatalf("after prune (%+v): %v", plan, rep.Errors)
	}
	return plan
}

// TestPruneKeepsBlobStoredTwice (defect 3): two backups that ran at once
// both stored blob X, in packs A and B, each next to data no snapshot
// needs. Prune repacks the pack whose copy it keeps and deletes the other:
// the repacked X must not be deduplicated against the pack being deleted.
func TestPruneKeepsBlobStoredTwice(t *testing.T) {
	r1, dir := repotest.New(t, repo.InitOptions{})
	r2 := repotest.Open(t, dir) // a second, concurrent writer
	x := []byte("the blob both backups stored")
	a := store(t, r1, [][]byte{x, junk(1, 5000)})
	b := store(t, r2, [][]byte{x, junk(2, 5000)})
	if a[0][0] != b[0][0] {
		t.Fatal("the same plaintext got two IDs")
	}
	if n := len(r2.Index().LookupAny(pack.BlobHandle{ID: x2id(a), Type: pack.DataBlob})); n != 1 {
		t.Fatalf("the second writer's index has %d copies, want its own only", n)
	}
	snapshotOf(t, r1, []pack.ID{a[0][0]})
	r1.Session().Close()
	r2.Session().Close()
	plan := pruneAndCheck(t, dir)
	if plan.PacksDelete+plan.PacksRepack < 2 {
		t.Fatalf("prune did not remove both packs holding junk: %+v", plan)
	}
}

func x2id(groups [][]pack.ID) pack.ID { return groups[0][0] }

// TestPruneKeepsCopyInExistingPack (defect 4): blobs whose packs vanished
// were stored again by the next backup (the index still names the lost
// packs too). Prune must keep the copies that exist.
func TestPruneKeepsCopyInExistingPack(t *testing.T) {
	r, dir := repotest.New(t, repo.InitOptions{})
	var groups [][][]byte
	for i := range 8 {
		groups = append(groups, [][]byte{junk(100+i, 200)})
	}
	first := store(t, r, groups...)
	var blobs []pack.ID
	for _, g := range first {
		blobs = append(blobs, g[0])
		locs := r.Index().LookupAny(pack.BlobHandle{ID: g[0], Type: pack.DataBlob})
		name := locs[0].Pack.String()
		if err := os.Remove(filepath.Join(dir, "data", name[:2], name)); err != nil {
			t.Fatal(err)
		}
	}
	r.Session().Close()
	// The next backup: its session drops the lost packs, so it stores the
	// blobs again, each in a pack of its own.
	r = repotest.Open(t, dir)
	second := store(t, r, groups...)
	var again []pack.ID
	for _, g := range second {
		again = append(again, g[0])
	}
	if fmt.Sprint(again) != fmt.Sprint(blobs) {
		t.Fatal("blob IDs changed")
	}
	snapshotOf(t, r, blobs)
	r.Session().Close()
	plan := pruneAndCheck(t, dir)
	if plan.PacksDelete != 0 {
		t.Fatalf("prune deleted %d packs, but every existing pack holds a used blob: %+v", plan.PacksDelete, plan)
	}
}
