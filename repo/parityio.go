package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/parity"
)

// ProtectedTypes are the file types that get parity files.
var ProtectedTypes = []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile}

// ParityHandle returns the handle of the parity file of h.
func ParityHandle(h backend.Handle) backend.Handle {
	return backend.Handle{Type: backend.ParityFile, Name: h.Name}
}

// UpdateConfig changes the config with fn and replaces the config file
// atomically. The caller holds an exclusive lock. fn gets the config as
// it is on the storage now, not as it was at Open: another client may have
// changed it while this one waited for its lock.
func (r *Repository) UpdateConfig(ctx context.Context, fn func(*Config) error) error {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	cfg, err := r.readConfig(ctx)
	if err != nil {
		return err
	}
	if err := fn(&cfg); err != nil {
		return err
	}
	if err := r.writeConfig(ctx, cfg); err != nil {
		return err
	}
	r.cfg = cfg
	r.format.Store(int32(cfg.Version))
	return nil
}

// RequireFormat raises the repository's format version to at least
// version before data that needs it is written. Older clients then refuse
// the repository rather than misread it. Safe for concurrent use; it
// leaves the rest of the config as it is on the storage.
func (r *Repository) RequireFormat(ctx context.Context, version int) error {
	if int(r.format.Load()) >= version || r.opts.DryRun {
		return nil
	}
	if version > FormatVersion {
		return fmt.Errorf("repository format %d is newer than this cairn writes (%d)", version, FormatVersion)
	}
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	if int(r.format.Load()) >= version {
		return nil
	}
	cfg, err := r.readConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.Version < version {
		cfg.Version = version
		if err := r.writeConfig(ctx, cfg); err != nil {
			return fmt.Errorf("raise repository format to %d: %w", version, err)
		}
	}
	r.format.Store(int32(cfg.Version))
	return nil
}

// readConfig reads the config as it is on the storage now.
func (r *Repository) readConfig(ctx context.Context) (Config, error) {
	sealed, err := backend.LoadLimited(ctx, r.be, backend.Handle{Type: backend.ConfigFile}, MaxConfigSize)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := decodeConfig(r.key, sealed, r.be.Location())
	if err != nil {
		return Config{}, err
	}
	if cfg.ID != r.cfg.ID {
		return Config{}, fmt.Errorf("read config: %w: the repository ID changed from %s to %s", ErrDamaged, r.cfg.ID[:8], cfg.ID[:8])
	}
	return cfg, nil
}

