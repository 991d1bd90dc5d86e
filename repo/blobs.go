package repo

import (
	"bufio"
	"io/fs"
	"os"

	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/crypto"
)

// indexEvery and indexEveryBlobs are the number of packs or blobs after
// which a backup writes an index file, so a crash loses little work and the
// entries waiting for an index file stay few even when packs hold many
// small blobs. DefaultIndexInterval bounds the upload time an index file
// waits for: over a slow link 64 packs take hours, and a backup killed
// then and run again would upload them all again.
const (
	indexEvery           = 64
	indexEveryBlobs      = 64 << 10
	DefaultIndexInterval = 2 * time.Minute
)

// Stats counts what a writer added to the repository.
type Stats struct {
	DataBlobs, TreeBlobs int64
	// DataAdded and TreeAdded are plaintext bytes; the Stored fields are
	// bytes after compression and sealing.
	DataAdded, DataStored int64
	TreeAdded, TreeStored int64
	Packs                 int64
}

type packerKey struct {
	gen pack.Generation
	typ pack.BlobType
}

type blobKey struct {
	id  pack.ID
	typ pack.BlobType
	gen pack.Generation
}

// writer is the write side of the blob store.
type writer struct {
	mu       sync.Mutex
	packers  map[packerKey]*packer
	inflight map[blobKey]struct{}
	unsaved  []index.Pack
	// unsavedBlobs counts the entries of unsaved.
	unsavedBlobs int
	// lastIndex is when the last index file was written (or writing
	// started), on the repository's clock.
	lastIndex time.Time
	stats     Stats
	err       error

	sem chan struct{}
	wg  sync.WaitGroup
}

// packer is a pack being filled. Packs of both types stream to an
// unlinked temporary file, so a backup's memory does not grow with the pack
// size (tree packs of a tree with millions of files are as large as data
// packs) and a crash leaves nothing behind.
type packer struct {
	w    *pack.Writer
	file *os.File
	bw   *bufio.Writer // in front of file: small blobs take one write per buffer, not one each
}

// packWriteBuffer is the write buffer of a pack's temporary file and
// the read-back buffer of its verification.
const packWriteBuffer = 512 << 10

func (r *Repository) newPacker(gen pack.Generation, t pack.BlobType) (*packer, error) {
	p := &packer{}
	f, err := os.CreateTemp(r.opts.TempDir, "cairn-pack-")
	if err != nil {
		return nil, fmt.Errorf("create temporary pack file: %w", err)
	}
	_ = os.Remove(f.Name())
	p.file = f
	p.bw = bufio.NewWriterSize(f, packWriteBuffer)
	p.w = pack.NewWriter(gen, t, p.bw)
	return p, nil
}

func (p *packer) close() { _ = p.file.Close() }

func (r *Repository) writerState() *writer {
	if r.w == nil {
		r.w = &writer{
			packers:   map[packerKey]*packer{},
			inflight:  map[blobKey]struct{}{},
			sem:       make(chan struct{}, r.opts.Uploads),
			lastIndex: r.opts.Now(),
		}
	}
	return r.w
}

// closeWriting discards the writer state: packs being filled are dropped
// (their temporary files closed) and nothing more is indexed.
func (r *Repository) closeWriting() {
	w := r.w
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = errors.New("blob store closed")
	}
	packers := w.packers
	w.packers = map[packerKey]*packer{}
	w.mu.Unlock()
	w.wg.Wait()
	for _, p := range packers {
		p.close()
	}
	r.w = nil
}

// indexInterval is Options.IndexInterval or its default.
func (r *Repository) indexInterval() time.Duration {
	if r.opts.IndexInterval > 0 {
		return r.opts.IndexInterval
	}
	return DefaultIndexInterval
}

// SetIndexInterval sets how long a backup uploads at most before it writes
// an index file for the packs stored so far (Options.IndexInterval); call
// it before StartWriting or WithUploader.
func (r *Repository) SetIndexInterval(d time.Duration) { r.opts.IndexInterval = d }

