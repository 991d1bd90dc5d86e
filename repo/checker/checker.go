// Package checker verifies a repository: every file's name against the
// SHA-256 of its bytes, the index against the packs, every snapshot's
// trees and blobs, and with ReadData every blob of (a share of) the packs.
// Each problem names the object and what depends on it.
package checker

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Options configure a check.
type Options struct {
	// ReadData downloads packs and verifies every blob in them.
	ReadData bool
	// Subset selects the packs read with ReadData: Part/Of (1-based, by
	// pack ID, so Of runs cover every pack once), or a fraction, or a byte
	// budget. Zero values: all packs.
	Part, Of int
	Fraction float64
	Bytes    int64
	// Now is the clock for lock staleness.
	Now func() time.Time
}

// Problem is one thing found wrong.
type Problem struct {
	Kind    string   `json:"kind"` // "pack", "index", "snapshot", "tree", "blob", "key", "config"
	Object  string   `json:"object"`
	Message string   `json:"message"`
	Affects []string `json:"affects,omitempty"` // snapshot:path that depend on it
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s %s: %s", p.Kind, p.Object, p.Message)
	if len(p.Affects) > 0 {
		s += "; affects " + strings.Join(p.Affects, ", ")
	}
	return s
}

// Report is the result of a check.
type Report struct {
	Errors       []Problem `json:"errors"`
	Warnings     []Problem `json:"warnings"`
	Snapshots    int       `json:"snapshots"`
	Packs        int       `json:"packs"`
	PacksRead    int       `json:"packs_read"`
	BlobsChecked int       `json:"blobs_checked"`
	ParityFiles  int       `json:"parity_files"`
	ParityRead   int       `json:"parity_files_read"`
}

// Damaged reports whether the check found damage.
func (r *Report) Damaged() bool { return len(r.Errors) > 0 }

type checker struct {
	r    *repo.Repository
	o    Options
	rep  *Report
	snap []*snapshot.Snapshot
	// where each blob is used: blob → "snapshot:path" (a few per blob)
	uses map[pack.ID][]string
	// blobs snapshots need, and the packs holding them
	needed map[pack.BlobHandle]bool
	parity *repo.ParityState
}

func (c *checker) fail(kind, obj, msg string, affects ...string) {
	c.rep.Errors = append(c.rep.Errors, Problem{Kind: kind, Object: obj, Message: msg, Affects: affects})
}

func (c *checker) warn(kind, obj, msg string) {
	c.rep.Warnings = append(c.rep.Warnings, Problem{Kind: kind, Object: obj, Message: msg})
}

// Check runs the checks. Its error is for failures to run the check
// (interrupted, backend unreachable); damage goes into the Report.
func Check(ctx context.Context, r *repo.Repository, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &checker{r: r, o: o, rep: &Report{Errors: []Problem{}, Warnings: []Problem{}}, uses: map[pack.ID][]string{}, needed: map[pack.BlobHandle]bool{}}
	if err := c.keys(ctx); err != nil {
		return nil, err
	}
	if err := c.parityState(ctx); err != nil {
		return nil, err
	}
	if err := c.index(ctx); err != nil {
		return nil, err
	}
	packs, err := c.packs(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.snapshots(ctx); err != nil {
		return nil, err
	}
	if o.ReadData {
		if err := c.readData(ctx, packs); err != nil {
			return nil, err
		}
	}
	c.locks(ctx)
	if err := c.tempFiles(ctx); err != nil { // temp.go
		return nil, err
	}
	return c.rep, nil
}

func (c *checker) keys(ctx context.Context) error {
	return c.r.Backend().List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		b, err := c.r.LoadFile(ctx, backend.Handle{Type: backend.KeyFile, Name: fi.Name})
		if err != nil {
			if !isDamage(err) {
				return fmt.Errorf("key %s: %w", fi.Name, err)
			}
			c.fail("key", fi.Name, err.Error())
			return nil
		}
		if pack.Hash(b).String() != fi.Name {
			c.fail("key", fi.Name, "content does not match its name")
		}
		return nil
	})
}

