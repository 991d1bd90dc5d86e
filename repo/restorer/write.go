package restorer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pack"
)

// Read units: the blobs of one pack a batch needs are read in runs of
// adjacent blobs of at most unitBytes stored bytes or unitBlobs blobs,
// and a gap of more than unitGap unneeded bytes starts a new run. So the
// work of one pack spreads over every core (a pack of text decodes to
// 60 MiB), the last packs of a restore don't leave cores idle, and
// unneeded parts of a pack are not read.
const (
	unitBytes = 4 << 20
	unitBlobs = 256
	unitGap   = 1 << 20
)

// maxOpenFiles bounds the descriptors kept open by files of several
// pieces; past it, each piece opens its file again.
const maxOpenFiles = 256

type readUnit struct {
	pack    pack.ID
	entries []pack.Entry
	stored  int64
}

// units cuts the blobs of b into read units, largest first (so the tail
// of the batch is short).
func units(b *batch) []readUnit {
	byPack := map[pack.ID][]pack.Entry{}
	for _, w := range b.blobs {
		byPack[w.loc.Pack] = append(byPack[w.loc.Pack], w.loc.Entry)
	}
	var out []readUnit
	for id, entries := range byPack {
		slices.SortFunc(entries, func(a, b pack.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
		var u readUnit
		end := int64(-1)
		for _, e := range entries {
			off := int64(e.Offset)
			if len(u.entries) > 0 && (u.stored >= unitBytes || len(u.entries) >= unitBlobs || off-end > unitGap) {
				out = append(out, u)
				u = readUnit{}
			}
			u.pack = id
			u.entries = append(u.entries, e)
			u.stored += int64(e.Length)
			end = off + int64(e.Length)
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b readUnit) int { return cmp.Compare(b.stored, a.stored) })
	return out
}

// runBatch restores batch b: file contents, then hard links to them, the
// read-back check, and the metadata of the directories whose walk ended
// in b, deepest first, so writing into a directory can't move its mtime.
func (rs *restorer) runBatch(ctx context.Context, b *batch) error {
	if err := rs.writeContent(ctx, b); err != nil {
		return err
	}
	rs.makeLinks(b.links)
	if rs.opts.Verify {
		if err := rs.verify(ctx, b.files); err != nil {
			return err
		}
	}
	for _, d := range b.dirs {
		if err := rs.tgt.setMetadata(d.path, d.node, &rs.owners); err != nil {
			rs.report(d.path, err)
		}
	}
	return nil
}

// writeContent reads every needed pack range once and writes its blobs
// into the files at their offsets.
func (rs *restorer) writeContent(ctx context.Context, b *batch) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	var empty []*fileState
	var resized []*fileState
	for _, f := range b.files {
		switch {
		case f.blobs() == 0:
			empty = append(empty, f)
		case f.have != nil && f.remaining.Load() == 0:
			resized = append(resized, f)
		}
	}
	// A resumed file that holds every piece but not the right size: cut
	// it, then its metadata.
	for _, f := range resized {
		g.Go(func() error {
			rs.createFile(f)
			if f.createErr != nil {
				rs.fail(f, f.createErr)
				return nil
			}
			rs.completeFile(f)
			return nil
		})
	}
	for i := 0; i < len(empty); i += 256 {
		batch := empty[i:min(i+256, len(empty))]
		g.Go(func() error {
			for _, f := range batch {
				if err := rs.tgt.writeWhole(f.path, nil, 0, f.node, &rs.owners); err != nil {
					rs.fail(f, err)
				}
				rs.fileDone(f)
			}
			return nil
		})
	}
	for _, u := range units(b) {
		g.Go(func() error {
			return rs.r.ReadBlobs(gctx, u.pack, u.entries,
				func(e pack.Entry, plain []byte) error { rs.writeBlob(b, e.ID, plain); return nil },
				func(e pack.Entry, err error) { rs.failBlob(b, e.ID, err) })
		})
	}
	err := g.Wait()
	rs.removeIncomplete(b.files)
	return err
}

// removeIncomplete removes the files of several blobs that were created
// at their full size but did not get every piece (one failed, or the
// restore was cancelled): with holes for content and the time of the
// restore, such a file would pass for restored, and a later restore with
// --overwrite if-newer would keep it. The error for it was reported
// already (unless cancelled).
func (rs *restorer) removeIncomplete(files []*fileState) {
	for _, f := range files {
		if !f.created || f.remaining.Load() == 0 {
			continue
		}
		rs.closeFile(f)
		if err := rs.tgt.remove(f.path); err != nil {
			rs.report(f.path, fmt.Errorf("remove the incomplete file: %w", err))
		}
	}
}

func (rs *restorer) closeFile(f *fileState) error {
	if f.fd == nil {
		return nil
	}
	err := f.fd.Close()
	f.fd = nil
	rs.openFiles.Add(-1)
	return err
}

func (rs *restorer) fileDone(f *fileState) {
	if p := rs.opts.Progress; p != nil {
		p.FilesDone.Add(1)
	}
}

func (rs *restorer) failBlob(b *batch, id pack.ID, err error) {
	for _, t := range b.blobs[id].targets {
		rs.fail(t.file, err)
	}
}

// fail reports the first error of a file.
func (rs *restorer) fail(f *fileState, err error) {
	if !f.failed.Swap(true) {
		rs.report(f.path, err)
	}
}

// writeBlob writes a blob everywhere it belongs. A file of one blob is
// created, written and given its metadata through one descriptor; larger
// files are created once by whichever worker holds their first piece,
// written at offsets through that descriptor by whichever worker holds
// each piece, and get their metadata through it after the last piece.
// The descriptor is of the file this restore created beneath the target
// (no symlink followed), so a later swap of a directory on its path can't
// redirect a write. Runs of zeros are left as holes, so sparse files stay
// sparse.
func (rs *restorer) writeBlob(b *batch, id pack.ID, data []byte) {
	for _, t := range b.blobs[id].targets {
		f := t.file
		if f.failed.Load() {
			continue
		}
		if p := rs.opts.Progress; p != nil {
			p.BytesDone.Add(int64(len(data)))
		}
		if f.blobs() == 1 {
			if err := rs.tgt.writeWhole(f.path, data, f.size, f.node, &rs.owners); err != nil {
				rs.fail(f, err)
			}
			rs.fileDone(f)
			continue
		}
		f.create.Do(func() { rs.createFile(f) })
		if f.createErr != nil {
			rs.fail(f, f.createErr)
			continue
		}
		// Holes only in a file created empty: a resumed one may hold
		// other bytes where the zeros go.
		sparse := f.have == nil
		var err error
		switch {
		case f.fd != nil && sparse:
			_, err = writeSparse(f.fd, data, t.offset)
		case f.fd != nil:
			_, err = f.fd.WriteAt(data, t.offset)
		default:
			err = rs.tgt.pwriteFile(f.path, data, t.offset, sparse)
		}
		if err != nil {
			rs.fail(f, err)
			continue
		}
		if f.remaining.Add(-1) == 0 {
			rs.completeFile(f)
		}
	}
}

// createFile creates f at its full size (a resumed file: opens it as it
// is and sets its size) and keeps its descriptor if fewer than
// maxOpenFiles are open. A resumed file is not created: cancelled, it is
// left with the pieces it got, for the next restore to go on from.
func (rs *restorer) createFile(f *fileState) {
	var fd *os.File
	var err error
	if f.have != nil {
		fd, err = rs.tgt.openSized(f.path, f.size)
	} else {
		fd, err = rs.tgt.createSized(f.path, f.size)
		f.created = err == nil
	}
	f.createErr = err
	if err != nil {
		return
	}
	if rs.openFiles.Add(1) <= maxOpenFiles {
		f.fd = fd
		return
	}
	rs.openFiles.Add(-1)
	if err := fd.Close(); err != nil {
		f.createErr = err
	}
}

// completeFile gives a file of several pieces, all written, its metadata.
func (rs *restorer) completeFile(f *fileState) {
	var err error
	if f.fd != nil {
		if err = setFileMetadata(f.fd, f.node, &rs.owners); err != nil {
			err = fmt.Errorf("%s: %w", f.path, err)
		}
		if cerr := rs.closeFile(f); err == nil && cerr != nil {
			err = cerr
		}
	} else {
		err = rs.tgt.setMetadata(f.path, f.node, &rs.owners)
	}
	if err != nil {
		rs.fail(f, err)
	}
	rs.fileDone(f)
}

// makeLinks creates the hard links to files already written.
func (rs *restorer) makeLinks(links []hardlink) {
	for _, l := range links {
		if _, err := rs.tgt.lstat(l.path); err == nil {
			if rs.keepExisting(l.path, l.node) {
				continue
			}
			if err := rs.tgt.remove(l.path); err != nil {
				rs.report(l.path, err)
				continue
			}
		}
		if err := rs.tgt.link(l.to, l.path); err != nil {
			rs.report(l.path, err)
			continue
		}
		rs.count.files.Add(1)
	}
}

// verify reads restored files back and checks them against the blob IDs.
func (rs *restorer) verify(ctx context.Context, files []*fileState) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	var verified atomic.Int64
	for _, f := range files {
		if f.failed.Load() {
			continue
		}
		g.Go(func() error {
			ok, err := rs.matches(gctx, f)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			switch {
			case err != nil:
				rs.report(f.path, fmt.Errorf("verify: %w", err))
			case !ok:
				rs.report(f.path, errors.New("verify: restored content does not match the snapshot"))
			default:
				verified.Add(1)
				rs.action("verified", f.path)
			}
			return nil
		})
	}
	err := g.Wait()
	rs.count.verified.Add(verified.Load())
	return err
}
