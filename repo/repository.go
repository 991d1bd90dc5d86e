package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/cairn-backup/cairn/chunker"
	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/cache"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/parity"
)

// Errors callers map to exit codes.
var (
	// ErrNoRepository means there is no repository at the location.
	ErrNoRepository = errors.New("repository does not exist")
	// ErrWrongPassword means no key opened with the password.
	ErrWrongPassword = crypto.ErrWrongPassword
	// ErrDamaged means a file or blob failed its hash or authentication
	// check, or is missing.
	ErrDamaged = errors.New("repository damage")
)

// Repository format versions. A repository starts at version 1 and is
// raised to SplitTreeFormat when the first split tree is written, so a
// client too old to read split trees refuses the repository instead of
// restoring a split directory as an empty one.
const (
	// FormatVersion is the newest format this code reads and writes.
	FormatVersion = 2
	// initFormat is the version init writes.
	initFormat = 1
	// SplitTreeFormat is the first version with split trees.
	SplitTreeFormat = 2
)

// Config is the sealed content of the config file.
type Config struct {
	Version           int         `json:"version"`
	ID                string      `json:"id"`
	ChunkerPolynomial chunker.Pol `json:"chunker_polynomial"`
	MinChunkSize      uint        `json:"min_chunk_size"`
	MaxChunkSize      uint        `json:"max_chunk_size"`
	PackSize          int         `json:"pack_size"`
	Compression       string      `json:"compression"`
	// Parity is off when zero; otherwise every pack, index and snapshot
	// file written gets a parity file with these shard counts.
	Parity parity.Params `json:"parity,omitzero"`
	// Mirrors are repositories `copy --mirrors` keeps up to date.
	Mirrors []Mirror `json:"mirrors,omitempty"`
}

// Mirror is a repository listed in the config as a copy target. It holds
// where the mirror's password comes from, never the password; without
// either, the mirror shares this repository's password.
type Mirror struct {
	Location string `json:"location"`
	// PasswordFile and PasswordCommand were written by older versions.
	// They are never used: a command or a local path read from a
	// repository must not be run or read (anyone with a key could plant
	// one for every client). The password source is local: flags, the
	// profile, or the repository's own password.
	PasswordFile    string `json:"password_file,omitempty"`
	PasswordCommand string `json:"password_command,omitempty"`
}

// Compression levels accepted by --compression and the config. "auto" is
// the level measured best for backups, not zstd's habit: on the benchmark
// data (scripts/bench.sh) SpeedFastest compresses text 1.5×, binaries 1.5×
// faster than SpeedDefault, for repositories 0–5% larger (source code
// +5%, generated binaries 5% smaller); a backup spends most of its CPU
// compressing. Random data costs nothing at either level: zstd stores an
// incompressible block as it is after a quick look. What SpeedFastest
// leaves uncompressed although its bytes are of a small alphabet (hex
// digits: SpeedDefault takes a third off) is compressed again at
// SpeedDefault (pack.Codec).
var compressionLevels = map[string]zstd.EncoderLevel{
	"off":     0,
	"fastest": zstd.SpeedFastest,
	"auto":    zstd.SpeedFastest,
	"better":  zstd.SpeedBetterCompression,
	"max":     zstd.SpeedBestCompression,
}

// ParseCompression checks a compression mode name.
func ParseCompression(s string) (zstd.EncoderLevel, error) {
	l, ok := compressionLevels[s]
	if !ok {
		return 0, fmt.Errorf("invalid compression %q: want auto, off, fastest, better or max", s)
	}
	return l, nil
}

// Options tune an opened repository.
type Options struct {
	// Compression overrides the config's default for blobs written now.
	Compression string
	// Now returns the current time (tests inject a clock).
	Now func() time.Time
	// IndexInterval is how long a backup uploads at most before it
	// writes an index file for the packs stored so far, besides every 64
	// packs or 64k blobs (0: DefaultIndexInterval). Measured on Now.
	IndexInterval time.Duration
	// Uploads is the number of packs uploaded concurrently.
	Uploads int
	// TempDir holds data packs while they are filled ("": os.TempDir).
	TempDir string
	// DryRun makes the blob store count what it would store without
	// writing anything.
	DryRun bool
	// OnParity is told when a damaged file was read through its parity
	// file (once per file).
	OnParity func(h backend.Handle, rep *parity.Report)
	// KeyHint names the key file to try first (the one that opened the
	// repository last time; see KeyID).
	KeyHint string
}