// StartWriting prepares the blob store for SaveBlob. It must be called
// before any Saver is used.
func (r *Repository) StartWriting() { r.writerState() }

// Stats returns what was added since StartWriting.
func (r *Repository) Stats() Stats {
	w := r.writerState()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// count adds a new blob to the stats; w.mu must be held.
func (w *writer) count(t pack.BlobType, raw int, stored uint32) {
	if t == pack.DataBlob {
		w.stats.DataBlobs++
		w.stats.DataAdded += int64(raw)
		w.stats.DataStored += int64(stored)
	} else {
		w.stats.TreeBlobs++
		w.stats.TreeAdded += int64(raw)
		w.stats.TreeStored += int64(stored)
	}
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Saver computes blob IDs and stores new blobs. Each worker goroutine keeps
// its own Saver: it owns a zstd encoder, an HMAC and a buffer.
type Saver struct {
	r      *Repository
	codec  *pack.Codec
	hasher *crypto.IDHasher
	buf    []byte
}

// NewSaver returns a Saver for one goroutine.
func (r *Repository) NewSaver() *Saver {
	r.writerState()
	return &Saver{r: r, codec: pack.NewCodec(r.key, r.level), hasher: r.key.NewIDHasher()}
}

// ID returns the blob ID of data.
func (s *Saver) ID(data []byte) pack.ID { return s.hasher.Sum(data) }

// IDPair returns the blob IDs of a and b, hashed in step.
func (s *Saver) IDPair(a, b []byte) (pack.ID, pack.ID) {
	ia, ib := s.hasher.SumPair(a, b)
	return ia, ib
}

// RequireFormat raises the repository's format version; see
// Repository.RequireFormat.
func (s *Saver) RequireFormat(ctx context.Context, version int) error {
	return s.r.RequireFormat(ctx, version)
}

// Save stores data as a blob of type t in generation gen unless it is
// already stored there or on its way. It reports the ID, whether the blob
// was new, and its stored size if it was.
func (s *Saver) Save(ctx context.Context, t pack.BlobType, data []byte, gen pack.Generation) (pack.ID, bool, int, error) {
	id := s.hasher.Sum(data)
	added, n, err := s.SaveWithID(ctx, t, id, data, gen)
	return id, added, n, err
}

// SaveWithID is Save for a caller that already computed the ID.
func (s *Saver) SaveWithID(ctx context.Context, t pack.BlobType, id pack.ID, data []byte, gen pack.Generation) (bool, int, error) {
	r, w := s.r, s.r.w
	if len(data) > pack.MaxBlobSize {
		return false, 0, fmt.Errorf("save %s blob %s: %w: %d bytes", t, id.Short(), pack.ErrTooLarge, len(data))
	}
	h := pack.BlobHandle{ID: id, Type: t}
	if r.idx.Has(h, gen) {
		return false, 0, nil
	}
	key := blobKey{id: id, typ: t, gen: gen}
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return false, 0, err
	}
	if _, ok := w.inflight[key]; ok || r.idx.Has(h, gen) {
		w.mu.Unlock()
		return false, 0, nil
	}
	w.inflight[key] = struct{}{}
	w.mu.Unlock()

	var e pack.Entry
	s.buf, e = s.codec.Encode(s.buf[:0], data, t)
	e.ID = id

	if r.opts.DryRun {
		w.mu.Lock()
		w.count(t, len(data), e.Length)
		w.mu.Unlock()
		return true, int(e.Length), nil
	}
	pk := packerKey{gen: gen, typ: t}
	w.mu.Lock()
	p := w.packers[pk]
	if p == nil {
		var err error
		if p, err = r.newPacker(gen, t); err != nil {
			w.mu.Unlock()
			w.fail(err)
			return false, 0, err
		}
		w.packers[pk] = p
	}
	if err := p.w.Add(e, s.buf); err != nil {
		w.mu.Unlock()
		w.fail(err)
		return false, 0, err
	}
	var full *packer
	if p.w.Size() >= r.cfg.PackSize {
		full = p
		delete(w.packers, pk)
	}
	w.count(t, len(data), e.Length)
	w.mu.Unlock()
	if full != nil {
		if err := r.upload(ctx, full); err != nil {
			return true, int(e.Length), err
		}
	}
	return true, int(e.Length), nil
}

// upload finalizes and stores a full pack in the background; it blocks
// while too many uploads are running, which bounds memory.
func (r *Repository) upload(ctx context.Context, p *packer) error {
	w := r.w
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		p.close()
		return ctx.Err()
	}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		if err := r.writePack(ctx, p); err != nil {
			w.fail(err)
		}
	}()
	return nil
}

