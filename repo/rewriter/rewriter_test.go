package rewriter_test

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/rewriter"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

var files = map[string]string{
	"top.txt":                 "top",
	"a/b/secret.txt":          "the secret",
	"a/b/keep.txt":            "keep me",
	"a/c/other.txt":           "other",
	"cache/x/1.bin":           "one",
	"cache/x/2.bin":           "two two",
	"cache/3.bin":             "three",
	"docs/readme":             "readme",
	"docs/deep/er/secret.txt": "second secret",
}

// fixture backs up files and returns the repository, the source
// directory (the snapshot path) and the snapshot.
func fixture(t *testing.T) (*repo.Repository, string, *snapshot.Snapshot) {
	t.Helper()
	r, _ := repotest.New(t, repo.InitOptions{})
	src := filepath.Join(t.TempDir(), "src")
	repotest.WriteFiles(t, src, files)
	return r, filepath.ToSlash(src), repotest.Backup(t, r, src)
}

// subtree returns the tree ID of directory p in tree root.
func subtree(t *testing.T, r *repo.Repository, root pack.ID, p string) pack.ID {
	t.Helper()
	n, _, err := snapshot.FindNode(context.Background(), r, root, p)
	if err != nil {
		t.Fatalf("find %s: %v", p, err)
	}
	return *n.Subtree
}