// Repository is an opened repository: keys, config, index and blob store.
type Repository struct {
	// be is raw behind the guard of the session (writes need a lock).
	be      backend.Backend
	raw     backend.Backend
	session *Session
	key     *crypto.Key
	keyID   string
	cfg     Config
	// cfgMu serializes config writes; format is the version the config
	// on the storage is known to have (RequireFormat raises it while
	// savers read cfg, so it is kept apart).
	cfgMu  sync.Mutex
	format atomic.Int32
	idx    *index.Index
	opts   Options
	level  zstd.EncoderLevel
	// codecs is a bounded free list, not a sync.Pool: a GC must not
	// drop zstd encoders and decoders, which are costly to rebuild.
	codecs chan *blobCodec
	// readBufs is a bounded free list of the buffers pack readers use.
	readBufs chan []byte

	w        *writer
	cache    *cache.Backend
	repaired repairedFiles
}

// InitOptions are the settings of a new repository.
type InitOptions struct {
	// Chunker, when set, gives the new repository these chunker
	// parameters (init --copy-chunker-params) instead of random ones, so
	// backups deduplicate against copies from the repository they came
	// from.
	Chunker     *Config
	PackSize    int
	Compression string
	KDF         crypto.KDFParams
	Now         time.Time
}

// Init creates a repository on be, protected by password.
func Init(ctx context.Context, be backend.Backend, password string, o InitOptions) (*Repository, error) {
	if password == "" {
		return nil, errors.New("init: empty password")
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		if errors.Is(CheckFormat(ctx, be, ""), ErrResticRepository) {
			return nil, fmt.Errorf("init %s: a restic repository already exists there", be.Location())
		}
		return nil, fmt.Errorf("init %s: repository already exists", be.Location())
	}
	if o.PackSize == 0 {
		o.PackSize = 16 << 20
	}
	if o.PackSize < 1<<20 || o.PackSize > 512<<20 {
		return nil, fmt.Errorf("init: pack size %d out of range (1 MiB to 512 MiB)", o.PackSize)
	}
	if o.Compression == "" {
		o.Compression = "auto"
	}
	if _, err := ParseCompression(o.Compression); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if o.KDF == (crypto.KDFParams{}) {
		o.KDF = crypto.DefaultKDF
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if c, ok := be.(backend.Creator); ok {
		if err := c.Create(ctx); err != nil {
			return nil, err
		}
	}
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	var rid [32]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, err
	}
	cfg := Config{Version: initFormat, ID: pack.ID(rid).String(), ChunkerPolynomial: pol,
		MinChunkSize: chunker.DefaultMinSize, MaxChunkSize: chunker.DefaultMaxSize,
		PackSize: o.PackSize, Compression: o.Compression}
	if c := o.Chunker; c != nil {
		cfg.ChunkerPolynomial, cfg.MinChunkSize, cfg.MaxChunkSize = c.ChunkerPolynomial, c.MinChunkSize, c.MaxChunkSize
	}
	key, err := crypto.NewRandomKey()
	if err != nil {
		return nil, err
	}
	r := newRepository(be, key, cfg, Options{})
	// The key first, then the config: a repository whose config exists
	// can always be opened.
	if r.keyID, err = r.saveKeyFile(ctx, password, o.KDF, o.Now); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := backend.SaveBytes(ctx, be, backend.Handle{Type: backend.ConfigFile}, key.Seal(nil, plain, "config")); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	return r, nil
}

func newRepository(be backend.Backend, key *crypto.Key, cfg Config, o Options) *Repository {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Uploads <= 0 {
		o.Uploads = 2
	}
	r := &Repository{be: &guarded{Backend: be}, raw: be, key: key, cfg: cfg, idx: index.New(), opts: o}
	r.level, _ = ParseCompression(cfg.Compression)
	if o.Compression != "" {
		r.level, _ = ParseCompression(o.Compression)
	}
	r.codecs = make(chan *blobCodec, 4*runtime.GOMAXPROCS(0))
	r.readBufs = make(chan []byte, 4*runtime.GOMAXPROCS(0))
	r.format.Store(int32(cfg.Version))
	return r
}