func (r *Repository) writePack(ctx context.Context, p *packer) error {
	defer p.close()
	entries, size, err := p.w.Finalize(r.key)
	if err != nil {
		return err
	}
	if err := p.bw.Flush(); err != nil {
		return fmt.Errorf("write temporary pack file: %w", err)
	}
	ra := p.file
	// Verify before upload, so a compression or memory bug can't write
	// data that only a restore would find bad; the same pass computes the
	// pack's name.
	id, err := r.verifyPack(ra, size, entries)
	if err != nil {
		return fmt.Errorf("verify new pack before upload: %w", err)
	}
	// The pack and its parity, before the index names it.
	h := backend.Handle{Type: backend.PackFile, Name: id.String(), Metadata: p.w.Type() == pack.TreeBlob}
	if err := r.saveProtected(ctx, h, ra, size, func() error { return r.be.Save(ctx, h, ra, size) }); err != nil {
		return err
	}
	ip := index.Pack{ID: id, Generation: p.w.Generation(), Entries: entries}
	w := r.w
	w.mu.Lock()
	r.idx.AddPack(ip)
	for _, e := range entries {
		delete(w.inflight, blobKey{id: e.ID, typ: e.Type, gen: ip.Generation})
	}
	w.stats.Packs++
	w.unsaved = append(w.unsaved, ip)
	w.unsavedBlobs += len(ip.Entries)
	// Only packs stored by now go into the index file (DESIGN.md §6:
	// packs, then the index naming them).
	var toSave []index.Pack
	now := r.opts.Now()
	if len(w.unsaved) >= indexEvery || w.unsavedBlobs >= indexEveryBlobs || now.Sub(w.lastIndex) >= r.indexInterval() {
		toSave, w.unsaved, w.unsavedBlobs = w.unsaved, nil, 0
		w.lastIndex = now
	}
	w.mu.Unlock()
	if toSave != nil {
		return r.saveIndexFile(ctx, toSave)
	}
	return nil
}

// blobCodec is a codec and an ID hasher for decoding on any goroutine.
type blobCodec struct {
	codec  *pack.Codec
	hasher *crypto.IDHasher
	ph     *crypto.PackHasher // verifyPack's, made on first use
	raw    []byte
}

func (r *Repository) getCodec() *blobCodec {
	select {
	case c := <-r.codecs:
		return c
	default:
		return &blobCodec{codec: pack.NewCodec(r.key, r.level), hasher: r.key.NewIDHasher()}
	}
}

func (r *Repository) putCodec(c *blobCodec) {
	select {
	case r.codecs <- c:
	default:
	}
}