// index re-reads every index file (checking names and authentication) and
// looks for blobs indexed with different lengths.
func (c *checker) index(ctx context.Context) error {
	ids, err := c.r.List(ctx, backend.IndexFile)
	if err != nil {
		return err
	}
	for _, id := range ids {
		h := backend.Handle{Type: backend.IndexFile, Name: id.String()}
		intact, err := c.verifyFile(ctx, h)
		if err != nil {
			return err
		}
		if !intact {
			continue
		}
		if _, err := c.r.IndexFiles().Load(ctx, id); err != nil {
			if !isDamage(err) {
				return fmt.Errorf("index %s: %w", id.Short(), err)
			}
			c.fail("index", id.Short(), err.Error())
		}
		if c.o.ReadData {
			if err := c.checkParityFile(ctx, h); err != nil {
				return err
			}
		}
	}
	lengths := map[pack.BlobHandle]uint32{}
	c.r.Index().Each(func(l index.Location) {
		if prev, ok := lengths[l.Handle()]; ok && prev != l.RawLength {
			c.fail("blob", l.ID.Short(), fmt.Sprintf("indexed with two lengths, %d and %d", prev, l.RawLength))
		}
		lengths[l.Handle()] = l.RawLength
	})
	return nil
}

type packInfo struct {
	size     int64
	expected int64
	indexed  bool
	entries  []index.Location
}

// packs compares the packs on the backend with the index.
func (c *checker) packs(ctx context.Context) (map[pack.ID]*packInfo, error) {
	// The listing the session took once its lock was held.
	packs := map[pack.ID]*packInfo{}
	s := c.r.Session()
	if s == nil || s.Packs() == nil {
		return nil, fmt.Errorf("check: the index was not loaded in a session: %w", repo.ErrNoSession)
	}
	for id, fi := range s.Packs() {
		packs[id] = &packInfo{size: fi.Size}
	}
	c.rep.Packs = len(packs)
	indexed := map[pack.ID][]index.Location{}
	c.r.Index().Each(func(l index.Location) { indexed[l.Pack] = append(indexed[l.Pack], l) })
	var missing []pack.ID
	// A session without KeepMissing dropped the entries of missing packs
	// from the index already, but still knows the packs.
	for _, id := range s.MissingPacks() {
		if _, ok := indexed[id]; !ok {
			missing = append(missing, id)
		}
	}
	for id, locs := range indexed {
		p := packs[id]
		if p == nil {
			missing = append(missing, id)
			continue
		}
		p.indexed, p.entries = true, locs
		// Size from the index: blobs, then the sealed header and its length.
		p.expected = int64(16+42*len(locs)) + int64(c.r.Key().Overhead()) + 4
		for _, l := range locs {
			p.expected += int64(l.Length)
		}
		if p.size != p.expected {
			note := c.parityNote(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, nil)
			c.fail("pack", id.Short(), fmt.Sprintf("has %d bytes, the index says %d (truncated or damaged)%s", p.size, p.expected, note))
		}
	}
	for _, id := range missing {
		note := c.parityNote(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, nil)
		c.fail("pack", id.Short(), "is in the index but missing from the repository"+note)
	}
	// Forget missing packs, so the snapshot walk names the blobs gone
	// with them and what needs them.
	c.r.Index().DropPacks(missing)
	for id, p := range packs {
		if !p.indexed {
			c.warn("pack", id.Short(), "is not in any index (orphaned, e.g. by an interrupted backup; prune removes it, repair index adds it)")
		}
	}
	return packs, nil
}