// Open unlocks the repository on be with password and reads its config. It
// does not load the index; call LoadIndex.
func Open(ctx context.Context, be backend.Backend, password string, o Options) (*Repository, error) {
	if o.Compression != "" {
		if _, err := ParseCompression(o.Compression); err != nil {
			return nil, err
		}
	}
	cfgHandle := backend.Handle{Type: backend.ConfigFile}
	sealedCfg, err := backend.LoadLimited(ctx, be, cfgHandle, MaxConfigSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, backend.ErrTooLarge) {
		return nil, fmt.Errorf("open %s: %w", be.Location(), err)
	}
	// Storage that keeps versions (S3 with Object Lock) may hold the
	// config under a delete marker or a newer version that someone with
	// the storage's credentials put there: then its earlier versions are
	// tried, and the newest that opens with the key is the config.
	var earlier [][]byte
	if err != nil {
		earlier, _ = backend.Versions(ctx, be, cfgHandle, MaxConfigSize)
		switch {
		case len(earlier) > 0:
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("open %s: %w", be.Location(), ErrNoRepository)
		default:
			return nil, fmt.Errorf("open %s: config: %w: %w", be.Location(), ErrDamaged, err)
		}
	}
	key, keyID, err := findKey(ctx, be, password, o.KeyHint)
	if err != nil {
		return nil, err
	}
	var cfg Config
	err = errors.New("no config")
	if sealedCfg != nil {
		cfg, err = decodeConfig(key, sealedCfg, be.Location())
	}
	if err != nil && earlier == nil {
		earlier, _ = backend.Versions(ctx, be, cfgHandle, MaxConfigSize)
	}
	for _, v := range earlier {
		if err == nil {
			break
		}
		cfg, err = decodeConfig(key, v, be.Location())
	}
	if err != nil {
		return nil, err
	}
	r := newRepository(be, key, cfg, o)
	r.keyID = keyID
	return r, nil
}

// decodeConfig opens and validates the sealed config of the repository at
// location.
func decodeConfig(key *crypto.Key, sealedCfg []byte, location string) (Config, error) {
	plain, err := key.Open(nil, sealedCfg, "config")
	if err != nil {
		return Config{}, fmt.Errorf("open config: %w: %w", ErrDamaged, err)
	}
	var cfg Config
	if err := json.Unmarshal(plain, &cfg); err != nil {
		return Config{}, fmt.Errorf("decode config: %w: %w", ErrDamaged, err)
	}
	if cfg.Version < 1 || cfg.Version > FormatVersion {
		return Config{}, fmt.Errorf("open %s: unsupported repository version %d (this cairn reads versions 1 to %d; upgrade cairn)", location, cfg.Version, FormatVersion)
	}
	// The ID names the local cache directory: a hostile config must not
	// make it a path.
	if id, err := pack.ParseID(cfg.ID); err != nil || id.String() != cfg.ID {
		return Config{}, fmt.Errorf("decode config: %w: repository ID %q is not 64 lowercase hex characters", ErrDamaged, cfg.ID)
	}
	if cfg.PackSize < 1<<20 || cfg.MinChunkSize == 0 || cfg.MaxChunkSize < cfg.MinChunkSize || cfg.MaxChunkSize > pack.MaxBlobSize {
		return Config{}, fmt.Errorf("decode config: %w: parameters out of range", ErrDamaged)
	}
	if _, err := ParseCompression(cfg.Compression); err != nil {
		return Config{}, fmt.Errorf("decode config: %w", err)
	}
	if cfg.Parity.Enabled() {
		if err := cfg.Parity.Validate(); err != nil {
			return Config{}, fmt.Errorf("decode config: %w", err)
		}
	}
	return cfg, nil
}

// MaxConfigSize bounds the config file; a larger one is never read.
const MaxConfigSize = 1 << 20

// MaxKeyFilesTried bounds how many key files one Open tries: each costs a
// key derivation, and anyone who can write to the storage can plant more.
const MaxKeyFilesTried = 20