// verifyPack reads a finished pack once, front to back: it opens every
// blob and checks its ID, and returns the SHA-256 of the whole pack. The
// pack's bytes and the plaintexts are hashed in step (PackVerifier).
func (r *Repository) verifyPack(ra io.ReaderAt, size int64, entries []pack.Entry) (pack.ID, error) {
	c := r.getCodec()
	defer r.putCodec(c)
	if c.ph == nil {
		c.ph = r.key.NewPackHasher()
	}
	c.ph.Reset()
	v := PackVerifier{codec: c.codec, h: c.ph}
	// One sequential read through a buffer, not one read per blob.
	rd := bufio.NewReaderSize(io.NewSectionReader(ra, 0, size), packWriteBuffer)
	var off int64
	for _, e := range entries {
		if int64(e.Offset) != off {
			return pack.ID{}, fmt.Errorf("blob %s: at offset %d, want %d", e.ID.Short(), e.Offset, off)
		}
		c.raw = slices.Grow(c.raw[:0], int(e.Length))[:e.Length]
		if _, err := io.ReadFull(rd, c.raw); err != nil {
			return pack.ID{}, fmt.Errorf("read back blob %s: %w", e.ID.Short(), err)
		}
		off += int64(e.Length)
		if err := v.Blob(c.raw, e); err != nil {
			return pack.ID{}, err
		}
	}
	n, err := io.Copy(&v, rd)
	if err != nil {
		return pack.ID{}, fmt.Errorf("read back pack header: %w", err)
	}
	if off+n != size {
		return pack.ID{}, fmt.Errorf("read back pack: %d of %d bytes", off+n, size)
	}
	id, bad := v.Sum()
	if len(bad) > 0 {
		return pack.ID{}, errMismatch(bad)
	}
	return id, nil
}

// Flush uploads the packs being filled, waits for all uploads and writes
// the index for them. After Flush returns nil, every blob saved so far is
// stored and indexed, so a snapshot may reference it.
func (r *Repository) Flush(ctx context.Context) error {
	w := r.writerState()
	w.mu.Lock()
	var packers []*packer
	for k, p := range w.packers {
		packers = append(packers, p)
		delete(w.packers, k)
	}
	w.mu.Unlock()
	for _, p := range packers {
		if err := r.upload(ctx, p); err != nil {
			w.fail(err)
			break
		}
	}
	w.wg.Wait()
	w.mu.Lock()
	err := w.err
	toSave := w.unsaved
	w.unsaved, w.unsavedBlobs = nil, 0
	w.lastIndex = r.opts.Now()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if len(toSave) > 0 {
		return r.saveIndexFile(ctx, toSave)
	}
	return nil
}

// LoadBlob returns the plaintext of blob h, appended to dst. Every copy the
// index knows is tried; the result is checked against the ID.
func (r *Repository) LoadBlob(ctx context.Context, h pack.BlobHandle, dst []byte) ([]byte, error) {
	locs := r.idx.LookupAny(h)
	if len(locs) == 0 {
		return nil, fmt.Errorf("load %s blob %s: %w: not in index", h.Type, h.ID, ErrDamaged)
	}
	var errs []error
	damaged := false
	for _, loc := range locs {
		out, err := r.loadBlobAt(ctx, loc, dst)
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("load %s blob %s: %w", h.Type, h.ID.Short(), context.Cause(ctx))
		}
		damaged = damaged || errors.Is(err, ErrDamaged)
		errs = append(errs, err)
	}
	if !damaged {
		// The storage failed (after its retries): that's no damage, and
		// parity would read the same storage.
		return nil, errors.Join(errs...)
	}
	// Every copy is damaged: read through the packs' parity.
	for _, loc := range locs {
		if out, err := r.blobFromParity(ctx, loc, dst); err == nil {
			return out, nil
		}
	}
	return nil, errors.Join(errs...)
}

// blobFromParity decodes the blob at loc from its pack rebuilt from the
// pack's parity file.
func (r *Repository) blobFromParity(ctx context.Context, loc index.Location, dst []byte) ([]byte, error) {
	b, err := r.Parity().Repaired(ctx, backend.Handle{Type: backend.PackFile, Name: loc.Pack.String()})
	if err != nil {
		return nil, err
	}
	end := int64(loc.Offset) + int64(loc.Length)
	if end > int64(len(b)) {
		return nil, fmt.Errorf("blob %s: %w: beyond the end of rebuilt pack %s", loc.ID.Short(), ErrDamaged, loc.Pack.Short())
	}
	return r.DecodeBlob(b[loc.Offset:end], loc.Entry, dst, loc.Pack)
}

