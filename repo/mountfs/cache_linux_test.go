//go:build linux

package mountfs

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// memBlobs is an in-memory blob store: SaveTree writes to it, the tree
// cache loads from it, counting loads.
type memBlobs struct {
	blobs map[pack.ID][]byte
	loads int
}

func (m *memBlobs) Save(ctx context.Context, t pack.BlobType, data []byte, gen pack.Generation) (pack.ID, bool, int, error) {
	id := pack.ID(sha256.Sum256(data))
	m.blobs[id] = append([]byte(nil), data...)
	return id, true, len(data), nil
}

func (m *memBlobs) RequireFormat(ctx context.Context, version int) error { return nil }

func (m *memBlobs) load(ctx context.Context, h pack.BlobHandle) ([]byte, error) {
	m.loads++
	b, ok := m.blobs[h.ID]
	if !ok {
		return nil, fmt.Errorf("blob %s not found", h.ID.Short())
	}
	return b, nil
}

// TestTreeCacheSplitTree: names in a split tree are found by binary
// search over its parts, every part lists in order, and the decoded
// nodes kept stay within the budget.
func TestTreeCacheSplitTree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, n := range []int{1, 100, 120000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			store := &memBlobs{blobs: map[pack.ID][]byte{}}
			name := func(i int) string { return fmt.Sprintf("entry-%07d-with-a-name-long-enough-to-fill-parts", i) }
			tree := &snapshot.Tree{}
			for i := range n {
				tree.Nodes = append(tree.Nodes, &snapshot.Node{Name: name(i), Type: snapshot.TypeFile, Mode: 0o644})
			}
			id, err := snapshot.SaveTree(ctx, store, tree, pack.Generation{})
			if err != nil {
				t.Fatal(err)
			}
			c := newTreeCache(store.load)
			head, err := c.get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if n > 100000 && len(head.Parts) < 3 {
				t.Fatalf("%d entries: %d parts, want a split tree", n, len(head.Parts))
			}
			for i := 0; i < n; i += max(1, n/97) {
				got, err := c.find(ctx, id, name(i))
				if err != nil || got == nil || got.Name != name(i) {
					t.Fatalf("find %s: %v, %v", name(i), got, err)
				}
			}
			for _, missing := range []string{"a", "entry-0000000-", name(n/2) + "x", "zzz"} {
				if got, err := c.find(ctx, id, missing); err != nil || got != nil {
					t.Errorf("find %q: %v, %v; want nothing", missing, got, err)
				}
			}
			// One lookup in a fresh cache loads the head and the parts
			// of a binary search.
			fresh := newTreeCache(store.load)
			store.loads = 0
			if got, err := fresh.find(ctx, id, name(n-1)); err != nil || got == nil {
				t.Fatalf("find the last entry: %v, %v", got, err)
			}
			if limit := bits.Len(uint(len(head.Parts))) + 2; store.loads > limit {
				t.Errorf("one lookup among %d parts loaded %d blobs, want at most %d", len(head.Parts), store.loads, limit)
			}
			// Listing part by part sees every entry once, in order.
			seen, biggest := 0, 0
			each := func(nodes []*snapshot.Node) {
				biggest = max(biggest, len(nodes)+1)
				for _, nd := range nodes {
					if nd.Name != name(seen) {
						t.Fatalf("entry %d is %s", seen, nd.Name)
					}
					seen++
				}
			}
			if len(head.Parts) == 0 {
				each(head.Nodes)
			}
			for i := range head.Parts {
				p, err := c.part(ctx, id, i)
				if err != nil {
					t.Fatal(err)
				}
				each(p.Nodes)
			}
			if seen != n {
				t.Errorf("listed %d entries, want %d", seen, n)
			}
			if c.cache.used > treeNodeBudget+biggest+1 {
				t.Errorf("%d decoded nodes kept, budget %d", c.cache.used, treeNodeBudget)
			}
		})
	}
}
