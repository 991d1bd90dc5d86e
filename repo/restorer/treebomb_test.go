package restorer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestTreeBomb (issue 14, demonstrated 8): a crafted snapshot whose
// directories all name one subtree (8 levels of 8 entries: 16 million
// paths from 9 tree blobs) stops every walk that visits a subtree once
// per path with a clear damage error, long before the work explodes.
func TestTreeBomb(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	sub := b.tree(b.file("leaf", "x"))
	for range 8 {
		var nodes []map[string]any
		for i := range 8 {
			nodes = append(nodes, b.dir(fmt.Sprintf("d%d", i), sub))
		}
		sub = b.tree(nodes...)
	}
	sn := b.snapshot(sub)
	ctx := context.Background()
	bomb := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, snapshot.ErrTreeBomb) || !errors.Is(err, repo.ErrDamaged) {
			t.Errorf("%s of a tree bomb: %v", what, err)
		}
	}
	lines := 0
	bomb("walk", snapshot.Walk(ctx, b.r, sn.Tree, "/", func(string, *snapshot.Node) error { lines++; return nil }))
	if lines > 200_000 {
		t.Errorf("walk visited %d nodes before stopping", lines)
	}
	empty := b.tree()
	b.snapshot(empty)
	_, err := snapshot.Diff(ctx, b.r, empty, sn.Tree, func(snapshot.Change) error { return nil })
	bomb("diff", err)
	root := &snapshot.Node{Type: snapshot.TypeDir, Subtree: &sn.Tree}
	bomb("dump tar", restorer.Dump(ctx, b.r, root, "", restorer.FormatTar, io.Discard))
	bomb("dump zip", restorer.Dump(ctx, b.r, root, "", restorer.FormatZip, io.Discard))
	_, err = restorer.Restore(ctx, b.r, sn, "/", t.TempDir(), restorer.Options{})
	bomb("restore", err)

	// A real tree with 60,000 empty directories (one shared empty tree, walked past the free visits)
	// is no bomb.
	var nodes []map[string]any
	for i := range 60_000 {
		nodes = append(nodes, b.dir(fmt.Sprintf("e%06d", i), empty))
	}
	wide := b.tree(nodes...)
	b.snapshot(wide)
	if err := snapshot.Walk(ctx, b.r, wide, "/", func(string, *snapshot.Node) error { return nil }); err != nil {
		t.Fatalf("walk of 60,000 empty directories: %v", err)
	}
}
