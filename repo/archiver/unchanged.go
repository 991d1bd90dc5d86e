package archiver

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// unchanged reports whether a backup of targets whose root tree is root
// found nothing changed since parent: the same paths, and the same root
// tree or else the same node (metadata and content) at each target.
// The directories above the targets are recorded but not backed up: that
// /tmp or /home got a new mtime because something else changed in them
// is no change of the backup. A tree that can't be loaded counts as
// changed, so a snapshot is written.
func unchanged(ctx context.Context, r snapshot.BlobLoader, parent *snapshot.Snapshot, root pack.ID, targets []string) bool {
	if parent == nil || !samePaths(parent.Paths, targets) {
		return false
	}
	if parent.Tree == root {
		return true
	}
	for _, t := range targets {
		a, err := nodeAt(ctx, r, parent.Tree, t)
		if err != nil || a == nil {
			return false
		}
		b, err := nodeAt(ctx, r, root, t)
		if err != nil || b == nil {
			return false
		}
		ja, erra := json.Marshal(a)
		jb, errb := json.Marshal(b)
		if erra != nil || errb != nil || !bytes.Equal(ja, jb) {
			return false
		}
	}
	return true
}

// nodeAt returns the node at the absolute path p of the tree root (nil:
// none; the root itself has no node).
func nodeAt(ctx context.Context, r snapshot.BlobLoader, root pack.ID, p string) (*snapshot.Node, error) {
	p = strings.Trim(filepath.ToSlash(p), "/")
	if p == "" {
		return nil, nil
	}
	id := root
	var n *snapshot.Node
	for _, name := range strings.Split(p, "/") {
		if n != nil {
			if n.Type != snapshot.TypeDir || n.Subtree == nil {
				return nil, nil
			}
			id = *n.Subtree
		}
		t, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			return nil, err
		}
		if n = t.Find(name); n == nil {
			return nil, nil
		}
	}
	return n, nil
}
