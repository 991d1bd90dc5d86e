package archiver_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func sourceTree(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "src")
	big := bytes.Repeat([]byte("0123456789abcdef"), 300000) // 4.8 MB: one chunk or several, by the polynomial
	repotest.WriteFiles(t, src, map[string]string{
		"a.txt":         "alpha",
		"dir/b.txt":     "beta",
		"dir/sub/c.tmp": "temporary",
		"dir/big.bin":   string(big),
		"empty/":        "",
		"zero":          "",
	})
	if err := os.Symlink("dir/b.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	return src
}

func backup(t *testing.T, r *repo.Repository, o archiver.Options) *snapshot.Snapshot {
	t.Helper()
	sn, err := archiver.Run(context.Background(), r, o)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestBackupRestore(t *testing.T) {
	r, _ := repotest.New(t, repo.InitOptions{})
	src := sourceTree(t)
	excl, _ := snapshot.NewMatcher([]string{"*.tmp"}, false)
	sn := backup(t, r, archiver.Options{Paths: []string{src}, Excludes: excl, Tags: []string{"t1"}})
	s := sn.Summary
	if s.FilesNew != 4 || s.Errors != 0 || s.BytesRead == 0 {
		t.Fatalf("summary %+v", s)
	}
	target := t.TempDir()
	if _, err := restorer.Restore(context.Background(), r, sn, "/", target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(target, src)
	for _, f := range []string{"a.txt", "dir/b.txt", "dir/big.bin", "zero"} {
		want, _ := os.ReadFile(filepath.Join(src, f))
		have, err := os.ReadFile(filepath.Join(got, f))
		if err != nil || !bytes.Equal(want, have) {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(got, "dir/sub/c.tmp")); err == nil {
		t.Error("excluded file restored")
	}
	if l, _ := os.Readlink(filepath.Join(got, "link")); l != "dir/b.txt" {
		t.Errorf("link target %q", l)
	}

	// Unchanged: nothing read, same tree.
	sn2 := backup(t, r, archiver.Options{Paths: []string{src}, Excludes: excl, Parent: sn, Generation: sn.Generation})
	n1, _, _ := snapshot.FindNode(context.Background(), r, sn.Tree, src)
	n2, _, _ := snapshot.FindNode(context.Background(), r, sn2.Tree, src)
	if sn2.Summary.BytesRead != 0 || sn2.Summary.FilesUnmodified != 4 || *n1.Subtree != *n2.Subtree {
		t.Fatalf("unchanged backup: %+v, tree equal %v", sn2.Summary, *n1.Subtree == *n2.Subtree)
	}
	if sn2.Summary.BytesAdded > 4096 {
		t.Fatalf("unchanged backup added %d bytes", sn2.Summary.BytesAdded)
	}
	// A changed file is read again; --ignore-inode etc. are honoured.
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha2"), 0o644)
	sn3 := backup(t, r, archiver.Options{Paths: []string{src}, Excludes: excl, Parent: sn2})
	if sn3.Summary.FilesChanged != 1 || sn3.Summary.FilesUnmodified != 3 {
		t.Fatalf("one change: %+v", sn3.Summary)
	}
}

// TestNewGenerationStoresAgain: a backup into a new generation shares
// nothing with older packs, even with a parent.
func TestNewGenerationStoresAgain(t *testing.T) {
	r, _ := repotest.New(t, repo.InitOptions{})
	src := sourceTree(t)
	sn := backup(t, r, archiver.Options{Paths: []string{src}})
	gen, _ := repo.NewGeneration()
	sn2 := backup(t, r, archiver.Options{Paths: []string{src}, Parent: sn, Generation: gen})
	// Everything is stored again (trees may differ by a few bytes of atime).
	if sn2.Summary.BytesAdded < sn.Summary.BytesAdded*99/100 {
		t.Fatalf("new generation added %d bytes, first backup %d", sn2.Summary.BytesAdded, sn.Summary.BytesAdded)
	}
	if sn2.Summary.FilesUnmodified != 0 {
		t.Fatalf("new generation reused content of another: %+v", sn2.Summary)
	}
}

func TestUnreadableFileReported(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	r, _ := repotest.New(t, repo.InitOptions{})
	src := sourceTree(t)
	secret := filepath.Join(src, "secret")
	os.WriteFile(secret, []byte("x"), 0)
	var mu sync.Mutex
	var reported []string
	sn := backup(t, r, archiver.Options{Paths: []string{src}, OnError: func(p string, err error) {
		mu.Lock()
		reported = append(reported, p)
		mu.Unlock()
	}})
	if sn.Summary.Errors != 1 || len(reported) != 1 || reported[0] != secret {
		t.Fatalf("errors %d, reported %v", sn.Summary.Errors, reported)
	}
}

func TestHostileTreeRefused(t *testing.T) {
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	s := r.NewSaver()
	content, _, _, _ := s.Save(ctx, pack.DataBlob, []byte("evil"), pack.Generation{})
	evil := `{"nodes":[{"name":"..","type":"file","mode":420,"size":4,"content":["` + content.String() + `"]}]}`
	treeID, _, _, err := s.Save(ctx, pack.TreeBlob, []byte(evil), pack.Generation{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sn := &snapshot.Snapshot{Tree: treeID, Kind: snapshot.Incremental, Paths: []string{"/x"}}
	if err := snapshot.Save(ctx, r, sn); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	target := filepath.Join(base, "target")
	var reported []string
	_, err = restorer.Restore(ctx, r, sn, "/", target, restorer.Options{OnError: func(p string, err error) {
		reported = append(reported, err.Error())
	}})
	if err == nil {
		t.Fatal("hostile tree restored without error")
	}
	if len(reported) != 1 || !strings.Contains(reported[0], "tree "+treeID.Short()) || !strings.Contains(reported[0], `".."`) {
		t.Errorf("error does not name the tree and the name: %v", reported)
	}
	ents, _ := os.ReadDir(base)
	if len(ents) != 1 {
		t.Fatalf("restore wrote outside its target: %v", ents)
	}
}

// TestLostLockWritesNoSnapshot: when the lock can't be kept (ErrLockLost
// from the check before the snapshot), the backup stops and writes no
// snapshot, so a prune elsewhere can't have removed data it references.
func TestLostLockWritesNoSnapshot(t *testing.T) {
	ctx := context.Background()
	_, dir := repotest.New(t, repo.InitOptions{})
	clock := &repotest.Clock{T: time.Now()}
	r := repotest.OpenWith(t, dir, repo.Options{Now: clock.Now})
	lk := r.Session()
	src := sourceTree(t)
	_, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}, BeforeSnapshot: func(ctx context.Context) error {
		clock.Advance(45 * time.Minute) // the machine slept through the refreshes
		return lk.Check(ctx)
	}})
	if !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("backup with a lost lock: %v, want ErrLockLost", err)
	}
	sns, _ := snapshot.LoadAll(ctx, r)
	if len(sns) != 0 {
		t.Fatalf("%d snapshots written with a lost lock", len(sns))
	}
}

// TestUnchangedDirectoryKeepsParentTree: a directory whose nodes are the
// same as in the parent snapshot keeps the parent's tree, without
// encoding it again (issue 17). The parent's trees here are encoded
// differently from what SaveTree writes (as an older cairn might have),
// so a tree that was encoded again would get another ID. A changed
// directory and the directories above it get new trees; a backup into
// another generation stores its trees there.
func TestUnchangedDirectoryKeepsParentTree(t *testing.T) {
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{})
	src := sourceTree(t)
	sn1 := backup(t, r, archiver.Options{Paths: []string{src}})

	// Rewrite every tree of sn1 with a leading space: the same nodes, other
	// bytes, another ID.
	r.StartWriting()
	s := r.NewSaver()
	var rewrite func(id pack.ID) pack.ID
	rewrite = func(id pack.ID) pack.ID {
		tr, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			if n.Subtree != nil {
				sub := rewrite(*n.Subtree)
				n.Subtree = &sub
			}
		}
		b, err := tr.Encode()
		if err != nil {
			t.Fatal(err)
		}
		nid, _, _, err := s.Save(ctx, pack.TreeBlob, append([]byte(" "), b...), sn1.Generation)
		if err != nil {
			t.Fatal(err)
		}
		return nid
	}
	root := rewrite(sn1.Tree)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	parent := *sn1
	parent.Tree = root
	if err := snapshot.Save(ctx, r, &parent); err != nil {
		t.Fatal(err)
	}
	subtree := func(sn *snapshot.Snapshot, p string) pack.ID {
		t.Helper()
		n, _, err := snapshot.FindNode(ctx, r, sn.Tree, p)
		if err != nil || n.Subtree == nil {
			t.Fatalf("%s in %s: %v", p, sn.ID().Short(), err)
		}
		return *n.Subtree
	}

	// (The directories above src are not compared: creating temporary
	// files in the system's temporary directory changes its mtime.)
	sn2 := backup(t, r, archiver.Options{Paths: []string{src}, Parent: &parent, Generation: parent.Generation})
	for _, p := range []string{src, src + "/dir", src + "/dir/sub"} {
		got, want, canonical := subtree(sn2, p), subtree(&parent, p), subtree(sn1, p)
		if got != want || want == canonical {
			t.Fatalf("unchanged %s: tree %s, want the parent's %s (canonical %s)", p, got.Short(), want.Short(), canonical.Short())
		}
	}
	if sn2.Summary.FilesUnmodified != 5 || sn2.Summary.BytesRead != 0 {
		t.Fatalf("unchanged backup: %+v", sn2.Summary)
	}

	// One changed file: its directory and those above get new trees, the
	// sibling directory keeps the parent's.
	if err := os.WriteFile(filepath.Join(src, "dir/b.txt"), []byte("beta, changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	sn3 := backup(t, r, archiver.Options{Paths: []string{src}, Parent: sn2, Generation: parent.Generation})
	if subtree(sn3, src) == subtree(&parent, src) || subtree(sn3, src+"/dir") == subtree(&parent, src+"/dir") {
		t.Fatal("a changed directory kept the parent's tree")
	}
	if got, want := subtree(sn3, src+"/dir/sub"), subtree(&parent, src+"/dir/sub"); got != want {
		t.Fatalf("unchanged sibling: tree %s, want the parent's %s", got.Short(), want.Short())
	}
	target := t.TempDir()
	if _, err := restorer.Restore(ctx, r, sn3, "/", target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, src, "dir/b.txt")); err != nil || string(b) != "beta, changed" {
		t.Fatalf("restored dir/b.txt: %q, %v", b, err)
	}

	// Another generation doesn't share the parent's trees: they are stored
	// in it.
	gen, _ := repo.NewGeneration()
	sn4 := backup(t, r, archiver.Options{Paths: []string{src}, Parent: sn3, Generation: gen})
	for _, id := range []pack.ID{sn4.Tree, subtree(sn4, src), subtree(sn4, src+"/dir/sub")} {
		if !r.Index().Has(pack.BlobHandle{ID: id, Type: pack.TreeBlob}, gen) {
			t.Fatalf("tree %s of a backup into a new generation is not stored in it", id.Short())
		}
	}
}