// findKey tries the key files with password: hint (the key that worked
// last time) first, then the others in listing order, at most
// MaxKeyFilesTried in all.
func findKey(ctx context.Context, be backend.Backend, password, hint string) (*crypto.Key, string, error) {
	var names []string
	if err := be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		if fi.Name == hint {
			names = append([]string{fi.Name}, names...)
		} else {
			names = append(names, fi.Name)
		}
		return nil
	}); err != nil {
		return nil, "", fmt.Errorf("list keys: %w", err)
	}
	if len(names) == 0 {
		return nil, "", errors.New("open repository: no key files found")
	}
	var errs []error
	tried := 0
	restic := false
	for _, name := range names {
		if tried == MaxKeyFilesTried {
			errs = append(errs, fmt.Errorf("%d more key files not tried (at most %d are; `cairn key list` with a key that opens, then `cairn key remove` the ones not needed)", len(names)-tried, MaxKeyFilesTried))
			break
		}
		kf, err := loadKeyFile(ctx, be, name)
		if err != nil {
			restic = restic || errors.Is(err, errResticKey)
			errs = append(errs, err)
			continue
		}
		tried++
		key, err := kf.Open(password)
		if err == nil {
			return key, name, nil
		}
		if !errors.Is(err, crypto.ErrWrongPassword) {
			errs = append(errs, fmt.Errorf("key %s: %w", name, err))
		}
	}
	if tried == 0 && restic {
		return nil, "", &resticError{location: be.Location()}
	}
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("%w (%w)", crypto.ErrWrongPassword, errors.Join(errs...))
	}
	return nil, "", crypto.ErrWrongPassword
}

func loadKeyFile(ctx context.Context, be backend.Backend, name string) (*crypto.KeyFile, error) {
	h := backend.Handle{Type: backend.KeyFile, Name: name}
	b, err := backend.LoadLimited(ctx, be, h, crypto.MaxKeyFileSize)
	if errors.Is(err, backend.ErrTooLarge) {
		return nil, fmt.Errorf("key %s: %w: %w", name, ErrDamaged, err)
	}
	if err != nil {
		return nil, err
	}
	if pack.Hash(b).String() != name {
		return nil, fmt.Errorf("key %s: %w: content does not match its name", name, ErrDamaged)
	}
	kf, err := crypto.ParseKeyFile(b)
	if err != nil && isResticKey(b) {
		return nil, fmt.Errorf("key %s: %w", name, errResticKey)
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	return kf, nil
}

func (r *Repository) saveKeyFile(ctx context.Context, password string, p crypto.KDFParams, now time.Time) (string, error) {
	host, _ := os.Hostname()
	username := ""
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	kf, err := crypto.NewKeyFile(r.key, password, p, host, username, now)
	if err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return "", err
	}
	id := pack.Hash(b).String()
	if err := backend.SaveBytes(ctx, r.be, backend.Handle{Type: backend.KeyFile, Name: id}, b); err != nil {
		return "", fmt.Errorf("save key: %w", err)
	}
	return id, nil
}

// Close ends the open session, if any, and closes the backend (the ssh
// child of an SFTP repository ends here). The repository can't be used
// afterwards.
func (r *Repository) Close() error {
	if r.session != nil {
		r.session.Close()
	}
	return backend.Close(r.raw)
}

// Config returns the repository configuration.
func (r *Repository) Config() Config { return r.cfg }

// Backend returns the storage backend.
func (r *Repository) Backend() backend.Backend { return r.be }

// Index returns the in-memory index.
func (r *Repository) Index() *index.Index { return r.idx }

// Key returns the master key.
func (r *Repository) Key() *crypto.Key { return r.key }

// KeyID returns the name of the key file that opened the repository.
func (r *Repository) KeyID() string { return r.keyID }

// Now returns the repository's clock.
func (r *Repository) Now() time.Time { return r.opts.Now() }

// NewChunker returns a chunker with the repository's polynomial and bounds.
func (r *Repository) NewChunker() *chunker.Chunker {
	return chunker.New(r.cfg.ChunkerPolynomial, r.cfg.MinChunkSize, r.cfg.MaxChunkSize)
}

// NewGeneration returns a fresh random generation ID.
func NewGeneration() (pack.Generation, error) {
	var g pack.Generation
	_, err := rand.Read(g[:])
	return g, err
}

// unpackedAD is the additional data sealed into a file of type t.
func unpackedAD(t backend.FileType) string {
	switch t {
	case backend.IndexFile:
		return "index"
	case backend.SnapshotFile:
		return "snapshot"
	case backend.LockFile:
		return "lock"
	}
	return t.String()
}

