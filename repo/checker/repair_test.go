package checker_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func save(t *testing.T, r *repo.Repository, typ pack.BlobType, b []byte) pack.ID {
	t.Helper()
	var id pack.ID
	err := r.WithUploader(context.Background(), func(ctx context.Context) error {
		var err error
		id, _, _, err = r.NewSaver().Save(ctx, typ, b, pack.Generation{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func packOf(t *testing.T, r *repo.Repository, id pack.ID) pack.ID {
	t.Helper()
	locs := r.Index().LookupAny(pack.BlobHandle{ID: id, Type: pack.DataBlob})
	if len(locs) != 1 {
		t.Fatalf("blob %s has %d locations", id.Short(), len(locs))
	}
	return locs[0].Pack
}

func snapshotOf(t *testing.T, r *repo.Repository, blobs ...pack.ID) {
	t.Helper()
	tr := &snapshot.Tree{Nodes: []*snapshot.Node{{Name: "f", Type: snapshot.TypeFile, Mode: 0o644, Content: blobs}}}
	b, err := tr.Encode()
	if err != nil {
		t.Fatal(err)
	}
	root := save(t, r, pack.TreeBlob, b)
	if err := snapshot.Save(context.Background(), r, &snapshot.Snapshot{Tree: root, Kind: snapshot.Full, Time: time.Now(), Paths: []string{"/x"}}); err != nil {
		t.Fatal(err)
	}
}

func checkClean(t *testing.T, dir string) {
	t.Helper()
	r := repotest.Open(t, dir)
	rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() {
		t.Fatalf("check: %v", rep.Errors)
	}
	r.Session().Close()
}

// TestRepairIndexDropsMissingPacks (defect 7): after a pack vanished,
// `repair index` leaves an index that names only the packs there are.
func TestRepairIndexDropsMissingPacks(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	used := save(t, r, pack.DataBlob, []byte("data a snapshot needs"))
	snapshotOf(t, r, used)
	lost := packOf(t, r, save(t, r, pack.DataBlob, []byte("data nobody needs, in a pack of its own")))
	r.Session().Close()
	if err := os.Remove(repotest.PackPath(dir, lost)); err != nil {
		t.Fatal(err)
	}
	r = repotest.OpenBare(t, dir, repo.Options{})
	s, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.ExclusiveLock})
	if err != nil {
		t.Fatal(err)
	}
	res, err := checker.RepairIndex(ctx, r, false)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MissingPacks) != 1 || res.MissingPacks[0] != lost.String() {
		t.Fatalf("repair index reported missing packs %v, want [%s]", res.MissingPacks, lost)
	}
	checkClean(t, dir)
}

// TestRepairNeedsExclusiveSession: the repairs refuse to run without an
// exclusive lock, whoever calls them.
func TestRepairNeedsExclusiveSession(t *testing.T) {
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{}) // a shared session
	if _, err := checker.RepairIndex(ctx, r, false); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("repair index in a shared session: %v", err)
	}
	if _, err := checker.RepairPacks(ctx, r, nil); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("repair packs in a shared session: %v", err)
	}
	if _, err := checker.RepairSnapshots(ctx, r, true); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("repair snapshots in a shared session: %v", err)
	}
}

