package copier_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/checker"
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

// TestCopyAfterDestinationLostPack (defect 5): the destination lost the
// pack of a file's data, and (in one case) `repair snapshots --forget`
// truncated that file in its copy. The next copy of a changed source must
// copy that file's unchanged directory again, not reuse the destination's
// incomplete or rewritten subtree: the new copy restores byte-exact.
func TestCopyAfterDestinationLostPack(t *testing.T) {
	for _, repaired := range []bool{false, true} {
		t.Run(map[bool]string{false: "unrepaired", true: "repaired"}[repaired], func(t *testing.T) {
			ctx := context.Background()
			src, _ := repotest.New(t, repo.InitOptions{})
			dst, dstDir := repotest.New(t, repo.InitOptions{})
			dir := t.TempDir()
			big := strings.Repeat("the file whose pack the destination loses ", 2000)
			repotest.WriteFiles(t, dir, map[string]string{"a/big": big, "b/x": "x1"})
			s1, err := archiver.Run(ctx, src, archiver.Options{Paths: []string{dir}, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := copier.Copy(ctx, src, dst, []*snapshot.Snapshot{s1}, []*snapshot.Snapshot{s1}, copier.Options{}); err != nil {
				t.Fatal(err)
			}
			d1, err := snapshot.LoadAll(ctx, dst)
			if err != nil || len(d1) != 1 {
				t.Fatalf("destination: %v", err)
			}
			var content []pack.ID
			if err := snapshot.Walk(ctx, dst, d1[0].Tree, "/", func(p string, n *snapshot.Node) error {
				if n.Name == "big" {
					content = n.Content
				}
				return nil
			}); err != nil || len(content) == 0 {
				t.Fatalf("find a/big in the copy: %v", err)
			}
			lost := dst.Index().LookupAny(pack.BlobHandle{ID: content[0], Type: pack.DataBlob})[0].Pack
			if err := os.Remove(filepath.Join(dstDir, "data", lost.String()[:2], lost.String())); err != nil {
				t.Fatal(err)
			}
			dst.Session().Close()
			dst = repotest.OpenBare(t, dstDir, repo.Options{})
			if repaired {
				repotest.Exclusive(t, dst)
				if res, err := checker.RepairSnapshots(ctx, dst, true); err != nil || len(res) != 1 {
					t.Fatalf("repair snapshots: %+v %v", res, err)
				}
				dst.Session().Close()
			}
			repotest.Begin(t, dst)
			if err := os.WriteFile(filepath.Join(dir, "b", "x"), []byte("x2"), 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := archiver.Run(ctx, src, archiver.Options{Paths: []string{dir}, Hostname: "h", Parent: s1})
			if err != nil {
				t.Fatal(err)
			}
			res, err := copier.Copy(ctx, src, dst, []*snapshot.Snapshot{s1, s2}, []*snapshot.Snapshot{s1, s2}, copier.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var d2 *snapshot.Snapshot
			for _, c := range res.Copied {
				if c.Source == s2.ID() {
					d2, err = snapshot.Load(ctx, dst, c.Destination)
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if d2 == nil {
				t.Fatalf("s2 was not copied: %+v", res)
			}
			out := t.TempDir()
			if _, err := restorer.Restore(ctx, dst, d2, "/", out, restorer.Options{}); err != nil {
				t.Fatalf("restore the new copy: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(out, dir, "a", "big"))
			if err != nil || string(got) != big {
				t.Fatalf("a/big in the new copy: %d bytes, %v; want %d bytes", len(got), err, len(big))
			}
		})
	}
}