// SaveUnpacked seals plaintext as a file of type t named by the SHA-256 of
// its stored bytes. Index files are zstd-compressed first.
func (r *Repository) SaveUnpacked(ctx context.Context, t backend.FileType, plaintext []byte) (pack.ID, error) {
	if t == backend.IndexFile {
		// A 2 MiB window, as for blobs: the default (8 MiB) costs a
		// backup that much more memory for each index file it writes,
		// for no gain on data this uniform.
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithWindowSize(2<<20))
		plaintext = enc.EncodeAll(plaintext, nil)
	}
	sealed := r.key.Seal(nil, plaintext, unpackedAD(t))
	id := pack.Hash(sealed)
	h := backend.Handle{Type: t, Name: id.String()}
	save := func() error { return backend.SaveBytes(ctx, r.be, h, sealed) }
	if t == backend.IndexFile || t == backend.SnapshotFile {
		if err := r.saveProtected(ctx, h, bytes.NewReader(sealed), int64(len(sealed)), save); err != nil {
			return id, err
		}
	} else if err := save(); err != nil {
		return id, err
	}
	if t == backend.SnapshotFile && r.session != nil {
		r.session.wroteSnapshot(id)
	}
	return id, nil
}

// LoadFile reads all of file h as stored, at most MaxFileSize(h.Type)
// bytes: a larger file is damage (ErrDamaged), found without reading it
// whole. Everything that reads a whole repository file goes through it.
func (r *Repository) LoadFile(ctx context.Context, h backend.Handle) ([]byte, error) {
	return r.loadLimited(ctx, h)
}

// LoadFileInto is LoadFile reading into buf's storage when it is large
// enough, for callers that read file after file.
func (r *Repository) LoadFileInto(ctx context.Context, h backend.Handle, buf []byte) ([]byte, error) {
	b, err := backend.LoadLimitedInto(ctx, r.be, h, r.MaxFileSize(h.Type), buf)
	if errors.Is(err, backend.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return b, err
}

func (r *Repository) loadLimited(ctx context.Context, h backend.Handle) ([]byte, error) {
	b, err := backend.LoadLimited(ctx, r.be, h, r.MaxFileSize(h.Type))
	if errors.Is(err, backend.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return b, err
}

// LoadUnpacked reads, checks and opens a file of type t.
func (r *Repository) LoadUnpacked(ctx context.Context, t backend.FileType, id pack.ID) ([]byte, error) {
	h := backend.Handle{Type: t, Name: id.String()}
	var sealed []byte
	var err error
	sealed, err = r.loadLimited(ctx, h)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil || pack.Hash(sealed) != id {
		// Read through parity where there is some.
		fixed, perr := r.Parity().Repaired(ctx, h)
		if perr != nil {
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("load %s: %w: content does not match its name", h, ErrDamaged)
		}
		sealed = fixed
	}
	plain, err := r.key.Open(nil, sealed, unpackedAD(t))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w: %w", h, ErrDamaged, err)
	}
	if t == backend.IndexFile {
		dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		defer dec.Close()
		plain, err = dec.DecodeAll(plain, nil)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w: decompress: %w", h, ErrDamaged, err)
		}
	}
	return plain, nil
}

// List returns the IDs of all files of type t. Names that are not IDs are
// skipped. In a session with the index loaded, snapshots are only those
// the index covers: listed before it was loaded, or written since by this
// session.
func (r *Repository) List(ctx context.Context, t backend.FileType) ([]pack.ID, error) {
	var ids []pack.ID
	s := r.session
	err := r.be.List(ctx, t, func(fi backend.FileInfo) error {
		if id, err := pack.ParseID(fi.Name); err == nil {
			if t == backend.SnapshotFile && s != nil {
				if covered, ok := s.covers(id); ok && !covered {
					return nil
				}
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// FindID resolves a unique hex prefix of a file of type t.
func (r *Repository) FindID(ctx context.Context, t backend.FileType, prefix string) (pack.ID, error) {
	if id, err := pack.ParseID(prefix); err == nil {
		return id, nil
	}
	ids, err := r.List(ctx, t)
	if err != nil {
		return pack.ID{}, err
	}
	var found []pack.ID
	for _, id := range ids {
		if bytes.HasPrefix([]byte(id.String()), []byte(prefix)) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return pack.ID{}, fmt.Errorf("no %s file with ID %q: %w", t, prefix, fs.ErrNotExist)
	case 1:
		return found[0], nil
	}
	return pack.ID{}, fmt.Errorf("ID prefix %q of %s is ambiguous (%d matches)", prefix, t, len(found))
}