// paths lists every path below root.
func paths(t *testing.T, r *repo.Repository, root pack.ID) []string {
	t.Helper()
	var out []string
	if err := snapshot.Walk(context.Background(), r, root, "/", func(p string, _ *snapshot.Node) error {
		out = append(out, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTreeRewrite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		patterns func(src string) []string
		removed  []string // below src
		files    int64
		bytes    int64
		// same are directories below src that keep their tree ID.
		same []string
	}{
		{"nested file anchored", func(src string) []string { return []string{src + "/a/b/secret.txt"} },
			[]string{"a/b/secret.txt"}, 1, 10, []string{"a/c", "cache", "docs"}},
		{"file at any depth", func(string) []string { return []string{"secret.txt"} },
			[]string{"a/b/secret.txt", "docs/deep/er/secret.txt"}, 2, 23, []string{"a/c", "cache", "cache/x"}},
		{"directory removes its subtree", func(string) []string { return []string{"cache"} },
			[]string{"cache"}, 3, 15, []string{"a", "a/b", "docs"}},
		{"glob below a directory", func(src string) []string { return []string{src + "/cache/x/*.bin"} },
			[]string{"cache/x/1.bin", "cache/x/2.bin"}, 2, 10, []string{"a", "docs"}},
		{"double star", func(src string) []string { return []string{src + "/docs/**/secret.txt"} },
			[]string{"docs/deep/er/secret.txt"}, 1, 13, []string{"a", "cache"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r, src, sn := fixture(t)
			m, err := snapshot.NewMatcher(tc.patterns(src), false)
			if err != nil {
				t.Fatal(err)
			}
			w := rewriter.NewTree(r, m)
			// A dry run lists the same paths and saves nothing.
			dryID, dry, _, err := w.Rewrite(ctx, nil, sn.Tree, "/", sn.Generation)
			if err != nil || dryID != sn.Tree {
				t.Fatalf("dry run: %v, tree %s want %s", err, dryID.Short(), sn.Tree.Short())
			}
			var root pack.ID
			var rm rewriter.Removed
			if err := r.WithUploader(ctx, func(ctx context.Context) error {
				root, rm, _, err = w.Rewrite(ctx, r.NewSaver(), sn.Tree, "/", sn.Generation)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, p := range tc.removed {
				want = append(want, path.Join(src, p))
			}
			if !slices.Equal(rm.Paths, want) || !slices.Equal(dry.Paths, want) {
				t.Fatalf("removed %q (dry run %q), want %q", rm.Paths, dry.Paths, want)
			}
			if rm.Files != tc.files || rm.Bytes != tc.bytes {
				t.Errorf("removed %d files, %d bytes; want %d, %d", rm.Files, rm.Bytes, tc.files, tc.bytes)
			}
			if root == sn.Tree {
				t.Fatal("root tree kept its ID")
			}
			// Nothing at or below a removed path is left; everything
			// else is.
			before, after := paths(t, r, sn.Tree), paths(t, r, root)
			for _, p := range before {
				gone := slices.ContainsFunc(want, func(w string) bool { return p == w || len(p) > len(w) && p[:len(w)+1] == w+"/" })
				if gone == slices.Contains(after, p) {
					t.Errorf("%s: removed %v, in the new tree %v", p, gone, !gone)
				}
			}
			for _, d := range tc.same {
				if a, b := subtree(t, r, sn.Tree, src+"/"+d), subtree(t, r, root, src+"/"+d); a != b {
					t.Errorf("%s: tree %s became %s, want it reused", d, a.Short(), b.Short())
				}
			}
			for _, p := range tc.removed {
				dir := path.Dir(p)
				for ; dir != "."; dir = path.Dir(dir) {
					if subtree(t, r, sn.Tree, src+"/"+dir) == subtree(t, r, root, src+"/"+dir) {
						t.Errorf("%s (on the way to %s) kept its tree ID", dir, p)
					}
				}
			}
		})
	}
}

func TestTreeRewriteNoMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, sn := fixture(t)
	m, _ := snapshot.NewMatcher([]string{"/nowhere/secret.txt", "*.nothing"}, false)
	var root pack.ID
	var rm rewriter.Removed
	trees := r.Stats().TreeBlobs
	err := r.WithUploader(ctx, func(ctx context.Context) error {
		var err error
		root, rm, _, err = rewriter.NewTree(r, m).Rewrite(ctx, r.NewSaver(), sn.Tree, "/", sn.Generation)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if root != sn.Tree || len(rm.Paths) != 0 {
		t.Fatalf("tree %s, removed %q; want %s unchanged", root.Short(), rm.Paths, sn.Tree.Short())
	}
	if st := r.Stats(); st.TreeBlobs != trees {
		t.Fatalf("%d tree blobs written", st.TreeBlobs-trees)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, src, sn := fixture(t)
	// A second snapshot with the same tree, tagged, as another host.
	sn2 := *sn
	sn2.Tags, sn2.Hostname = []string{"t1"}, "other"
	sn2.Time = sn.Time.Add(time.Hour)
	if err := snapshot.Save(ctx, r, &sn2); err != nil {
		t.Fatal(err)
	}
	repotest.Exclusive(t, r)
	m, _ := snapshot.NewMatcher([]string{"secret.txt"}, false)
	list := func() []pack.ID {
		ids, err := r.List(ctx, backend.SnapshotFile)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if _, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{sn, &sn2}, rewriter.Options{Excludes: m, DryRun: true, Forget: true}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(list()); n != 2 {
		t.Fatalf("dry run: %d snapshots, want 2", n)
	}
	res, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{sn, &sn2}, rewriter.Options{Excludes: m, Forget: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Rewritten || !res[1].Forgotten {
		t.Fatalf("results %+v", res)
	}
	ids := list()
	if len(ids) != 2 || slices.Contains(ids, sn.ID()) || slices.Contains(ids, sn2.ID()) {
		t.Fatalf("snapshots %v after --forget", ids)
	}
	ns, err := snapshot.Load(ctx, r, res[1].NewSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if *ns.Original != sn2.ID() || ns.Hostname != "other" || !slices.Equal(ns.Tags, []string{"t1"}) ||
		!ns.Time.Equal(sn2.Time) || ns.Generation != sn2.Generation || ns.Kind != sn2.Kind {
		t.Fatalf("new snapshot %+v", ns)
	}
	if ns.Summary.TotalFiles != sn.Summary.TotalFiles-2 || ns.Summary.TotalBytes != sn.Summary.TotalBytes-23 {
		t.Fatalf("summary totals %d/%d, want %d/%d", ns.Summary.TotalFiles, ns.Summary.TotalBytes, sn.Summary.TotalFiles-2, sn.Summary.TotalBytes-23)
	}
	// Both new snapshots share the rewritten tree.
	if ns0, _ := snapshot.Load(ctx, r, res[0].NewSnapshot); ns0.Tree != ns.Tree {
		t.Fatal("the same tree was rewritten twice")
	}
	// Rewritten again: no paths match, the new host does; the first
	// original is kept.
	nt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	res2, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{ns}, rewriter.Options{Excludes: m, NewHost: "h3", NewTime: nt}, nil)
	if err != nil || !res2[0].Rewritten || res2[0].Forgotten {
		t.Fatalf("%+v %v", res2, err)
	}
	ns3, err := snapshot.Load(ctx, r, res2[0].NewSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if *ns3.Original != sn2.ID() || ns3.Hostname != "h3" || !ns3.Time.Equal(nt) || ns3.Tree != ns.Tree {
		t.Fatalf("metadata rewrite %+v", ns3)
	}
	// Nothing to change: left alone.
	res4, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{ns3}, rewriter.Options{Excludes: m}, nil)
	if err != nil || res4[0].Rewritten || res4[0].NewSnapshot != (pack.ID{}) {
		t.Fatalf("%+v %v", res4, err)
	}
	// Every path matches: the snapshot is left alone.
	all, _ := snapshot.NewMatcher([]string{"/*"}, false)
	res5, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{ns3}, rewriter.Options{Excludes: all}, nil)
	if err != nil || res5[0].Rewritten || !res5[0].Empty {
		t.Fatalf("%+v %v", res5, err)
	}
	_ = src
}

func TestRunNeedsLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, sn := fixture(t)
	m, _ := snapshot.NewMatcher([]string{"secret.txt"}, false)
	// The fixture's session is shared: --forget needs an exclusive one.
	if _, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{sn}, rewriter.Options{Excludes: m, Forget: true}, nil); err == nil {
		t.Fatal("--forget under a shared lock")
	}
	if _, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{sn}, rewriter.Options{}, nil); err == nil {
		t.Fatal("no options accepted")
	}
	r.Session().Close()
	if _, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{sn}, rewriter.Options{Excludes: m}, nil); err == nil {
		t.Fatal("rewrite without a session")
	}
}

// TestRunWriteOrder: when storage fails at each write of a rewrite, what
// is left is consistent: no snapshot before its trees are indexed, no
// original removed before its new snapshot is saved.
func TestRunWriteOrder(t *testing.T) {
	t.Parallel()
	failed := errors.New("injected failure")
	for _, tc := range []struct {
		name  string
		fault backend.Fault
		// indexGrows: the new trees were indexed; newSnapshots: how many
		// snapshot files were written; originals: the originals remain.
		indexGrows   bool
		newSnapshots int
	}{
		{"tree pack", backend.Fault{Op: backend.Save, Type: backend.PackFile, Err: failed}, false, 0},
		{"index", backend.Fault{Op: backend.Save, Type: backend.IndexFile, Err: failed}, false, 0},
		{"snapshot", backend.Fault{Op: backend.Save, Type: backend.SnapshotFile, Err: failed}, true, 0},
		{"remove original", backend.Fault{Op: backend.Remove, Type: backend.SnapshotFile, Err: failed}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r, dir := repotest.New(t, repo.InitOptions{})
			src := filepath.Join(t.TempDir(), "src")
			repotest.WriteFiles(t, src, files)
			sn := repotest.Backup(t, r, src)
			r.Session().Close()
			indexBefore, _ := r.List(ctx, backend.IndexFile)
			fr := repotest.OpenOn(t, backend.NewFaulty(local.New(dir), tc.fault), repo.SessionOptions{Lock: repo.ExclusiveLock, Index: true})
			m, _ := snapshot.NewMatcher([]string{"secret.txt"}, false)
			if _, err := rewriter.Run(ctx, fr, []*snapshot.Snapshot{sn}, rewriter.Options{Excludes: m, Forget: true}, nil); !errors.Is(err, failed) {
				t.Fatalf("rewrite: %v, want the injected failure", err)
			}
			fr.Session().Close()
			ok := repotest.Open(t, dir)
			snaps, _ := ok.List(ctx, backend.SnapshotFile)
			if !slices.Contains(snaps, sn.ID()) || len(snaps) != 1+tc.newSnapshots {
				t.Fatalf("snapshots %v: want the original and %d new", snaps, tc.newSnapshots)
			}
			indexAfter, _ := ok.List(ctx, backend.IndexFile)
			if grew := len(indexAfter) > len(indexBefore); grew != tc.indexGrows {
				t.Fatalf("index files %d -> %d", len(indexBefore), len(indexAfter))
			}
			// Every snapshot there is can be walked whole.
			for _, id := range snaps {
				s, err := snapshot.Load(ctx, ok, id)
				if err != nil {
					t.Fatal(err)
				}
				paths(t, ok, s.Tree)
			}
		})
	}
}

// TestRunLostLock: once the lock is removed, the rewrite stops: nothing
// more is written (no pack, index or snapshot) and no original removed.
func TestRunLostLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	src := filepath.Join(t.TempDir(), "src")
	repotest.WriteFiles(t, src, files)
	sn1 := repotest.Backup(t, r, src)
	repotest.WriteFiles(t, src, map[string]string{"a/b/new.txt": "new"})
	sn2 := repotest.Backup(t, r, src)
	repotest.Exclusive(t, r)
	m, _ := snapshot.NewMatcher([]string{"secret.txt"}, false)
	var after []string
	_, err := rewriter.Run(ctx, r, []*snapshot.Snapshot{sn1, sn2}, rewriter.Options{Excludes: m, Forget: true}, func(res rewriter.Result) error {
		locks, err := r.Locks().List(ctx)
		if err != nil || len(locks) != 1 {
			t.Fatalf("locks %v %v", locks, err)
		}
		after = repoFiles(t, dir)
		return r.Locks().Remove(ctx, locks[0])
	})
	if !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("rewrite after the lock was removed: %v, want ErrLockLost", err)
	}
	if now := repoFiles(t, dir); !slices.Equal(now, after) {
		t.Fatalf("written after the lock was lost:\nbefore %v\nafter  %v", after, now)
	}
	if !slices.Contains(after, "snapshots/"+sn2.ID().String()) {
		t.Fatal("the second original is gone")
	}
}

// repoFiles lists the files of the repository in dir but its locks.
func repoFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !strings.HasPrefix(rel, "locks") {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
