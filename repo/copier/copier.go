// Package copier copies snapshots, with every tree and data blob they
// need, from one repository to another (`cairn copy`, mirrors).
//
// Blob IDs are keyed hashes, so the same plaintext has a different ID in
// each repository: a copy re-encrypts each blob for the destination and
// rewrites the trees with the destination's IDs. To avoid reading what the
// destination already has, each snapshot is copied next to a reference:
// an earlier snapshot of the same host and paths that was copied before.
// Where a source tree equals the reference's, the reference's copy is
// reused whole; where a file's blobs appear in the reference file, their
// destination IDs are taken from the reference's copy. Only the rest is
// read, decrypted, re-encrypted and stored, pack by pack.
//
// A copied snapshot records the source snapshot's original ID, so a
// snapshot already copied is skipped. It keeps the source's generation
// ID: a copied full snapshot starts its own generation in the
// destination, and the copies of its incrementals share it.
package copier

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Options tune a copy.
type Options struct {
	// OnCopied is called after each snapshot is written to the
	// destination.
	OnCopied func(Copied)
	// Workers is the number of source packs read at once (default 4).
	Workers int
	// BeforeSnapshot runs right before each snapshot is written; an error
	// (e.g. a lost lock) stops the copy without writing it.
	BeforeSnapshot func() error
}

// Copied describes one copied snapshot.
type Copied struct {
	Source      pack.ID       `json:"source"`
	Destination pack.ID       `json:"destination"`
	Time        time.Time     `json:"time"`
	Blobs       int           `json:"blobs_copied"`
	Bytes       int64         `json:"bytes_copied"`
	Reused      int           `json:"blobs_reused"`
	Duration    time.Duration `json:"duration_ns"`
}

// Result is what Copy did.
type Result struct {
	Copied  []Copied `json:"copied"`
	Skipped int      `json:"skipped"`
}

// OriginalID returns the ID that identifies sn across copies and rewrites:
// the snapshot it was made from, or its own.
func OriginalID(sn *snapshot.Snapshot) pack.ID {
	if sn.Original != nil {
		return *sn.Original
	}
	return sn.ID()
}

// Missing returns the snapshots of src (from all, the source's snapshots)
// that have no copy among dst, in time order.
func Missing(src, dst []*snapshot.Snapshot) []*snapshot.Snapshot {
	have := map[pack.ID]bool{}
	for _, sn := range dst {
		have[OriginalID(sn)] = true
	}
	var out []*snapshot.Snapshot
	for _, sn := range src {
		if !have[OriginalID(sn)] {
			out = append(out, sn)
		}
	}
	slices.SortStableFunc(out, func(a, b *snapshot.Snapshot) int { return a.Time.Compare(b.Time) })
	return out
}

