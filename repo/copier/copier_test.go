package copier_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/copier"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func TestMissing(t *testing.T) {
	id := func(b byte) pack.ID { return pack.ID{b} }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := func(b byte, orig *pack.ID, at int) *snapshot.Snapshot {
		sn, _ := snapshot.DecodeSnapshot([]byte(`{"time":"2026-01-01T00:00:00Z","tree":"` + id(b).String() + `","paths":["/"],"hostname":"h","kind":"full","generation":"00000000000000000000000000000000"}`))
		sn.Original = orig
		sn.Time = t0.Add(time.Duration(at) * time.Hour)
		return sn
	}
	a, b := id(1), id(2)
	cases := []struct {
		name string
		src  []*snapshot.Snapshot
		dst  []*snapshot.Snapshot
		want int
	}{
		{"empty destination", []*snapshot.Snapshot{src(1, &a, 2), src(2, &b, 1)}, nil, 2},
		{"one copied", []*snapshot.Snapshot{src(1, &a, 2), src(2, &b, 1)}, []*snapshot.Snapshot{src(9, &a, 0)}, 1},
		{"all copied", []*snapshot.Snapshot{src(1, &a, 0)}, []*snapshot.Snapshot{src(9, &a, 0)}, 0},
		{"a rewritten copy counts as copied", []*snapshot.Snapshot{src(1, &b, 0)}, []*snapshot.Snapshot{src(7, &b, 0)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := copier.Missing(c.src, c.dst)
			if len(got) != c.want {
				t.Fatalf("%d missing, want %d", len(got), c.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Fatal("not in time order")
				}
			}
		})
	}
}

// TestCopyReusesReference copies two snapshots; the second, with one new
// file, reads only that file's blobs from the source.
func TestCopyReusesReference(t *testing.T) {
	ctx := context.Background()
	src, _ := repotest.New(t, repo.InitOptions{})
	dst, _ := repotest.New(t, repo.InitOptions{})
	dir := t.TempDir()
	repotest.WriteFiles(t, dir, map[string]string{"a/one": "one one one", "a/two": "two", "b/three": "three"})
	backup := func(parent *snapshot.Snapshot) *snapshot.Snapshot {
		sn, err := archiver.Run(ctx, src, archiver.Options{Paths: []string{dir}, Hostname: "h", Parent: parent})
		if err != nil {
			t.Fatal(err)
		}
		return sn
	}
	s1 := backup(nil)
	if err := os.WriteFile(filepath.Join(dir, "b", "four"), []byte("four"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := backup(s1)
	res, err := copier.Copy(ctx, src, dst, []*snapshot.Snapshot{s1}, []*snapshot.Snapshot{s1, s2}, copier.Options{})
	if err != nil || len(res.Copied) != 1 || res.Copied[0].Blobs != 3 {
		t.Fatalf("first copy: %+v %v", res, err)
	}
	res, err = copier.Copy(ctx, src, dst, []*snapshot.Snapshot{s1, s2}, []*snapshot.Snapshot{s1, s2}, copier.Options{})
	if err != nil || len(res.Copied) != 1 || res.Skipped != 1 {
		t.Fatalf("second copy: %+v %v", res, err)
	}
	if c := res.Copied[0]; c.Blobs != 1 || c.Reused != 1 {
		t.Fatalf("second copy read %d blobs and reused %d; want 1 and 1 (b/three)", c.Blobs, c.Reused)
	}
	sns, err := snapshot.LoadAll(ctx, dst)
	if err != nil || len(sns) != 2 {
		t.Fatalf("destination snapshots: %d %v", len(sns), err)
	}
	out := t.TempDir()
	if _, err := restorer.Restore(ctx, dst, sns[1], "/", out, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, dir, "b", "four"))
	if err != nil || string(b) != "four" {
		t.Fatalf("restored b/four: %q %v", b, err)
	}
	if *sns[1].Original != s2.ID() || sns[1].Parent == nil || *sns[1].Parent != sns[0].ID() {
		t.Fatalf("copy of s2: original %v parent %v", sns[1].Original, sns[1].Parent)
	}
}
