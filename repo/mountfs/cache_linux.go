//go:build linux

package mountfs

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// loadFunc loads one blob.
type loadFunc func(ctx context.Context, h pack.BlobHandle) ([]byte, error)

// lru keeps values by blob ID up to a budget of their weights; the one
// added last is always kept.
type lru[V any] struct {
	mu     sync.Mutex
	budget int
	used   int
	order  *list.List
	items  map[pack.ID]*list.Element
}

type lruItem[V any] struct {
	id     pack.ID
	v      V
	weight int
}

func newLRU[V any](budget int) *lru[V] {
	return &lru[V]{budget: budget, order: list.New(), items: map[pack.ID]*list.Element{}}
}

func (c *lru[V]) get(id pack.ID) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruItem[V]).v, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) add(id pack.ID, v V, weight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[id]; ok {
		return
	}
	c.items[id] = c.order.PushFront(&lruItem[V]{id: id, v: v, weight: weight})
	c.used += weight
	for c.used > c.budget && c.order.Len() > 1 {
		el := c.order.Back()
		it := el.Value.(*lruItem[V])
		c.order.Remove(el)
		delete(c.items, it.id)
		c.used -= it.weight
	}
}

// blobCache keeps recently read data blobs, so the kernel's reads of a
// few pages each don't load a blob again and again.
type blobCache struct {
	load  loadFunc
	cache *lru[[]byte]
}

func newBlobCache(budget int, load loadFunc) *blobCache {
	return &blobCache{load: load, cache: newLRU[[]byte](budget)}
}

func (c *blobCache) get(ctx context.Context, id pack.ID) ([]byte, error) {
	if b, ok := c.cache.get(id); ok {
		return b, nil
	}
	b, err := c.load(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob})
	if err != nil {
		return nil, err
	}
	c.cache.add(id, b, len(b))
	return b, nil
}

// treeNodeBudget bounds the decoded tree nodes kept (a few split-tree
// parts' worth).
const treeNodeBudget = 100_000

// treeCache loads tree blobs and keeps the recently used ones decoded,
// within a budget of nodes. A split tree is searched part by part: the
// first name of each part loaded is remembered, so a lookup loads the
// parts of a binary search, then one.
type treeCache struct {
	load  loadFunc
	cache *lru[*snapshot.Tree]

	mu     sync.Mutex
	firsts map[pack.ID][]string // head ID → first name of each part ("": not known yet)
}

func newTreeCache(load loadFunc) *treeCache {
	return &treeCache{load: load, cache: newLRU[*snapshot.Tree](treeNodeBudget), firsts: map[pack.ID][]string{}}
}

// get returns tree blob id decoded: a plain tree, or a split tree's head
// (its Parts, no nodes).
func (c *treeCache) get(ctx context.Context, id pack.ID) (*snapshot.Tree, error) {
	if t, ok := c.cache.get(id); ok {
		return t, nil
	}
	b, err := c.load(ctx, pack.BlobHandle{ID: id, Type: pack.TreeBlob})
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	t, err := snapshot.DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w: %w", id.Short(), repo.ErrDamaged, err)
	}
	c.cache.add(id, t, len(t.Nodes)+1)
	return t, nil
}

// part returns part i of split tree head.
func (c *treeCache) part(ctx context.Context, head pack.ID, i int) (*snapshot.Tree, error) {
	h, err := c.get(ctx, head)
	if err != nil {
		return nil, err
	}
	if i >= len(h.Parts) {
		return nil, fmt.Errorf("tree %s: %w: no part %d", head.Short(), repo.ErrDamaged, i)
	}
	t, err := c.get(ctx, h.Parts[i])
	if err != nil {
		return nil, fmt.Errorf("tree %s: part %s: %w", head.Short(), h.Parts[i].Short(), err)
	}
	if len(t.Parts) > 0 || len(t.Nodes) == 0 {
		return nil, fmt.Errorf("tree %s: part %s: %w: %w: a part must hold nodes only", head.Short(), h.Parts[i].Short(), repo.ErrDamaged, snapshot.ErrInvalidTree)
	}
	c.mu.Lock()
	f := c.firsts[head]
	if f == nil {
		f = make([]string, len(h.Parts))
		c.firsts[head] = f
	}
	f[i] = t.Nodes[0].Name
	c.mu.Unlock()
	return t, nil
}

// first returns the first name of part i of head.
func (c *treeCache) first(ctx context.Context, head pack.ID, i int) (string, error) {
	c.mu.Lock()
	if f := c.firsts[head]; f != nil && f[i] != "" {
		c.mu.Unlock()
		return f[i], nil
	}
	c.mu.Unlock()
	t, err := c.part(ctx, head, i)
	if err != nil {
		return "", err
	}
	return t.Nodes[0].Name, nil
}

// find returns the node called name in tree id, or nil.
func (c *treeCache) find(ctx context.Context, id pack.ID, name string) (*snapshot.Node, error) {
	t, err := c.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(t.Parts) == 0 {
		return t.Find(name), nil
	}
	// The last part whose first name is at most name.
	lo, hi := 0, len(t.Parts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		f, err := c.first(ctx, id, mid)
		if err != nil {
			return nil, err
		}
		if strings.Compare(f, name) <= 0 {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	p, err := c.part(ctx, id, lo)
	if err != nil {
		return nil, err
	}
	return p.Find(name), nil
}
