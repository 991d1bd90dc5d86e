package repo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Orphan packs a backup takes over: written within adoptWindow, at most
// adoptBytes of them (newest first), so a repository full of leftovers
// of old crashes doesn't make every backup download them.
const (
	adoptWindow = 7 * 24 * time.Hour
	adoptBytes  = 4 << 30
)

// Adopted counts the orphan packs AdoptPacks indexed.
type Adopted struct {
	Packs, Blobs int
	Bytes        int64
}

// AdoptPacks indexes the packs in data/ that no index file names — above
// all the uploads of a backup killed before it wrote their index file —
// so a backup run again stores nothing they hold. Each is downloaded and
// checked as a new pack is before upload (every blob opens and matches
// its ID, the whole file hashes to its name) and goes into the next index
// file the upload session writes; a pack that fails the check is left to
// prune. It must run inside WithUploader, in a session with the index
// loaded. The error is for cancellation only.
func (s *Session) AdoptPacks(ctx context.Context) (Adopted, error) {
	var got Adopted
	r := s.r
	if r.opts.DryRun || s.packs == nil {
		return got, nil
	}
	indexed := r.idx.Packs()
	now := r.opts.Now()
	var orphans []backend.FileInfo
	for id, fi := range s.packs {
		if _, ok := indexed[id]; ok {
			continue
		}
		if fi.ModTime.IsZero() || now.Sub(fi.ModTime) < adoptWindow {
			orphans = append(orphans, fi)
		}
	}
	slices.SortFunc(orphans, func(a, b backend.FileInfo) int { return b.ModTime.Compare(a.ModTime) })
	var budget int64 = adoptBytes
	for _, fi := range orphans {
		if fi.Size > budget {
			continue
		}
		budget -= fi.Size
		ip, err := r.checkOrphan(ctx, fi)
		if ctx.Err() != nil {
			return got, context.Cause(ctx)
		}
		if err != nil || ip == nil {
			continue
		}
		w := r.writerState()
		w.mu.Lock()
		r.idx.AddPack(*ip)
		w.unsaved = append(w.unsaved, *ip)
		w.unsavedBlobs += len(ip.Entries)
		w.mu.Unlock()
		got.Packs++
		got.Blobs += len(ip.Entries)
		got.Bytes += fi.Size
	}
	return got, nil
}

// checkOrphan downloads pack fi and checks it; it returns nil when the
// index holds every blob of it already (nothing to gain).
func (r *Repository) checkOrphan(ctx context.Context, fi backend.FileInfo) (*index.Pack, error) {
	// A pack is closed once it reaches the pack size, so it is at most
	// that, one blob and a header long.
	maxPackFile := int64(r.cfg.PackSize) + pack.MaxBlobSize + 16<<20
	id, err := pack.ParseID(fi.Name)
	if err != nil || fi.Size <= 0 || fi.Size > maxPackFile {
		return nil, fmt.Errorf("orphan pack %s: not a pack name or size", fi.Name)
	}
	f, err := os.CreateTemp(r.opts.TempDir, "cairn-orphan-")
	if err != nil {
		return nil, fmt.Errorf("create temporary pack file: %w", err)
	}
	_ = os.Remove(f.Name())
	defer f.Close()
	h := backend.Handle{Type: backend.PackFile, Name: fi.Name}
	if err := r.be.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := io.Copy(f, io.LimitReader(rd, fi.Size+1))
		return err
	}); err != nil {
		return nil, fmt.Errorf("load orphan pack %s: %w", id.Short(), err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size != fi.Size {
		return nil, fmt.Errorf("orphan pack %s: %d bytes, listed with %d", id.Short(), size, fi.Size)
	}
	gen, entries, err := pack.ReadHeader(f, size, r.key)
	if err != nil {
		return nil, fmt.Errorf("orphan pack %s: %w", id.Short(), err)
	}
	slices.SortFunc(entries, func(a, b pack.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
	sum, err := r.verifyPack(f, size, entries)
	if err != nil {
		return nil, fmt.Errorf("orphan pack %s: %w", id.Short(), err)
	}
	if sum != id {
		return nil, fmt.Errorf("orphan pack %s: content does not match its name", id.Short())
	}
	missing := false
	for _, e := range entries {
		missing = missing || !r.idx.Has(pack.BlobHandle{ID: e.ID, Type: e.Type}, gen)
	}
	if !missing {
		return nil, nil
	}
	return &index.Pack{ID: id, Generation: gen, Entries: entries}, nil
}
