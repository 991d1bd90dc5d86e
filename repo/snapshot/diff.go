package snapshot

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/pack"
)

// ChangeKind says how a path differs between two snapshots.
type ChangeKind string

// Change kinds, as restic prints them.
const (
	Added    ChangeKind = "+"
	Removed  ChangeKind = "-"
	Modified ChangeKind = "M" // content changed
	Metadata ChangeKind = "U" // only metadata changed
	TypeChg  ChangeKind = "T" // the type changed
)

// Change is one differing path.
type Change struct {
	Path string     `json:"path"`
	Kind ChangeKind `json:"modifier"`
	Type NodeType   `json:"type"`
}

// DiffStats totals a diff.
type DiffStats struct {
	Added        int   `json:"added"`
	Removed      int   `json:"removed"`
	Modified     int   `json:"modified"`
	MetadataOnly int   `json:"metadata_only"`
	TypeChanged  int   `json:"type_changed"`
	AddedBytes   int64 `json:"added_bytes"`
	RemovedBytes int64 `json:"removed_bytes"`
}

// Diff walks trees a and b side by side and calls fn for each path that
// differs, in path order. Subtrees with equal IDs are skipped unread.
func Diff(ctx context.Context, r BlobLoader, a, b pack.ID, fn func(Change) error) (DiffStats, error) {
	d := &differ{r: r, fn: fn, lim: NewTreeLimit()}
	err := d.trees(ctx, &a, &b, "/")
	return d.st, err
}

type differ struct {
	r   BlobLoader
	fn  func(Change) error
	st  DiffStats
	lim *TreeLimit
}

func (d *differ) load(ctx context.Context, id *pack.ID) (*Tree, error) {
	if id == nil {
		return &Tree{}, nil
	}
	return d.lim.Load(ctx, d.r, *id)
}

func (d *differ) trees(ctx context.Context, a, b *pack.ID, dir string) error {
	if a != nil && b != nil && *a == *b {
		return nil
	}
	ta, err := d.load(ctx, a)
	if err != nil {
		return err
	}
	tb, err := d.load(ctx, b)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, n := range ta.Nodes {
		names[n.Name] = true
	}
	for _, n := range tb.Nodes {
		names[n.Name] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.SortFunc(sorted, strings.Compare)
	for _, name := range sorted {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.node(ctx, ta.Find(name), tb.Find(name), path.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func (d *differ) emit(p string, k ChangeKind, t NodeType) error {
	switch k {
	case Added:
		d.st.Added++
	case Removed:
		d.st.Removed++
	case Modified:
		d.st.Modified++
	case Metadata:
		d.st.MetadataOnly++
	case TypeChg:
		d.st.TypeChanged++
	}
	if t == TypeDir {
		p += "/"
	}
	return d.fn(Change{Path: p, Kind: k, Type: t})
}

func (d *differ) node(ctx context.Context, na, nb *Node, p string) error {
	switch {
	case na == nil:
		d.st.AddedBytes += int64(nb.Size)
		if err := d.emit(p, Added, nb.Type); err != nil {
			return err
		}
		if nb.Type == TypeDir {
			return d.trees(ctx, nil, nb.Subtree, p)
		}
		return nil
	case nb == nil:
		d.st.RemovedBytes += int64(na.Size)
		if err := d.emit(p, Removed, na.Type); err != nil {
			return err
		}
		if na.Type == TypeDir {
			return d.trees(ctx, na.Subtree, nil, p)
		}
		return nil
	case na.Type != nb.Type:
		d.st.RemovedBytes += int64(na.Size)
		d.st.AddedBytes += int64(nb.Size)
		if err := d.emit(p, TypeChg, nb.Type); err != nil {
			return err
		}
		var sa, sb *pack.ID
		if na.Type == TypeDir {
			sa = na.Subtree
		}
		if nb.Type == TypeDir {
			sb = nb.Subtree
		}
		if sa != nil || sb != nil {
			return d.trees(ctx, sa, sb, p)
		}
		return nil
	case na.Type == TypeDir:
		if !sameMeta(na, nb) {
			if err := d.emit(p, Metadata, TypeDir); err != nil {
				return err
			}
		}
		return d.trees(ctx, na.Subtree, nb.Subtree, p)
	case !slices.Equal(na.Content, nb.Content) || na.LinkTarget != nb.LinkTarget || na.Rdev != nb.Rdev:
		d.st.RemovedBytes += int64(na.Size)
		d.st.AddedBytes += int64(nb.Size)
		return d.emit(p, Modified, nb.Type)
	case !sameMeta(na, nb):
		return d.emit(p, Metadata, nb.Type)
	}
	return nil
}

// sameMeta compares what a restore sets, ignoring atime and inode-level
// details that change without the user changing anything.
func sameMeta(a, b *Node) bool {
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.ModTime.Equal(b.ModTime) &&
		slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y Xattr) bool { return x.Name == y.Name && string(x.Value) == string(y.Value) })
}

// Walk calls fn for every node below tree id, depth first in name order,
// with its slash path below dir. Returning ErrSkipDir from fn for a
// directory skips its contents.
func Walk(ctx context.Context, r BlobLoader, id pack.ID, dir string, fn func(p string, n *Node) error) error {
	return walk(ctx, r, NewTreeLimit(), id, dir, fn)
}

func walk(ctx context.Context, r BlobLoader, lim *TreeLimit, id pack.ID, dir string, fn func(p string, n *Node) error) error {
	t, err := lim.Load(ctx, r, id)
	if err != nil {
		return err
	}
	for _, n := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := path.Join(dir, n.Name)
		err := fn(p, n)
		if err == ErrSkipDir {
			continue
		}
		if err != nil {
			return err
		}
		if n.Type == TypeDir {
			if err := walk(ctx, r, lim, *n.Subtree, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrSkipDir tells Walk not to descend into a directory.
var ErrSkipDir = errSkipDir{}

type errSkipDir struct{}

func (errSkipDir) Error() string { return "skip this directory" }
