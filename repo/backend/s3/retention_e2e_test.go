package s3_test

import (
	"context"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestForgetPruneRetention: in an object-locked bucket under governance
// retention, forget keeps a snapshot until its retention passed, and
// prune keeps packs still retained (the repository checks clean), then
// frees them once they may go.
func TestForgetPruneRetention(t *testing.T) {
	ctx := context.Background()
	cfg, client := lockedServer(t)
	cfg.LockMode, cfg.LockFor = "GOVERNANCE", 3*time.Second
	be := openLocked(t, cfg, "forget-prune")
	if _, err := repo.Init(ctx, be, repotest.Password, repo.InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	repotest.WriteFiles(t, src, map[string]string{"a": strings.Repeat("retained data ", 1000), "d/": "", "d/b": "more"})
	r := repotest.OpenOn(t, be, repo.SessionOptions{Index: true})
	sn := repotest.Backup(t, r, src)
	r.Session().Close()

	// The packs are retained longer than the snapshot file.
	packsUntil := time.Now().Add(7 * time.Second)
	gov := minio.Governance
	prefix := path.Dir(be.Key(backend.Handle{Type: backend.PackFile, Name: "00"}))
	prefix = path.Dir(prefix) + "/"
	npacks := 0
	for oi := range client.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		npacks++
		if err := client.PutObjectRetention(ctx, cfg.Bucket, oi.Key, minio.PutObjectRetentionOptions{Mode: &gov, RetainUntilDate: &packsUntil}); err != nil {
			t.Fatalf("extend retention of %s: %v", oi.Key, err)
		}
	}
	if npacks == 0 {
		t.Fatal("no packs")
	}

	exclusive := func() *repo.Repository {
		return repotest.OpenOn(t, be, repo.SessionOptions{Lock: repo.ExclusiveLock, Index: true})
	}
	check := func(what string) {
		t.Helper()
		r := repotest.OpenOn(t, be, repo.SessionOptions{Index: true})
		rep, err := checker.Check(ctx, r, checker.Options{ReadData: true})
		if err != nil || rep.Damaged() {
			t.Fatalf("check %s: %v %v", what, err, rep.Errors)
		}
		r.Session().Close()
	}
	listed := func() int {
		r := repotest.OpenOn(t, be, repo.SessionOptions{})
		defer r.Session().Close()
		sns, err := snapshot.LoadAll(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return len(sns)
	}

	// forget while the snapshot file is retained: kept, and said so.
	r = exclusive()
	plan := &job.ForgetPlan{Remove: []pack.ID{sn.ID()}}
	if err := plan.Apply(ctx, r.Session()); err != nil {
		t.Fatalf("forget of a retained snapshot: %v", err)
	}
	r.Session().Close()
	if len(plan.Remove) != 0 || len(plan.Retained) != 1 || plan.Retained[0].ID != sn.ID() || plan.Retained[0].Until.IsZero() {
		t.Fatalf("forget: remove %v, retained %v", plan.Remove, plan.Retained)
	}
	if n := listed(); n != 1 {
		t.Fatalf("%d snapshots after forgetting a retained one, want 1", n)
	}
	time.Sleep(time.Until(plan.Retained[0].Until) + 500*time.Millisecond)
	r = exclusive()
	plan = &job.ForgetPlan{Remove: []pack.ID{sn.ID()}}
	if err := plan.Apply(ctx, r.Session()); err != nil || len(plan.Retained) != 0 || len(plan.Remove) != 1 {
		t.Fatalf("forget after the retention: %v, retained %v", err, plan.Retained)
	}
	r.Session().Close()
	if n := listed(); n != 0 {
		t.Fatalf("%d snapshots after forget", n)
	}

	// prune while the packs are retained: nothing deleted, all indexed.
	r = exclusive()
	pp, err := pruner.Prune(ctx, r, pruner.Options{})
	if err != nil {
		t.Fatalf("prune with retained packs: %v", err)
	}
	r.Session().Close()
	if pp.PacksRetained != npacks || pp.PacksDelete != 0 || pp.RetainedUntil.IsZero() || pp.RetainedUntil.Sub(packsUntil).Abs() > time.Second {
		t.Fatalf("prune: %d retained until %v, %d deleted; want %d retained until %v", pp.PacksRetained, pp.RetainedUntil, pp.PacksDelete, npacks, packsUntil)
	}
	check("after a prune that kept retained packs")

	time.Sleep(time.Until(packsUntil) + 500*time.Millisecond)
	r = exclusive()
	pp, err = pruner.Prune(ctx, r, pruner.Options{})
	if err != nil {
		t.Fatalf("prune after the retention: %v", err)
	}
	r.Session().Close()
	if pp.PacksRetained != 0 || pp.PacksDelete != npacks {
		t.Fatalf("prune after the retention: %d retained, %d deleted of %d", pp.PacksRetained, pp.PacksDelete, npacks)
	}
	check("after the prune that freed them")
}
