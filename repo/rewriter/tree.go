package rewriter

import (
	"context"
	"fmt"
	"path"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Removed says what a rewrite cut out of a tree.
type Removed struct {
	// Paths are the removed paths inside the snapshot, depth first in
	// name order; a removed directory is named once, not its contents.
	Paths []string
	// Files and Bytes count the regular files removed (those inside
	// removed directories too) and their sizes.
	Files, Bytes int64
}

func (r *Removed) add(o Removed) {
	r.Paths = append(r.Paths, o.Paths...)
	r.Files += o.Files
	r.Bytes += o.Bytes
}

// Tree removes the paths a matcher selects from trees. It remembers each
// tree it rewrote at each path, so snapshots that share directories load
// and write them once. Not safe for concurrent use.
type Tree struct {
	r    snapshot.BlobLoader
	m    *snapshot.Matcher
	memo map[memoKey]memoEntry
}

// memoKey names one rewrite: the same tree is rewritten differently at
// another path (patterns are matched against full paths) and is stored
// once per generation; a dry run's result saved nothing.
type memoKey struct {
	id  pack.ID
	dir string
	gen pack.Generation
	dry bool
}

type memoEntry struct {
	id      pack.ID
	removed Removed
	kept    int
}

// NewTree returns a Tree that loads trees from r and removes every path
// m matches (and everything below a matching directory).
func NewTree(r snapshot.BlobLoader, m *snapshot.Matcher) *Tree {
	return &Tree{r: r, m: m, memo: map[memoKey]memoEntry{}}
}

// Rewrite returns the ID of tree id, which lies at slash path dir of a
// snapshot ("/" for its root), with the matching paths removed, and what
// was removed. Only the trees on the way to a removed path are saved
// again, through s in generation gen; a tree without matches below it
// keeps its ID. With s nil nothing is saved (a dry run): the returned ID
// is then id. kept is the number of entries left in tree id itself.
func (w *Tree) Rewrite(ctx context.Context, s snapshot.TreeSaver, id pack.ID, dir string, gen pack.Generation) (newID pack.ID, removed Removed, kept int, err error) {
	e, err := w.tree(ctx, snapshot.NewTreeLimit(), s, id, dir, gen)
	return e.id, e.removed, e.kept, err
}

func (w *Tree) tree(ctx context.Context, lim *snapshot.TreeLimit, s snapshot.TreeSaver, id pack.ID, dir string, gen pack.Generation) (memoEntry, error) {
	key := memoKey{id: id, dir: dir, gen: gen, dry: s == nil}
	if e, ok := w.memo[key]; ok {
		return e, nil
	}
	if err := ctx.Err(); err != nil {
		return memoEntry{id: id}, err
	}
	t, err := lim.Load(ctx, w.r, id)
	if err != nil {
		return memoEntry{id: id}, fmt.Errorf("rewrite %s: %w", dir, err)
	}
	var out memoEntry
	nodes := make([]*snapshot.Node, 0, len(t.Nodes))
	for _, n := range t.Nodes {
		p := path.Join(dir, n.Name)
		if w.m.Match(p) {
			rm, err := w.count(ctx, n, p)
			if err != nil {
				return memoEntry{id: id}, err
			}
			out.removed.add(rm)
			continue
		}
		// A directory no pattern can match inside is kept as it is,
		// unread.
		if n.Type == snapshot.TypeDir && n.Subtree != nil && w.m.MatchPrefix(p) {
			sub, err := w.tree(ctx, lim, s, *n.Subtree, p, gen)
			if err != nil {
				return memoEntry{id: id}, err
			}
			out.removed.add(sub.removed)
			if sub.id != *n.Subtree {
				c := *n
				c.Subtree = &sub.id
				n = &c
			}
		}
		nodes = append(nodes, n)
	}
	out.kept = len(nodes)
	out.id = id
	if len(out.removed.Paths) > 0 && s != nil {
		if out.id, err = snapshot.SaveTree(ctx, s, &snapshot.Tree{Nodes: nodes}, gen); err != nil {
			return memoEntry{id: id}, fmt.Errorf("rewrite %s: save tree: %w", dir, err)
		}
	}
	w.memo[key] = out
	return out, nil
}

// count returns what removing node n at path p removes.
func (w *Tree) count(ctx context.Context, n *snapshot.Node, p string) (Removed, error) {
	rm := Removed{Paths: []string{p}}
	switch {
	case n.Type == snapshot.TypeFile:
		rm.Files, rm.Bytes = 1, int64(n.Size)
	case n.Type == snapshot.TypeDir && n.Subtree != nil:
		err := snapshot.Walk(ctx, w.r, *n.Subtree, p, func(_ string, c *snapshot.Node) error {
			if c.Type == snapshot.TypeFile {
				rm.Files++
				rm.Bytes += int64(c.Size)
			}
			return nil
		})
		if err != nil {
			return rm, fmt.Errorf("rewrite %s: %w", p, err)
		}
	}
	return rm, nil
}
