package job

import (
	"context"
	"fmt"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// CatNeedsIndex reports whether Cat of what reads blobs (and so needs a
// session with the index loaded).
func CatNeedsIndex(what string) bool { return what == "tree" || what == "blob" }

// Cat returns a decrypted repository object: for "config", "index",
// "snapshot" and "tree" a value to print as JSON, for "key" and "blob"
// the raw bytes (v nil). ref is an ID or prefix (a tree may also be
// SNAPSHOT:PATH); the config needs none.
func Cat(ctx context.Context, r *repo.Repository, what, ref string) (v any, raw []byte, err error) {
	switch what {
	case "config":
		return r.Config(), nil, nil
	case "index":
		id, err := r.FindID(ctx, backend.IndexFile, ref)
		if err != nil {
			return nil, nil, err
		}
		f, err := r.IndexFiles().Load(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		return f, nil, nil
	case "snapshot":
		sn, err := snapshot.Find(ctx, r, ref, snapshot.Filter{})
		if err != nil {
			return nil, nil, err
		}
		return sn, nil, nil
	case "key":
		id, err := r.FindID(ctx, backend.KeyFile, ref)
		if err != nil {
			return nil, nil, err
		}
		b, err := r.LoadFile(ctx, backend.Handle{Type: backend.KeyFile, Name: id.String()})
		return nil, b, err
	case "tree":
		id, err := treeOf(ctx, r, ref)
		if err != nil {
			return nil, nil, err
		}
		t, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			return nil, nil, err
		}
		return t, nil, nil
	case "blob":
		id, err := pack.ParseID(ref)
		if err != nil {
			return nil, nil, err
		}
		b, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
		return nil, b, err
	}
	return nil, nil, fmt.Errorf("cat: unknown object type %q: want config, index, snapshot, tree, blob or key", what)
}

// treeOf is the tree ID ref names: a tree ID, or SNAPSHOT[:PATH] of a
// directory.
func treeOf(ctx context.Context, r *repo.Repository, ref string) (pack.ID, error) {
	if id, err := pack.ParseID(ref); err == nil {
		return id, nil
	}
	snap, p := snapshot.SplitRef(ref)
	sn, err := snapshot.Find(ctx, r, snap, snapshot.Filter{})
	if err != nil {
		return pack.ID{}, err
	}
	node, _, err := snapshot.FindNode(ctx, r, sn.Tree, p)
	if err != nil {
		return pack.ID{}, err
	}
	if node.Subtree == nil {
		return pack.ID{}, fmt.Errorf("cat tree %s: not a directory", ref)
	}
	return *node.Subtree, nil
}