// snapshots loads every snapshot and walks its trees, checking that each
// tree and data blob is indexed in a pack that exists.
func (c *checker) snapshots(ctx context.Context) error {
	ids, err := c.r.List(ctx, backend.SnapshotFile)
	if err != nil {
		return err
	}
	for _, id := range ids {
		h := backend.Handle{Type: backend.SnapshotFile, Name: id.String()}
		intact, err := c.verifyFile(ctx, h)
		if err != nil {
			return err
		}
		if c.o.ReadData {
			if err := c.checkParityFile(ctx, h); err != nil {
				return err
			}
		}
		// Load reads a damaged snapshot file through its parity, so the
		// trees behind it are still checked.
		sn, err := snapshot.Load(ctx, c.r, id)
		if err != nil {
			if !isDamage(err) {
				return fmt.Errorf("snapshot %s: %w", id.Short(), err)
			}
			if intact {
				c.fail("snapshot", id.Short(), err.Error())
			}
			continue
		}
		c.snap = append(c.snap, sn)
	}
	c.rep.Snapshots = len(c.snap)
	// The snapshots' trees are walked on every core, each walk with a
	// report of its own; the reports are merged in snapshot order, so the
	// result is a sequential walk's.
	idx := c.r.Index()
	reports := make([]*Report, len(c.snap))
	storageErrs := make([]error, len(c.snap))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(max(1, runtime.GOMAXPROCS(0)))
	for i, sn := range c.snap {
		g.Go(func() error {
			sub := *c
			sub.rep = &Report{}
			storageErrs[i] = sub.walkSnapshot(ctx, sn, idx, &mu)
			reports[i] = sub.rep
			return nil
		})
	}
	_ = g.Wait()
	var storageErr error
	for i, r := range reports {
		c.rep.Errors = append(c.rep.Errors, r.Errors...)
		c.rep.Warnings = append(c.rep.Warnings, r.Warnings...)
		if storageErr == nil {
			storageErr = storageErrs[i]
		}
	}
	return storageErr
}

// walkSnapshot walks the trees of snapshot sn: it notes every blob they
// need and where (c.needed, c.uses, under mu, which other walks share)
// and reports what is missing or damaged into c.rep. Its error is a
// storage failure or a cancellation, which says nothing about the trees.
func (c *checker) walkSnapshot(ctx context.Context, sn *snapshot.Snapshot, idx *index.Index, mu *sync.Mutex) error {
	var storageErr error
	need := func(h pack.BlobHandle, where string) {
		mu.Lock()
		c.needed[h] = true
		c.use(h.ID, where)
		mu.Unlock()
	}
	seen := map[pack.ID]bool{}
	var walk func(id pack.ID, dir string)
	walk = func(id pack.ID, dir string) {
		where := sn.ID().Short() + ":" + dir
		need(pack.BlobHandle{ID: id, Type: pack.TreeBlob}, where)
		if seen[id] {
			return
		}
		seen[id] = true
		if len(idx.LookupAny(pack.BlobHandle{ID: id, Type: pack.TreeBlob})) == 0 {
			c.fail("tree", id.Short(), "is missing", where)
			return
		}
		if storageErr != nil {
			return
		}
		t, err := snapshot.LoadTree(ctx, c.r, id)
		if err != nil && !isDamage(err) {
			// The storage failed or the check was cancelled: that
			// says nothing about the tree.
			storageErr = fmt.Errorf("tree %s at %s: %w", id.Short(), where, err)
			return
		}
		if err != nil {
			c.fail("tree", id.Short(), err.Error(), where)
			return
		}
		for _, p := range t.Parts {
			need(pack.BlobHandle{ID: p, Type: pack.TreeBlob}, where)
		}
		for _, n := range t.Nodes {
			p := path.Join(dir, n.Name)
			switch n.Type {
			case snapshot.TypeDir:
				walk(*n.Subtree, p)
			case snapshot.TypeFile:
				for _, b := range n.Content {
					bh := pack.BlobHandle{ID: b, Type: pack.DataBlob}
					need(bh, sn.ID().Short()+":"+p)
					if len(idx.LookupAny(bh)) == 0 {
						c.fail("blob", b.Short(), "is missing", sn.ID().Short()+":"+p)
					}
				}
			}
		}
	}
	walk(sn.Tree, "/")
	return storageErr
}