// Copy copies the snapshots sns of src to dst, skipping those dst has.
// all are every snapshot of src (references are picked among them). Both
// repositories have their index loaded; the caller holds a lock on each.
// Each snapshot is written only after its packs and index, so an
// interrupted copy leaves dst consistent and the next run goes on.
func Copy(ctx context.Context, src Source, dst Destination, sns, all []*snapshot.Snapshot, o Options) (*Result, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	dsts, err := snapshot.LoadAll(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	copies := map[pack.ID]*snapshot.Snapshot{}
	for _, d := range dsts {
		copies[OriginalID(d)] = d
	}
	todo := Missing(sns, dsts)
	res := &Result{Copied: []Copied{}, Skipped: len(sns) - len(todo)}
	for _, sn := range todo {
		c, err := copyOne(ctx, src, dst, sn, reference(sn, all, copies), copies, o)
		if err != nil {
			return res, fmt.Errorf("copy snapshot %s: %w", sn.ID().Short(), err)
		}
		res.Copied = append(res.Copied, c)
		if o.OnCopied != nil {
			o.OnCopied(c)
		}
	}
	return res, nil
}

type pair struct{ src, dst *snapshot.Snapshot }

// repaired says whether sn was rewritten by `repair snapshots`: its trees
// no longer match the source's, so nothing of it may be reused.
func repaired(sn *snapshot.Snapshot) bool {
	return sn.Summary != nil && len(sn.Summary.Repaired) > 0 || slices.Contains(sn.Tags, "repaired")
}

// reference picks the copied snapshot to copy sn next to: its parent if
// that was copied, else the latest earlier copied snapshot of the same
// host and paths.
func reference(sn *snapshot.Snapshot, all []*snapshot.Snapshot, copies map[pack.ID]*snapshot.Snapshot) *pair {
	var best *snapshot.Snapshot
	for _, s := range all {
		if copies[OriginalID(s)] == nil || s.ID() == sn.ID() || repaired(copies[OriginalID(s)]) {
			continue
		}
		if sn.Parent != nil && s.ID() == *sn.Parent {
			best = s
			break
		}
		if s.Hostname != sn.Hostname || !slices.Equal(s.Paths, sn.Paths) || s.Time.After(sn.Time) {
			continue
		}
		if best == nil || s.Time.After(best.Time) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return &pair{src: best, dst: copies[OriginalID(best)]}
}

type copier struct {
	src   Source
	dst   Destination
	gen   pack.Generation
	saver *repo.Saver
	// blobs maps source data blob IDs to destination IDs; a zero value
	// means "to be copied".
	blobs map[pack.ID]pack.ID
	// trees maps source tree IDs to destination trees known to exist.
	trees   map[pack.ID]pack.ID
	visited map[pack.ID]bool
	// whole caches, per destination tree, whether every blob below it is
	// in the destination (in packs that exist: the session dropped the
	// entries of missing packs).
	whole  map[pack.ID]bool
	reused int
}

func copyOne(ctx context.Context, src Source, dst Destination, sn *snapshot.Snapshot, ref *pair, copies map[pack.ID]*snapshot.Snapshot, o Options) (Copied, error) {
	start := time.Now()
	c := &copier{src: src, dst: dst, gen: sn.Generation, saver: dst.NewSaver(),
		blobs: map[pack.ID]pack.ID{}, trees: map[pack.ID]pack.ID{}, visited: map[pack.ID]bool{}, whole: map[pack.ID]bool{}}
	var rs, rd *pack.ID
	if ref != nil {
		rs, rd = &ref.src.Tree, &ref.dst.Tree
	}
	if err := c.plan(ctx, sn.Tree, rs, rd); err != nil {
		return Copied{}, err
	}
	// One upload session per snapshot: its packs and index are stored
	// before the snapshot that needs them is written.
	var n int
	var bytes int64
	var root pack.ID
	err := dst.WithUploader(ctx, func(ctx context.Context) error {
		var err error
		if n, bytes, err = c.copyBlobs(ctx, o.Workers); err != nil {
			return err
		}
		root, err = c.rewrite(ctx, sn.Tree)
		return err
	})
	if err != nil {
		return Copied{}, err
	}
	ns := *sn
	ns.Tree = root
	orig := OriginalID(sn)
	ns.Original = &orig
	ns.Parent = nil
	if sn.Parent != nil {
		for _, d := range copies {
			if d.Original != nil && *d.Original == *sn.Parent {
				id := d.ID()
				ns.Parent = &id
				break
			}
		}
	}
	if o.BeforeSnapshot != nil {
		if err := o.BeforeSnapshot(); err != nil {
			return Copied{}, err
		}
	}
	if err := snapshot.Save(ctx, dst, &ns); err != nil {
		return Copied{}, err
	}
	copies[orig] = &ns
	return Copied{Source: sn.ID(), Destination: ns.ID(), Time: sn.Time, Blobs: n, Bytes: bytes,
		Reused: c.reused, Duration: time.Since(start)}, nil
}

func (c *copier) dstHas(id pack.ID, t pack.BlobType) bool {
	return c.dst.Index().Has(pack.BlobHandle{ID: id, Type: t}, c.gen)
}

// plan walks the source trees next to the reference's and decides, for
// every data blob, whether its destination ID is known.
func (c *copier) plan(ctx context.Context, id pack.ID, refSrc, refDst *pack.ID) error {
	if refSrc != nil && refDst != nil && *refSrc == id {
		ok, err := c.complete(ctx, *refDst)
		if err != nil {
			return err
		}
		if ok {
			c.trees[id] = *refDst
			return nil
		}
	}
	if c.visited[id] {
		return nil
	}
	c.visited[id] = true
	t, err := snapshot.LoadTree(ctx, c.src, id)
	if err != nil {
		return err
	}
	var rst, rdt *snapshot.Tree
	if refSrc != nil && refDst != nil {
		// A reference tree that can't be read only costs reuse.
		rst, _ = snapshot.LoadTree(ctx, c.src, *refSrc)
		rdt, _ = snapshot.LoadTree(ctx, c.dst, *refDst)
	}
	for _, n := range t.Nodes {
		var rn, rdn *snapshot.Node
		if rst != nil && rdt != nil {
			rn, rdn = rst.Find(n.Name), rdt.Find(n.Name)
			if rn == nil || rdn == nil || rn.Type != n.Type || rdn.Type != n.Type {
				rn, rdn = nil, nil
			}
		}
		switch n.Type {
		case snapshot.TypeDir:
			var s, d *pack.ID
			if rn != nil {
				s, d = rn.Subtree, rdn.Subtree
			}
			if err := c.plan(ctx, *n.Subtree, s, d); err != nil {
				return err
			}
		case snapshot.TypeFile:
			var known map[pack.ID]pack.ID
			if rn != nil && len(rn.Content) == len(rdn.Content) {
				known = make(map[pack.ID]pack.ID, len(rn.Content))
				for i, b := range rn.Content {
					known[b] = rdn.Content[i]
				}
			}
			for _, b := range n.Content {
				if d, ok := c.blobs[b]; ok && d != (pack.ID{}) {
					continue
				}
				if d, ok := known[b]; ok && c.dstHas(d, pack.DataBlob) {
					c.blobs[b] = d
					c.reused++
					continue
				}
				c.blobs[b] = pack.ID{}
			}
		}
	}
	return nil
}

// complete reports whether destination tree id and every tree and data
// blob below it are in the destination, so the tree can be reused whole.
func (c *copier) complete(ctx context.Context, id pack.ID) (bool, error) {
	if ok, done := c.whole[id]; done {
		return ok, nil
	}
	ok, err := c.completeWalk(ctx, id)
	if err != nil {
		return false, err
	}
	c.whole[id] = ok
	return ok, nil
}

func (c *copier) completeWalk(ctx context.Context, id pack.ID) (bool, error) {
	if !c.dstHas(id, pack.TreeBlob) {
		return false, nil
	}
	t, err := snapshot.LoadTree(ctx, c.dst, id)
	if err != nil {
		if ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		// A destination tree that can't be read is only not reused.
		return false, nil
	}
	for _, n := range t.Nodes {
		switch n.Type {
		case snapshot.TypeDir:
			ok, err := c.complete(ctx, *n.Subtree)
			if err != nil || !ok {
				return false, err
			}
		case snapshot.TypeFile:
			for _, b := range n.Content {
				if !c.dstHas(b, pack.DataBlob) {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// copyBlobs reads the data blobs still to copy, pack by pack, and stores
// them in the destination.
func (c *copier) copyBlobs(ctx context.Context, workers int) (int, int64, error) {
	byPack := map[pack.ID][]index.Location{}
	for id, d := range c.blobs {
		if d != (pack.ID{}) {
			continue
		}
		locs := c.src.Index().LookupAny(pack.BlobHandle{ID: id, Type: pack.DataBlob})
		if len(locs) == 0 {
			return 0, 0, fmt.Errorf("data blob %s: %w: not in the source index", id.Short(), repo.ErrDamaged)
		}
		byPack[locs[0].Pack] = append(byPack[locs[0].Pack], locs[0])
	}
	var mu sync.Mutex
	n, bytes := 0, int64(0)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for packID, locs := range byPack {
		g.Go(func() error {
			s := c.dst.NewSaver()
			entries := make([]pack.Entry, len(locs))
			for i, l := range locs {
				entries[i] = l.Entry
			}
			store := func(e pack.Entry, plain []byte) error {
				// ctx, not gctx: the pack may be uploaded in the
				// background after the group is done (and gctx canceled).
				d, _, _, err := s.Save(ctx, pack.DataBlob, plain, c.gen)
				if err != nil {
					return err
				}
				mu.Lock()
				c.blobs[e.ID] = d
				n++
				bytes += int64(len(plain))
				mu.Unlock()
				return nil
			}
			var lost error
			err := c.src.ReadBlobs(gctx, packID, entries, store, func(e pack.Entry, err error) {
				// Neither the pack nor its parity: another copy of the
				// blob, if the index knows one.
				b, lerr := c.src.LoadBlob(gctx, pack.BlobHandle{ID: e.ID, Type: pack.DataBlob}, nil)
				if lerr == nil {
					lerr = store(e, b)
				}
				if lerr != nil && lost == nil {
					lost = fmt.Errorf("data blob %s: %w", e.ID.Short(), err)
				}
			})
			if err != nil {
				return err
			}
			return lost
		})
	}
	return n, bytes, g.Wait()
}

// rewrite stores the source tree id with destination IDs and returns its
// destination ID.
func (c *copier) rewrite(ctx context.Context, id pack.ID) (pack.ID, error) {
	if d, ok := c.trees[id]; ok {
		return d, nil
	}
	t, err := snapshot.LoadTree(ctx, c.src, id)
	if err != nil {
		return pack.ID{}, err
	}
	for _, n := range t.Nodes {
		switch n.Type {
		case snapshot.TypeDir:
			d, err := c.rewrite(ctx, *n.Subtree)
			if err != nil {
				return pack.ID{}, err
			}
			n.Subtree = &d
		case snapshot.TypeFile:
			content := make([]pack.ID, len(n.Content))
			for i, b := range n.Content {
				d := c.blobs[b]
				if d == (pack.ID{}) {
					return pack.ID{}, fmt.Errorf("data blob %s was not copied", b.Short())
				}
				content[i] = d
			}
			n.Content = content
		}
	}
	d, err := snapshot.SaveTree(ctx, c.saver, t, c.gen)
	if err != nil {
		return pack.ID{}, err
	}
	c.trees[id] = d
	return d, nil
}

// Source is what a copy reads from: the source's index, whole-pack reads
// and single blob loads. *repo.Repository is one.
type Source interface {
	snapshot.BlobLoader
	Index() *index.Index
	ReadBlobs(ctx context.Context, id pack.ID, entries []pack.Entry, fn func(e pack.Entry, plain []byte) error, fail func(e pack.Entry, err error)) error
}

// Destination is what a copy writes to: its snapshot files and trees, its
// index to skip what it has, and savers writing through its uploader.
// *repo.Repository is one.
type Destination interface {
	snapshot.Files
	snapshot.BlobLoader
	Index() *index.Index
	NewSaver() *repo.Saver
	WithUploader(ctx context.Context, fn func(ctx context.Context) error) error
}