func (r *Repository) loadBlobAt(ctx context.Context, loc index.Location, dst []byte) ([]byte, error) {
	// Tree packs are marked, so a cache keeps them whole: they are small
	// and read again and again.
	h := backend.Handle{Type: backend.PackFile, Name: loc.Pack.String(), Metadata: loc.Type == pack.TreeBlob}
	stored := make([]byte, loc.Length)
	err := r.be.Load(ctx, h, int(loc.Length), int64(loc.Offset),
		func(rd io.Reader) error {
			_, err := io.ReadFull(rd, stored)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("load blob %s from pack %s: %w", loc.ID.Short(), loc.Pack.Short(), classifyLoad(err))
	}
	return r.DecodeBlob(stored, loc.Entry, dst, loc.Pack)
}

// DecodeBlob opens stored bytes of blob e (from pack packID), appends the
// plaintext to dst and checks it against the blob ID. Safe for concurrent use.
func (r *Repository) DecodeBlob(stored []byte, e pack.Entry, dst []byte, packID pack.ID) ([]byte, error) {
	c := r.getCodec()
	defer r.putCodec(c)
	start := len(dst)
	out, err := decodeOnly(c, stored, e, dst, packID)
	if err != nil {
		return nil, err
	}
	if pack.ID(c.hasher.Sum(out[start:])) != e.ID {
		return nil, errNotItsID(e, packID)
	}
	return out, nil
}

// decodeOnly is DecodeBlob without the check of the plaintext against the
// blob's ID: the caller must make it.
func decodeOnly(c *blobCodec, stored []byte, e pack.Entry, dst []byte, packID pack.ID) ([]byte, error) {
	out, err := c.codec.Decode(dst, stored, e)
	if err != nil {
		return nil, fmt.Errorf("blob %s in pack %s: %w: %w", e.ID.Short(), packID.Short(), ErrDamaged, err)
	}
	return out, nil
}

func errNotItsID(e pack.Entry, packID pack.ID) error {
	return fmt.Errorf("blob %s in pack %s: %w: content does not match its ID", e.ID.Short(), packID.Short(), ErrDamaged)
}

// maxPooledBuffer bounds the buffers readBufs keeps (a blob of the
// chunker's largest size and its sealing); a larger one is left to the GC,
// so the free list can't pin much memory.
const maxPooledBuffer = 8<<20 + 64<<10

// getReadBuf returns an empty buffer from the free list, or nil. Reading a
// pack needs one for the stored bytes and one for the plaintext; reusing
// them, instead of growing new ones for every pack, spares the page faults
// of fresh memory, one restore worker after the other.
func (r *Repository) getReadBuf() []byte {
	select {
	case b := <-r.readBufs:
		return b[:0]
	default:
		return nil
	}
}

// putReadBuf hands b back to the free list; nothing may use it after.
func (r *Repository) putReadBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuffer {
		return
	}
	select {
	case r.readBufs <- b:
	default:
	}
}