// verifyFile loads file h and checks it against its name; damage is
// reported with what its parity file says. A storage failure (or a
// cancellation) is returned as an error: it is not damage.
func (c *checker) verifyFile(ctx context.Context, h backend.Handle) (bool, error) {
	kind := map[backend.FileType]string{backend.IndexFile: "index", backend.SnapshotFile: "snapshot"}[h.Type]
	b, err := c.r.LoadFile(ctx, h)
	if err != nil {
		if !isDamage(err) {
			return false, fmt.Errorf("read %s: %w", h, err)
		}
		c.fail(kind, h.Name[:12], "can't be read: "+err.Error()+c.parityNote(ctx, h, nil))
		return false, nil
	}
	if pack.Hash(b).String() != h.Name {
		c.fail(kind, h.Name[:12], "content does not match its name"+c.parityNote(ctx, h, b))
		return false, nil
	}
	return true, nil
}

// isDamage says whether err means stored data is missing or fails its
// checks (damage, exit 13), rather than a failed or cancelled read.
func isDamage(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, repo.ErrDamaged) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, io.ErrUnexpectedEOF)
}

// use remembers a few places that need blob id, for reports: the first
// five in order, whatever order the walks find them in.
func (c *checker) use(id pack.ID, where string) {
	u := c.uses[id]
	i, found := slices.BinarySearch(u, where)
	switch {
	case found:
		return
	case len(u) >= 5:
		if i >= 5 {
			return
		}
		u = u[:4]
	}
	c.uses[id] = slices.Insert(u, i, where)
}

func (c *checker) affects(ids []pack.ID) []string {
	var out []string
	for _, id := range ids {
		for _, u := range c.uses[id] {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("… %d more", len(out)-20))
	}
	return out
}

// selected reports whether pack id is in the ReadData subset.
func (c *checker) selected(ids []pack.ID) []pack.ID {
	slices.SortFunc(ids, func(a, b pack.ID) int { return slices.Compare(a[:], b[:]) })
	o := c.o
	switch {
	case o.Of > 0:
		var out []pack.ID
		for _, id := range ids {
			// Spread by the ID's first bytes, so n/m runs cover all packs.
			v := int(id[0])<<8 | int(id[1])
			if v*o.Of/65536 == o.Part-1 {
				out = append(out, id)
			}
		}
		return out
	case o.Fraction > 0:
		return ids[:int(float64(len(ids))*o.Fraction+0.999999)]
	}
	return ids
}