// TestSalvageKeepsBlobOfTwoPacks (defect 3, salvage): blob X is in packs A
// (intact) and B (X damaged there). Salvaging both must keep A's X: it
// must not be deduplicated against B, which the same repair removes.
func TestSalvageKeepsBlobOfTwoPacks(t *testing.T) {
	ctx := context.Background()
	r1, dir := repotest.New(t, repo.InitOptions{})
	r2 := repotest.Open(t, dir)
	x := bytes.Repeat([]byte("stored by two backups at once "), 50)
	id := save(t, r1, pack.DataBlob, x)
	save(t, r2, pack.DataBlob, x)
	a, b := packOf(t, r1, id), packOf(t, r2, id)
	snapshotOf(t, r1, id)
	loc := r2.Index().LookupAny(pack.BlobHandle{ID: id, Type: pack.DataBlob})[0]
	r1.Session().Close()
	r2.Session().Close()
	// Damage X in B.
	raw, err := os.ReadFile(repotest.PackPath(dir, b))
	if err != nil {
		t.Fatal(err)
	}
	raw[loc.Offset+loc.Length/2] ^= 0xff
	if err := os.WriteFile(repotest.PackPath(dir, b), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r := repotest.OpenBare(t, dir, repo.Options{})
	repotest.Exclusive(t, r)
	res, err := checker.RepairPacks(ctx, r, []pack.ID{a, b})
	if err != nil {
		t.Fatal(err)
	}
	r.Session().Close()
	if len(res) != 2 || res[0].Saved != 1 || res[1].Lost != 1 {
		t.Fatalf("salvage: %+v", res)
	}
	checkClean(t, dir)
}

// TestCheckStorageFailureIsNoDamage (defect 8): a pack that can't be read
// because the storage fails is an error of the check, not damage.
func TestCheckStorageFailureIsNoDamage(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	snapshotOf(t, r, save(t, r, pack.DataBlob, []byte("data")))
	r.Session().Close()
	rf, err := repo.Open(ctx, backend.NewFaulty(local.New(dir), backend.Fault{Op: backend.Load, Pattern: "data/*/*", Err: errors.New("connection reset by peer")}),
		repotest.Password, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repotest.Begin(t, rf)
	rep, err := checker.Check(ctx, rf, checker.Options{ReadData: true})
	if err == nil || errors.Is(err, repo.ErrDamaged) || (rep != nil && rep.Damaged()) {
		t.Fatalf("check through a failing storage: %v, %+v; want an error that is not damage", err, rep)
	}
}

// TestRepairSnapshotsTwice: a snapshot repaired, damaged again and
// repaired again lists the damage of both repairs, tagged once.
func TestRepairSnapshotsTwice(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	a := save(t, r, pack.DataBlob, []byte("first blob, in a pack of its own"))
	b := save(t, r, pack.DataBlob, []byte("second blob, in another pack"))
	c := save(t, r, pack.DataBlob, []byte("third blob, in a third pack"))
	snapshotOf(t, r, a, b, c)
	pa, pb := packOf(t, r, a), packOf(t, r, b)
	r.Session().Close()
	repair := func(lost pack.ID) []string {
		t.Helper()
		if err := os.Remove(repotest.PackPath(dir, lost)); err != nil {
			t.Fatal(err)
		}
		r := repotest.OpenBare(t, dir, repo.Options{})
		repotest.Exclusive(t, r)
		if _, err := checker.RepairIndex(ctx, r, false); err != nil {
			t.Fatal(err)
		}
		res, err := checker.RepairSnapshots(ctx, r, true)
		if err != nil || len(res) != 1 {
			t.Fatalf("repair snapshots: %v, %+v", err, res)
		}
		sns, err := snapshot.LoadAll(ctx, r)
		if err != nil || len(sns) != 1 {
			t.Fatalf("snapshots after repair: %v, %d", err, len(sns))
		}
		r.Session().Close()
		tags := 0
		for _, tg := range sns[0].Tags {
			if tg == "repaired" {
				tags++
			}
		}
		if tags != 1 {
			t.Fatalf("tags after repair: %v", sns[0].Tags)
		}
		return sns[0].Summary.Repaired
	}
	if got := repair(pa); len(got) != 1 {
		t.Fatalf("first repair lists %v", got)
	}
	if got := repair(pb); len(got) != 2 {
		t.Fatalf("second repair lists %v, want the damage of both repairs", got)
	}
	checkClean(t, dir)
}

// TestRepairPacksUnknownPack: a pack ID that is neither stored nor
// indexed is an error naming it, not "0 blobs saved".
func TestRepairPacksUnknownPack(t *testing.T) {
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{})
	repotest.Exclusive(t, r)
	_, err := checker.RepairPacks(ctx, r, []pack.ID{{1, 2, 3}})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no pack 01020300") {
		t.Fatalf("repair packs of an unknown pack: %v", err)
	}
}
