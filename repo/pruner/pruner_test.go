package pruner_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// buildRepo stores n small data blobs referenced by two snapshots, half of
// them by one only, and forgets that one.
func buildRepo(tb testing.TB, n int) *repo.Repository {
	ctx := context.Background()
	r, dir := repotest.New(tb, repo.InitOptions{PackSize: 4 << 20})
	r.StartWriting()
	s := r.NewSaver()
	var ids []pack.ID
	buf := make([]byte, 512)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(buf, uint64(i))
		binary.LittleEndian.PutUint64(buf[256:], uint64(i)*7919)
		id, _, _, err := s.Save(ctx, pack.DataBlob, buf, pack.Generation{})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	mkTree := func(content []pack.ID) pack.ID {
		t := &snapshot.Tree{Nodes: []*snapshot.Node{{Name: "f", Type: snapshot.TypeFile, Mode: 0o644, Content: content}}}
		b, _ := t.Encode()
		id, _, _, err := s.Save(ctx, pack.TreeBlob, b, pack.Generation{})
		if err != nil {
			tb.Fatal(err)
		}
		return id
	}
	keep := mkTree(ids[:n/2])
	if err := r.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Tree: keep, Kind: snapshot.Incremental, Time: time.Now(), Paths: []string{"/x"}}); err != nil {
		tb.Fatal(err)
	}
	r.Session().Close()
	r2 := repotest.OpenBare(tb, dir, repo.Options{})
	repotest.Exclusive(tb, r2)
	return r2
}

func TestPruneRepacksAndFrees(t *testing.T) {
	ctx := context.Background()
	r := buildRepo(t, 20000)
	plan, err := pruner.Prune(ctx, r, pruner.Options{MaxUnused: 0.05, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.UsedBlobs != 10001 || plan.UnusedBlobs != 10000 || plan.SizeFreed == 0 {
		t.Fatalf("plan %+v", plan)
	}
	if _, err := pruner.Prune(ctx, r, pruner.Options{MaxUnused: 0.05}); err != nil {
		t.Fatal(err)
	}
	r.Session().Close()
	r2 := repotest.OpenBare(t, r.Backend().Location(), repo.Options{})
	repotest.Exclusive(t, r2)
	after, err := pruner.Prune(ctx, r2, pruner.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if after.UsedBlobs != 10001 || float64(after.SizeUnused) > 0.05*float64(after.SizeTotal) || after.MissingPacks != 0 {
		t.Fatalf("after prune: %+v", after)
	}
}

// BenchmarkPrunePlan100k measures planning a prune of a repository of
// 100 000 blobs (half unused): time and memory.
func BenchmarkPrunePlan100k(b *testing.B) {
	r := buildRepo(b, 100000)
	runtime.GC()
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := pruner.Prune(context.Background(), r, pruner.Options{MaxUnused: 0.05, DryRun: true}); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "MiB-allocated")
	}
}

// TestUnusedAfterCountsYoungPacks: the unused data of packs kept because
// they are younger than the grace period is still there after the prune.
func TestUnusedAfterCountsYoungPacks(t *testing.T) {
	t.Parallel()
	r := buildRepo(t, 2000)
	for _, c := range []struct {
		name  string
		later time.Duration // how long after the backup the prune runs
		young bool
	}{
		{"inside the grace period", 0, true},
		{"after it", 2 * time.Hour, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Now().Add(c.later)
			plan, err := pruner.Prune(context.Background(), r, pruner.Options{MaxUnused: 0.05, Grace: time.Hour, DryRun: true,
				Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%d young, %d to repack, %d unused, %d unused after", plan.PacksYoung, plan.PacksRepack, plan.SizeUnused, plan.SizeUnusedAfter)
			if plan.SizeUnused == 0 || (plan.PacksYoung > 0) != c.young {
				t.Fatal(got)
			}
			if c.young && (plan.PacksRepack != 0 || plan.SizeUnusedAfter != plan.SizeUnused) {
				t.Fatalf("%s: the young packs' unused data is still there after", got)
			}
			if !c.young && (plan.PacksRepack == 0 || plan.SizeUnusedAfter >= plan.SizeUnused) {
				t.Fatalf("%s: old packs are repacked", got)
			}
		})
	}
}