// ReadPack streams the byte range of pack id covering entries once and
// calls fn with the stored bytes of each entry, in offset order. Only one
// blob is held in memory at a time. If the backend retries the read, blobs
// already handed to fn are skipped, so fn sees each entry once.
func (r *Repository) ReadPack(ctx context.Context, id pack.ID, entries []pack.Entry, fn func(e pack.Entry, stored []byte) error) error {
	if len(entries) == 0 {
		return nil
	}
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b pack.Entry) int { return int(int64(a.Offset) - int64(b.Offset)) })
	start := int64(entries[0].Offset)
	end := int64(0)
	for _, e := range entries {
		end = max(end, int64(e.Offset)+int64(e.Length))
	}
	done := 0
	var fnErr error
	buf := r.getReadBuf()
	defer func() { r.putReadBuf(buf) }()
	err := r.be.Load(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, int(end-start), start, func(rd io.Reader) error {
		pos := start
		for i, e := range entries {
			if gap := int64(e.Offset) - pos; gap > 0 {
				if _, err := io.CopyN(io.Discard, rd, gap); err != nil {
					return err
				}
				pos += gap
			} else if gap < 0 {
				// Overlapping entries (a corrupt index): read separately.
				return fmt.Errorf("blob %s overlaps the previous one", e.ID.Short())
			}
			buf = slices.Grow(buf[:0], int(e.Length))[:e.Length]
			if _, err := io.ReadFull(rd, buf); err != nil {
				return err
			}
			pos += int64(e.Length)
			if i < done {
				continue
			}
			done++
			if err := fn(e, buf); err != nil {
				fnErr = err
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("read pack %s: %w", id.Short(), classifyLoad(err))
	}
	return nil
}

// classifyLoad marks a failed read of stored data as damage only when the
// data is not there (the file is gone or shorter than the index says); a
// cancelled context or a storage failure that outlasted the retries is
// returned as it is (exit 130 or 1, not 13).
func classifyLoad(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return err
}

// ReadBlobs reads the blobs of entries from pack id once, decodes and
// verifies each and calls fn with its plaintext (fn must not keep it).
// Blobs the pack can't give — damaged, truncated or missing — are read
// through the pack's parity file; a blob that can't be read either way is
// passed to fail with the error of the first attempt. The error is for
// cancellation or an error from fn.
func (r *Repository) ReadBlobs(ctx context.Context, id pack.ID, entries []pack.Entry, fn func(e pack.Entry, plain []byte) error, fail func(e pack.Entry, err error)) error {
	c := r.getCodec()
	defer r.putCodec(c)
	// Blobs are decoded two at a time, into buffers of their own, and
	// their plaintexts hashed in step (IDHasher.SumPair); each is handed
	// to fn only after its check, in offset order.
	bufs := [2][]byte{r.getReadBuf(), r.getReadBuf()}
	defer func() { r.putReadBuf(bufs[0]); r.putReadBuf(bufs[1]) }()
	var bad []pack.Entry
	var badErr []error
	delivered := 0
	var fnErr error
	var held pack.Entry // decoded into bufs[cur^1], not checked yet
	holding, cur := false, 0
	hand := func(e pack.Entry, plain []byte, sum [32]byte) error {
		if pack.ID(sum) != e.ID {
			bad, badErr = append(bad, e), append(badErr, errNotItsID(e, id))
			return nil
		}
		fnErr = fn(e, plain)
		return fnErr
	}
	err := r.ReadPack(ctx, id, entries, func(e pack.Entry, stored []byte) error {
		delivered++
		out, err := decodeOnly(c, stored, e, bufs[cur][:0], id)
		if err != nil {
			bad, badErr = append(bad, e), append(badErr, err)
			return nil
		}
		bufs[cur] = out
		cur ^= 1
		if !holding {
			held, holding = e, true
			return nil
		}
		holding = false
		sumHeld, sum := c.hasher.SumPair(bufs[cur], out)
		if err := hand(held, bufs[cur], sumHeld); err != nil {
			return err
		}
		return hand(e, out, sum)
	})
	if holding && fnErr == nil {
		// The last blob read, or the last before the read failed.
		p := bufs[cur^1]
		hand(held, p, c.hasher.Sum(p))
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// ReadPack hands entries over in offset order: the rest were not
		// read.
		rest := slices.Clone(entries)
		slices.SortFunc(rest, func(a, b pack.Entry) int { return int(int64(a.Offset) - int64(b.Offset)) })
		for _, e := range rest[delivered:] {
			bad, badErr = append(bad, e), append(badErr, err)
		}
	}
	for i, e := range bad {
		out, perr := r.blobFromParity(ctx, index.Location{Pack: id, Entry: e}, bufs[0][:0])
		if perr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fail(e, badErr[i])
			continue
		}
		bufs[0] = out
		if err := fn(e, out); err != nil {
			return err
		}
	}
	return nil
}

// DryRun reports whether the blob store only counts what it would store.
func (r *Repository) DryRun() bool { return r.opts.DryRun }