func (c *checker) readData(ctx context.Context, packs map[pack.ID]*packInfo) error {
	var ids []pack.ID
	for id := range packs {
		ids = append(ids, id)
	}
	ids = c.selected(ids)
	var budget int64
	var todo []pack.ID
	for _, id := range ids {
		p := packs[id]
		if c.o.Bytes > 0 && budget+p.size > c.o.Bytes && budget > 0 {
			break
		}
		budget += p.size
		todo = append(todo, id)
	}
	c.rep.PacksRead += len(todo)
	// Packs are read and decoded on every core, each worker with buffers
	// of its own; the findings are merged in pack order, so the report
	// is the same as a sequential read's.
	reports := make([]*Report, len(todo))
	next := make(chan int)
	g, gctx := errgroup.WithContext(ctx)
	for range max(1, runtime.GOMAXPROCS(0)) {
		g.Go(func() error {
			w := readBuffers{v: c.r.NewPackVerifier()}
			for i := range next {
				sub := *c
				sub.rep = &Report{}
				if err := sub.readPack(gctx, todo[i], packs[todo[i]], &w); err != nil {
					return err
				}
				reports[i] = sub.rep
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(next)
		for i := range todo {
			select {
			case next <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	for _, r := range reports {
		c.rep.Errors = append(c.rep.Errors, r.Errors...)
		c.rep.Warnings = append(c.rep.Warnings, r.Warnings...)
		c.rep.BlobsChecked += r.BlobsChecked
		c.rep.ParityRead += r.ParityRead
	}
	return nil
}

// readBuffers are a read-data worker's buffers, reused from pack to pack:
// a blob's stored bytes, and the verifier with the plaintexts.
type readBuffers struct {
	stored []byte
	v      *repo.PackVerifier
}

// packRead is what streaming a pack found.
type packRead struct {
	id       pack.ID // SHA-256 of the bytes read
	size     int64
	tail     []byte // the bytes after the last blob: header and its length
	bad      []pack.ID
	badShort []string
	checked  int
}

// readPack streams a pack once, front to back, without holding it: it
// hashes every byte, opens every blob the index names at its place, and
// then checks the pack's name and its header against the index.
func (c *checker) readPack(ctx context.Context, id pack.ID, p *packInfo, w *readBuffers) error {
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	entries := make([]pack.Entry, 0, len(p.entries))
	blobIDs := make([]pack.ID, 0, len(p.entries))
	for _, l := range p.entries {
		entries = append(entries, l.Entry)
		blobIDs = append(blobIDs, l.ID)
	}
	slices.SortFunc(entries, func(a, b pack.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
	limit := c.r.MaxFileSize(backend.PackFile)
	if p.size > limit {
		c.fail("pack", id.Short(), fmt.Sprintf("can't be read: %d bytes, more than any pack may have (%d)", p.size, limit), c.affects(blobIDs)...)
		return nil
	}
	var res packRead
	err := c.r.Backend().Load(ctx, h, 0, 0, func(rd io.Reader) error {
		res = packRead{} // a retried read starts over
		// Read no further than a pack may be, whatever the listing said.
		return c.streamPack(io.LimitReader(rd, limit+1), entries, w, &res)
	})
	if err == nil && res.size > limit {
		err = fmt.Errorf("%w: more than %d bytes", repo.ErrDamaged, limit)
	}
	if err != nil {
		if ctx.Err() != nil || !isDamage(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("read pack %s: %w", id.Short(), err)
		}
		c.fail("pack", id.Short(), "can't be read: "+err.Error(), c.affects(blobIDs)...)
		return nil
	}
	c.rep.BlobsChecked += res.checked
	if res.id != id {
		c.fail("pack", id.Short(), "content does not match its name"+c.parityNote(ctx, h, nil), c.affects(blobIDs)...)
	}
	if err := c.checkParityFile(ctx, h); err != nil {
		return err
	}
	header, err := parseTail(res.tail, res.size, c.r.Key())
	switch {
	case err != nil:
		c.fail("pack", id.Short(), "header: "+err.Error(), c.affects(blobIDs)...)
	case !inHeader(header, entries):
		c.fail("pack", id.Short(), "the index names blobs its header doesn't hold", c.affects(blobIDs)...)
	}
	if len(res.bad) > 0 {
		c.fail("pack", id.Short(), fmt.Sprintf("%d damaged blobs (%s)", len(res.bad), strings.Join(firstN(res.badShort, 8), ", ")), c.affects(res.bad)...)
	}
	return nil
}

// streamPack reads a pack from rd: the bytes up to each blob, each blob,
// and the rest, hashing all of it.
func (c *checker) streamPack(rd io.Reader, entries []pack.Entry, w *readBuffers, res *packRead) error {
	// Every byte of the pack goes into the verifier once: the gaps and
	// the tail as they are read, each blob's stored bytes with the blob,
	// hashed in step with the plaintexts (repo.PackVerifier).
	w.v.Reset()
	r := io.TeeReader(rd, w.v)
	var pos int64
	for _, e := range entries {
		if int64(e.Offset) < pos {
			// Overlapping entries: the index is wrong about this blob.
			res.bad, res.badShort = append(res.bad, e.ID), append(res.badShort, e.ID.Short())
			continue
		}
		if n, err := io.CopyN(io.Discard, r, int64(e.Offset)-pos); err != nil {
			pos += n
			res.markRest(entries, e, pos)
			break
		}
		pos = int64(e.Offset)
		w.stored = slices.Grow(w.stored[:0], int(e.Length))[:e.Length]
		n, err := io.ReadFull(rd, w.stored)
		pos += int64(n)
		if err != nil {
			w.v.Write(w.stored[:n])
			res.markRest(entries, e, pos)
			break
		}
		res.checked++
		if err := w.v.Blob(w.stored, e); err != nil {
			res.bad, res.badShort = append(res.bad, e.ID), append(res.badShort, e.ID.Short())
		}
	}
	// The header and its length: small, kept to parse.
	tail, err := io.ReadAll(io.LimitReader(r, pack.MaxHeaderSize+4+1))
	if err != nil {
		return err
	}
	if int64(len(tail)) > pack.MaxHeaderSize+4 {
		// Longer than any header: hash the rest; the header is damage.
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		res.size = pos + int64(len(tail)) + n
		res.sum(w.v)
		return nil
	}
	res.tail = tail
	res.size = pos + int64(len(tail))
	res.sum(w.v)
	return nil
}

// sum takes the pack's hash from v, and the blobs that don't match their
// ID, which v may find only at the end of the pack.
func (res *packRead) sum(v *repo.PackVerifier) {
	var bad []pack.ID
	res.id, bad = v.Sum()
	for _, id := range bad {
		res.bad, res.badShort = append(res.bad, id), append(res.badShort, id.Short())
	}
}

// markRest marks e and the blobs after it as damaged: the pack ended
// before them.
func (res *packRead) markRest(entries []pack.Entry, from pack.Entry, pos int64) {
	for _, e := range entries {
		if e.Offset >= from.Offset {
			res.bad, res.badShort = append(res.bad, e.ID), append(res.badShort, e.ID.Short())
		}
	}
}

// parseTail parses the header at the end of a pack of size bytes from
// tail, the bytes after its last blob: the sealed header and its length.
func parseTail(tail []byte, size int64, key pack.Sealer) ([]pack.Entry, error) {
	if len(tail) < 4 {
		return nil, errors.New("no header")
	}
	n, err := pack.HeaderLength(tail[len(tail)-4:], size)
	if err != nil {
		return nil, err
	}
	if n+4 > len(tail) {
		return nil, fmt.Errorf("a header of %d bytes would overlap the blobs", n)
	}
	_, entries, err := pack.ParseHeader(key, tail[len(tail)-4-n:len(tail)-4], size)
	return entries, err
}

// inHeader reports whether every blob the index says a pack holds is in
// its header at the same place (index entries sorted by offset). The
// header may hold more: blobs the index no longer names, left for prune.
func inHeader(header, index []pack.Entry) bool {
	at := make(map[uint32]pack.Entry, len(header))
	for _, e := range header {
		at[e.Offset] = e
	}
	for _, b := range index {
		a, ok := at[b.Offset]
		if !ok || a.ID != b.ID || a.Type != b.Type || a.Length != b.Length || a.RawLength != b.RawLength || a.Compression != b.Compression {
			return false
		}
	}
	return true
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}

// locks reports stale locks (not an error).
func (c *checker) locks(ctx context.Context) {
	locks, err := c.r.Locks().List(ctx)
	if err != nil {
		c.warn("lock", "", err.Error())
		return
	}
	host := hostname()
	for _, l := range locks {
		name := l.File
		if l.Unreadable == "" {
			name = l.ID.Short()
		}
		switch {
		case l.Stale(c.o.Now(), host):
			c.warn("lock", name, fmt.Sprintf("stale: %s (run `cairn unlock`)", l))
		case l.Unreadable != "":
			c.warn("lock", name, fmt.Sprintf("%s: it counts as a shared lock until it is stale (`cairn unlock --remove-all` removes it)", l))
		}
	}
}

// ErrDamage is returned by callers that turn a damaged report into an error.
var ErrDamage = errors.New("check found damage")

func bytesReaderAt(b []byte) io.ReaderAt { return bytes.NewReader(b) }

func hostname() string {
	h, _ := os.Hostname()
	return h
}