func (r *Repository) writeConfig(ctx context.Context, cfg Config) error {
	plain, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	sealed := r.key.Seal(nil, plain, "config")
	if err := r.be.Replace(ctx, backend.Handle{Type: backend.ConfigFile}, bytes.NewReader(sealed), int64(len(sealed))); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// saveProtected runs save, which stores file h (size bytes, readable
// from ra), and writes h's parity file at the same time when parity is
// on: the two writes (and their fsyncs) overlap. Both are done when it
// returns nil, before any index or snapshot names the file.
func (r *Repository) saveProtected(ctx context.Context, h backend.Handle, ra io.ReaderAt, size int64, save func() error) error {
	if !r.cfg.Parity.Enabled() || r.opts.DryRun {
		return save()
	}
	perr := make(chan error, 1)
	go func() { perr <- r.writeParity(ctx, h, ra, size) }()
	err := save()
	if e := <-perr; err == nil {
		err = e
	}
	return err
}

// writeParity stores the parity file of a file just written, when parity
// is on. An existing parity file of the same name is for the same bytes.
func (r *Repository) writeParity(ctx context.Context, h backend.Handle, ra io.ReaderAt, size int64) error {
	if !r.cfg.Parity.Enabled() || r.opts.DryRun {
		return nil
	}
	err := r.Parity().Write(ctx, h, ra, size, r.cfg.Parity, false)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// Write computes the parity file of h, whose size bytes rd holds,
// and stores it; replace overwrites an existing (damaged) one.
func (pf *Parity) Write(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64, p parity.Params, replace bool) error {
	r := pf.r
	par, err := parity.Encode(rd, size, p)
	if err != nil {
		return fmt.Errorf("parity of %s: %w", h, err)
	}
	ph := ParityHandle(h)
	if replace {
		err = r.be.Replace(ctx, ph, bytes.NewReader(par), int64(len(par)))
	} else {
		err = backend.SaveBytes(ctx, r.be, ph, par)
	}
	if err != nil {
		return fmt.Errorf("save parity of %s: %w", h, err)
	}
	return nil
}

// RemoveFile deletes h and then its parity file, so a crash in between
// leaves an orphaned parity file (removed by `parity update`), never an
// unprotected file that claims protection.
func (r *Repository) RemoveFile(ctx context.Context, h backend.Handle) error {
	if err := r.be.Remove(ctx, h); err != nil {
		return err
	}
	if h.Type == backend.PackFile || h.Type == backend.IndexFile || h.Type == backend.SnapshotFile {
		if err := r.be.Remove(ctx, ParityHandle(h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove parity of %s: %w", h, err)
		}
	}
	return nil
}

// repairedFiles remembers files rebuilt from parity during this command:
// a damaged pack is rebuilt once however many blobs are read from it, and
// reported once.
type repairedFiles struct {
	mu    sync.Mutex
	files map[backend.Handle][]byte
	order []backend.Handle
}

const keepRepaired = 4

// Repaired rebuilds file h from its parity file: it loads whatever is
// left of h (nothing if it is missing) and the parity file, rebuilds the
// damaged shards and checks the result against h's name. Options.OnParity
// is told the first time each file is read this way.
func (pf *Parity) Repaired(ctx context.Context, h backend.Handle) ([]byte, error) {
	r := pf.r
	rf := &r.repaired
	rf.mu.Lock()
	if b, ok := rf.files[h]; ok {
		rf.mu.Unlock()
		return b, nil
	}
	rf.mu.Unlock()
	fixed, rep, err := r.rebuild(ctx, h)
	if err != nil {
		return nil, err
	}
	rf.mu.Lock()
	if rf.files == nil {
		rf.files = map[backend.Handle][]byte{}
	}
	if _, ok := rf.files[h]; !ok {
		if len(rf.order) == keepRepaired {
			delete(rf.files, rf.order[0])
			rf.order = rf.order[1:]
		}
		rf.files[h] = fixed
		rf.order = append(rf.order, h)
		if r.opts.OnParity != nil {
			r.opts.OnParity(h, rep)
		}
	}
	rf.mu.Unlock()
	return fixed, nil
}

// Rebuild rebuilds file h from its parity file without remembering it.
func (pf *Parity) Rebuild(ctx context.Context, h backend.Handle) ([]byte, *parity.Report, error) {
	r := pf.r
	return r.rebuild(ctx, h)
}

func (r *Repository) rebuild(ctx context.Context, h backend.Handle) ([]byte, *parity.Report, error) {
	// Parity is consulted only where the config asks for it: a parity
	// file planted in a repository without parity is never read.
	if !r.cfg.Parity.Enabled() {
		return nil, nil, fmt.Errorf("rebuild %s: %w: the repository keeps no parity", h, ErrDamaged)
	}
	maxFile := r.MaxFileSize(h.Type)
	par, err := backend.LoadLimited(ctx, r.be, ParityHandle(h), r.cfg.Parity.Size(maxFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("rebuild %s: %w: it has no parity file", h, ErrDamaged)
	}
	if errors.Is(err, backend.ErrTooLarge) {
		return nil, nil, fmt.Errorf("rebuild %s: %w: parity file: %w", h, ErrDamaged, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild %s: load parity: %w", h, err)
	}
	hdr, err := parity.ParseHeader(par)
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild %s from parity: %w: %w", h, ErrDamaged, err)
	}
	if hdr.FileSize > maxFile {
		return nil, nil, fmt.Errorf("rebuild %s from parity: %w: it claims %d bytes, more than a %s file can hold (%d)", h, ErrDamaged, hdr.FileSize, h.Type, maxFile)
	}
	file, err := backend.LoadLimited(ctx, r.be, h, hdr.FileSize)
	if errors.Is(err, backend.ErrTooLarge) {
		// Longer than its parity says: what lies past the claimed size
		// is not the file; the shards tell whether the rest is.
		if file, err = loadPrefix(ctx, r.be, h, hdr.FileSize); err != nil {
			return nil, nil, fmt.Errorf("rebuild %s: %w", h, err)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("rebuild %s: %w", h, err)
	}
	fixed, rep, err := parity.Repair(file, par)
	if err != nil {
		return nil, rep, fmt.Errorf("rebuild %s from parity: %w: %w", h, ErrDamaged, err)
	}
	if pack.Hash(fixed).String() != h.Name {
		return nil, rep, fmt.Errorf("rebuild %s from parity: %w: the rebuilt content does not match its name", h, ErrDamaged)
	}
	return fixed, rep, nil
}

// loadPrefix reads the first n bytes of h.
func loadPrefix(ctx context.Context, be backend.Backend, h backend.Handle, n int64) ([]byte, error) {
	var b []byte
	err := be.Load(ctx, h, int(n), 0, func(rd io.Reader) error {
		var err error
		b, err = io.ReadAll(io.LimitReader(rd, n))
		return err
	})
	return b, err
}

// MaxFileSize is the largest file of type t this repository can hold: a
// pack is its target size plus one blob and its header; index and
// snapshot files have their format's caps. No file of type t is read past
// it.
func (r *Repository) MaxFileSize(t backend.FileType) int64 {
	switch t {
	case backend.PackFile:
		return int64(r.cfg.PackSize) + pack.MaxBlobSize + 16<<20
	case backend.IndexFile:
		return MaxIndexFileSize
	case backend.SnapshotFile:
		return MaxSnapshotFileSize
	case backend.ConfigFile:
		return MaxConfigSize
	case backend.KeyFile:
		return crypto.MaxKeyFileSize
	case backend.LockFile:
		return MaxLockSize
	case backend.ParityFile:
		// Parity files are read only where the config asks for parity.
		if !r.cfg.Parity.Enabled() {
			return 0
		}
		return r.cfg.Parity.Size(r.MaxFileSize(backend.PackFile))
	}
	return 0
}

// Caps on index and snapshot files (sealed, as stored).
const (
	MaxIndexFileSize    = 1 << 30
	MaxSnapshotFileSize = 256 << 20
)

// ParityState is what a listing says about parity in the repository.
type ParityState struct {
	// Files and Bytes count the protected kinds of files.
	Files int
	Bytes int64
	// Protected files have a parity file; ParityBytes is the size of all
	// parity files (orphans included).
	Protected   int
	ParityFiles int
	ParityBytes int64
	// Missing are files without a parity file.
	Missing []backend.FileInfoOf
	// Orphans are parity files whose file is gone.
	Orphans []backend.FileInfo
	// Present maps the name of each protected file to its parity file.
	Present map[string]backend.FileInfo
	// Sizes maps each protected file's name to its size.
	Sizes map[string]int64
}

// State lists the protected files and the parity files. Parity
// files are listed first: a file written meanwhile has its parity written
// after it, so no parity file is taken for an orphan wrongly.
func (pf *Parity) State(ctx context.Context) (*ParityState, error) {
	r := pf.r
	st := &ParityState{Present: map[string]backend.FileInfo{}, Sizes: map[string]int64{}}
	pars := map[string]backend.FileInfo{}
	if err := r.be.List(ctx, backend.ParityFile, func(fi backend.FileInfo) error {
		pars[fi.Name] = fi
		st.ParityFiles++
		st.ParityBytes += fi.Size
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list parity: %w", err)
	}
	for _, t := range ProtectedTypes {
		if err := r.be.List(ctx, t, func(fi backend.FileInfo) error {
			if _, err := pack.ParseID(fi.Name); err != nil {
				return nil
			}
			st.Files++
			st.Bytes += fi.Size
			st.Sizes[fi.Name] = fi.Size
			if p, ok := pars[fi.Name]; ok {
				st.Protected++
				st.Present[fi.Name] = p
			} else {
				st.Missing = append(st.Missing, backend.FileInfoOf{Type: t, FileInfo: fi})
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("list %s: %w", t, err)
		}
	}
	for name, fi := range pars {
		if _, ok := st.Sizes[name]; !ok {
			st.Orphans = append(st.Orphans, fi)
		}
	}
	return st, nil
}

// ParityUpdate is what Parity.Update did.
type ParityUpdate struct {
	Written  int   `json:"written"`
	Replaced int   `json:"replaced"`
	Removed  int   `json:"orphans_removed"`
	Bytes    int64 `json:"parity_bytes_written"`
	Verified int   `json:"verified"`
	// Damaged lists protected files found damaged: their parity is left
	// alone, so it can still repair them.
	Damaged []string `json:"damaged,omitempty"`
}

// ParityProgress reports the progress of Parity.Update.
type ParityProgress func(done, total int)

// Update writes the parity files that are missing, and with verify
// also reads every existing parity file and rewrites the damaged ones. It
// removes orphaned parity files. Each file is done on its own, so an
// interrupted update resumes where it stopped. The caller holds a lock
// that keeps prune away.
func (pf *Parity) Update(ctx context.Context, verify bool, progress ParityProgress) (*ParityUpdate, error) {
	r := pf.r
	if err := r.requireRemovable("parity update"); err != nil {
		return nil, err
	}
	if !r.cfg.Parity.Enabled() {
		return nil, errors.New("parity update: parity is not enabled (cairn parity enable)")
	}
	st, err := r.Parity().State(ctx)
	if err != nil {
		return nil, err
	}
	res := &ParityUpdate{}
	for _, o := range st.Orphans {
		if err := r.be.Remove(ctx, backend.Handle{Type: backend.ParityFile, Name: o.Name}); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("remove orphaned parity file %s: %w", o.Name, err)
		}
		res.Removed++
	}
	type job struct {
		h    backend.Handle
		size int64
	}
	var jobs []job
	for _, m := range st.Missing {
		jobs = append(jobs, job{h: backend.Handle{Type: m.Type, Name: m.Name}, size: m.Size})
	}
	var checks []backend.Handle
	if verify {
		for _, t := range ProtectedTypes {
			ids, err := r.List(ctx, t)
			if err != nil {
				return res, err
			}
			for _, id := range ids {
				if _, ok := st.Present[id.String()]; ok {
					checks = append(checks, backend.Handle{Type: t, Name: id.String()})
				}
			}
		}
	}
	total, done := len(jobs)+len(checks), 0
	var mu sync.Mutex
	step := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	if progress != nil {
		progress(0, total)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, h := range checks {
		g.Go(func() error {
			par, err := r.loadLimited(gctx, ParityHandle(h))
			if err != nil {
				return fmt.Errorf("load parity of %s: %w", h, err)
			}
			rep, err := parity.CheckParity(par)
			bad := err != nil || rep.Damaged() || rep.Header.FileSize != st.Sizes[h.Name]
			if !bad {
				step(func() { res.Verified++ })
				return nil
			}
			n, werr := r.reprotect(gctx, h, true)
			if errors.Is(werr, ErrDamaged) {
				step(func() { res.Damaged = append(res.Damaged, h.String()) })
				return nil
			}
			if werr != nil {
				return werr
			}
			step(func() { res.Replaced++; res.Bytes += n })
			return nil
		})
	}
	for _, j := range jobs {
		g.Go(func() error {
			n, err := r.reprotect(gctx, j.h, false)
			if errors.Is(err, ErrDamaged) {
				step(func() { res.Damaged = append(res.Damaged, j.h.String()) })
				return nil
			}
			if err != nil {
				return err
			}
			step(func() { res.Written++; res.Bytes += n })
			return nil
		})
	}
	err = g.Wait()
	return res, err
}

// reprotect reads file h, checks it against its name and writes its
// parity file. A damaged file gets none (ErrDamaged): parity of damaged
// bytes would protect the damage.
func (r *Repository) reprotect(ctx context.Context, h backend.Handle, replace bool) (int64, error) {
	b, err := r.loadLimited(ctx, h)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", h, err)
	}
	if pack.Hash(b).String() != h.Name {
		return 0, fmt.Errorf("%s: %w: content does not match its name", h, ErrDamaged)
	}
	if err := r.Parity().Write(ctx, h, bytes.NewReader(b), int64(len(b)), r.cfg.Parity, replace); err != nil {
		if !replace && errors.Is(err, fs.ErrExist) {
			return 0, nil
		}
		return 0, err
	}
	return r.cfg.Parity.Size(int64(len(b))), nil
}

// RemoveOrphans removes parity files whose file is gone and which
// were written before cutoff.
func (pf *Parity) RemoveOrphans(ctx context.Context, cutoff time.Time) (int, error) {
	r := pf.r
	st, err := r.Parity().State(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range st.Orphans {
		if !o.ModTime.IsZero() && o.ModTime.After(cutoff) {
			continue
		}
		if err := r.be.Remove(ctx, backend.Handle{Type: backend.ParityFile, Name: o.Name}); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("remove orphaned parity file %s: %w", o.Name, err)
		}
		n++
	}
	return n, nil
}

// Disable switches parity off in the config, then removes every
// parity file. Run again, it removes what an interrupted run left.
func (pf *Parity) Disable(ctx context.Context) (int, error) {
	r := pf.r
	if r.cfg.Parity.Enabled() {
		if err := r.UpdateConfig(ctx, func(c *Config) error { c.Parity = parity.Params{}; return nil }); err != nil {
			return 0, err
		}
	}
	var names []string
	if err := r.be.List(ctx, backend.ParityFile, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("list parity: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, n := range names {
		g.Go(func() error {
			err := r.be.Remove(gctx, backend.Handle{Type: backend.ParityFile, Name: n})
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		})
	}
	return len(names), g.Wait()
}

// ErrParityRefused means the storage doesn't take parity files (a REST
// server that knows only restic's file types).
var ErrParityRefused = errors.New("the storage refuses parity files")

// Enable switches parity p on for files written from now on, after
// checking that the storage takes a parity file: a probe is written,
// read back and removed first, so a server that knows only restic's file
// types is found before the config says parity is on.
func (pf *Parity) Enable(ctx context.Context, p parity.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("parity enable: %w", err)
	}
	if err := pf.probe(ctx); err != nil {
		return err
	}
	return pf.r.UpdateConfig(ctx, func(c *Config) error { c.Parity = p; return nil })
}

// probe writes, reads back and removes a parity file of random bytes.
func (pf *Parity) probe(ctx context.Context) error {
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	h := backend.Handle{Type: backend.ParityFile, Name: pack.Hash(b[:]).String()}
	refused := func(err error) error {
		return fmt.Errorf("parity enable: %s: %w (%w); parity can't be used on this storage", pf.r.raw.Location(), ErrParityRefused, err)
	}
	if err := backend.SaveBytes(ctx, pf.r.be, h, b[:]); err != nil {
		return refused(err)
	}
	got, err := backend.LoadLimited(ctx, pf.r.be, h, int64(len(b)))
	if rerr := pf.r.be.Remove(ctx, h); err == nil {
		err = rerr
	}
	if err != nil {
		return refused(err)
	}
	if !bytes.Equal(got, b[:]) {
		return refused(errors.New("a parity file read back differs from what was written"))
	}
	return nil
}
