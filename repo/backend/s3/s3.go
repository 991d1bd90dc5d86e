// Package s3 stores a repository in an S3-compatible bucket (AWS, MinIO,
// Ceph RGW, Backblaze B2's S3 API) with github.com/minio/minio-go/v7.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-backup/cairn/repo/backend"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	Endpoint     string // host[:port]
	Secure       bool
	Bucket       string
	Prefix       string
	KeyID        string
	Secret       string
	SessionToken string
	Region       string
	// BucketLookup is "auto", "path" or "dns".
	BucketLookup string
	StorageClass string
	// Connections bounds concurrent requests (default 5).
	Connections int
	// LockMode and LockFor set S3 Object Lock retention on every
	// config, key, pack and snapshot file written: mode "GOVERNANCE" or
	// "COMPLIANCE", retained until LockFor after the write (-o
	// s3.object-lock=governance:30d). Index, parity and lock files are
	// not retained: they are rebuilt from packs, or must go when a
	// command ends. The bucket must have Object Lock enabled.
	LockMode string
	LockFor  time.Duration
}

// ParseObjectLock parses the value of -o s3.object-lock, mode:duration
// with mode governance or compliance and a duration in days or hours
// ("30d", "12h").
func ParseObjectLock(value string) (mode string, d time.Duration, err error) {
	bad := fmt.Errorf("-o s3.object-lock=%s: want governance:DURATION or compliance:DURATION with a duration like 30d or 12h", value)
	m, dur, ok := strings.Cut(value, ":")
	switch strings.ToLower(m) {
	case "governance":
		mode = string(minio.Governance)
	case "compliance":
		mode = string(minio.Compliance)
	default:
		return "", 0, bad
	}
	if !ok || len(dur) < 2 {
		return "", 0, bad
	}
	n, err := strconv.ParseUint(dur[:len(dur)-1], 10, 32)
	if err != nil || n == 0 {
		return "", 0, bad
	}
	switch dur[len(dur)-1] {
	case 'd':
		d = time.Duration(n) * 24 * time.Hour
	case 'h':
		d = time.Duration(n) * time.Hour
	default:
		return "", 0, bad
	}
	if d > 100*365*24*time.Hour {
		return "", 0, bad
	}
	return mode, d, nil
}

// ParseURL parses s3:http[s]://host[:port]/bucket[/prefix].
func ParseURL(s string) (Config, error) {
	var c Config
	shown := backend.Redact(s)
	rest, ok := strings.CutPrefix(s, "s3:")
	if !ok {
		return c, fmt.Errorf("s3 location %q: want s3:https://host/bucket[/prefix]", shown)
	}
	u, err := url.Parse(rest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("s3 location %q: want s3:http[s]://host[:port]/bucket[/prefix]", shown)
	}
	if u.User != nil {
		return c, fmt.Errorf("s3 location %q: credentials don't go in the location; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", shown)
	}
	c.Endpoint, c.Secure = u.Host, u.Scheme == "https"
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if bucket == "" {
		return c, fmt.Errorf("s3 location %q: no bucket", shown)
	}
	c.Bucket, c.Prefix = bucket, prefix
	return c, nil
}

// ApplyOption sets a -o s3.* option.
func (c *Config) ApplyOption(key, value string) error {
	switch key {
	case "s3.region":
		c.Region = value
	case "s3.bucket-lookup":
		if value != "auto" && value != "path" && value != "dns" {
			return fmt.Errorf("-o s3.bucket-lookup=%s: want auto, path or dns", value)
		}
		c.BucketLookup = value
	case "s3.storage-class":
		c.StorageClass = value
	case "s3.connections":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return fmt.Errorf("-o s3.connections=%s: want a positive number", value)
		}
		c.Connections = n
	case "s3.object-lock":
		mode, d, err := ParseObjectLock(value)
		if err != nil {
			return err
		}
		c.LockMode, c.LockFor = mode, d
	default:
		return fmt.Errorf("unknown option -o %s for an s3 repository (known: s3.region, s3.bucket-lookup, s3.storage-class, s3.connections, s3.object-lock)", key)
	}
	return nil
}

// Backend is a repository in a bucket.
type Backend struct {
	cfg    Config
	client *minio.Client
	sem    chan struct{}

	// lock caches whether the bucket has Object Lock enabled, once a
	// request said so either way.
	lockMu    sync.Mutex
	lockKnown bool
	lockOn    bool

	// vers holds the first version of files read under the immutable
	// view (versions.go), by key.
	versMu sync.Mutex
	vers   map[string]version
}

// Open connects (lazily: no request is made yet).
func Open(cfg Config) (*Backend, error) {
	if cfg.KeyID == "" || cfg.Secret == "" {
		return nil, errors.New("s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	lookup := minio.BucketLookupAuto
	switch cfg.BucketLookup {
	case "path":
		lookup = minio.BucketLookupPath
	case "dns":
		lookup = minio.BucketLookupDNS
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.KeyID, cfg.Secret, cfg.SessionToken),
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 %s: %w", cfg.Endpoint, err)
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 5
	}
	return &Backend{cfg: cfg, client: client, sem: make(chan struct{}, cfg.Connections)}, nil
}

func (b *Backend) acquire(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backend) release() { <-b.sem }

// Location returns the location without secrets.
func (b *Backend) Location() string {
	scheme := "http"
	if b.cfg.Secure {
		scheme = "https"
	}
	return "s3:" + scheme + "://" + b.cfg.Endpoint + "/" + path.Join(b.cfg.Bucket, b.cfg.Prefix)
}

func (b *Backend) key(h backend.Handle) string {
	if b.cfg.Prefix == "" {
		return h.Path()
	}
	return b.cfg.Prefix + "/" + h.Path()
}

// notExist makes a missing object satisfy fs.ErrNotExist.
func notExist(err error) error {
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

// Create makes the bucket if it is missing; it fails if a config exists.
func (b *Backend) Create(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", b.cfg.Bucket, err)
	}
	if !ok {
		opts := minio.MakeBucketOptions{Region: b.cfg.Region, ObjectLocking: b.cfg.LockMode != ""}
		if err := b.client.MakeBucket(ctx, b.cfg.Bucket, opts); err != nil {
			return fmt.Errorf("s3 create bucket %s: %w", b.cfg.Bucket, err)
		}
	}
	if b.cfg.LockMode != "" {
		on, err := b.lockEnabled(ctx)
		if err != nil {
			return fmt.Errorf("s3 bucket %s: object lock configuration: %w", b.cfg.Bucket, err)
		}
		if !on {
			return fmt.Errorf("s3 bucket %s: -o s3.object-lock needs a bucket with Object Lock enabled (it can only be enabled when the bucket is made)", b.cfg.Bucket)
		}
	}
	if _, err := b.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return fmt.Errorf("create repository %s: %w", b.Location(), fs.ErrExist)
	}
	return nil
}

// Save uploads h; an object appears whole or not at all (large packs go
// up in parts, which S3 assembles only when all arrived).
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	return b.save(ctx, h, rd, size, false)
}

// Replace is Save that may replace an existing object (a PUT replaces
// an object atomically).
func (b *Backend) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	return b.save(ctx, h, rd, size, true)
}

func (b *Backend) save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64, replace bool) error {
	key := b.key(h)
	immutable, err := b.immutableView(ctx, h)
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if !replace && immutable {
		if _, exists, err := b.firstVersion(ctx, key); err != nil {
			return fmt.Errorf("save %s: %w", h, err)
		} else if exists {
			return fmt.Errorf("save %s: %w", h, fs.ErrExist)
		}
	}
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	if !replace && !immutable {
		if _, err := b.client.StatObject(ctx, b.cfg.Bucket, key, minio.StatObjectOptions{}); err == nil {
			return fmt.Errorf("save %s: %w", h, fs.ErrExist)
		}
	}
	// A checksum on every PUT (and part): a bucket with Object Lock
	// refuses writes without one, and it catches corruption on the way.
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", StorageClass: b.cfg.StorageClass,
		PartSize: 16 << 20, SendContentMd5: true}
	if b.cfg.LockMode != "" && retained(h.Type) {
		opts.Mode = minio.RetentionMode(b.cfg.LockMode)
		opts.RetainUntilDate = time.Now().Add(b.cfg.LockFor)
	}
	info, err := b.client.PutObject(ctx, b.cfg.Bucket, key, io.NewSectionReader(rd, 0, size), size, opts)
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if immutable && info.VersionID != "" && !replace {
		b.remember(key, version{id: info.VersionID, size: size, mod: time.Now()})
	}
	return nil
}

// Load reads a range of h.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	opts := minio.GetObjectOptions{}
	if immutable, err := b.immutableView(ctx, h); err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	} else if immutable {
		v, ok, err := b.firstVersion(ctx, b.key(h))
		if err != nil {
			return fmt.Errorf("load %s: %w", h, err)
		}
		if !ok {
			return fmt.Errorf("load %s: %w", h, notFound(h))
		}
		opts.VersionID = v.id
	}
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	if offset > 0 || length > 0 {
		end := int64(0)
		if length > 0 {
			end = offset + int64(length) - 1
		}
		if err := opts.SetRange(offset, end); err != nil {
			return fmt.Errorf("load %s: %w", h, err)
		}
	}
	obj, err := b.client.GetObject(ctx, b.cfg.Bucket, b.key(h), opts)
	if err != nil {
		return fmt.Errorf("load %s: %w", h, notExist(err))
	}
	defer obj.Close()
	// GetObject is lazy: look at the object first so a missing one is
	// reported as such and not as a read error inside fn.
	if _, err := obj.Stat(); err != nil {
		return fmt.Errorf("load %s: %w", h, notExist(err))
	}
	if err := fn(obj); err != nil {
		return fmt.Errorf("load %s: %w", h, notExist(err))
	}
	return nil
}

// Stat returns the size of h.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if immutable, err := b.immutableView(ctx, h); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, err)
	} else if immutable {
		v, ok, err := b.firstVersion(ctx, b.key(h))
		if err != nil {
			return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, err)
		}
		if !ok {
			return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, notFound(h))
		}
		return backend.FileInfo{Name: h.Name, Size: v.size, ModTime: v.mod}, nil
	}
	if err := b.acquire(ctx); err != nil {
		return backend.FileInfo{}, err
	}
	defer b.release()
	oi, err := b.client.StatObject(ctx, b.cfg.Bucket, b.key(h), minio.StatObjectOptions{})
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, notExist(err))
	}
	return backend.FileInfo{Name: h.Name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// retained reports the file types -o s3.object-lock retains: those a
// repository can't be rebuilt without.
func retained(t backend.FileType) bool {
	switch t {
	case backend.ConfigFile, backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile:
		return true
	}
	return false
}

// lockEnabled reports whether the bucket has Object Lock enabled.
func (b *Backend) lockEnabled(ctx context.Context) (bool, error) {
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	if b.lockKnown {
		return b.lockOn, nil
	}
	if err := b.acquire(ctx); err != nil {
		return false, err
	}
	defer b.release()
	state, _, _, _, err := b.client.GetObjectLockConfig(ctx, b.cfg.Bucket)
	switch {
	case err == nil:
		b.lockOn = state == "Enabled"
	case minio.ToErrorResponse(err).Code == "ObjectLockConfigurationNotFoundError":
		b.lockOn = false
	default:
		return false, fmt.Errorf("s3 bucket %s: %w", b.cfg.Bucket, notExist(err))
	}
	b.lockKnown = true
	return b.lockOn, nil
}

// RetainedUntil returns the retain-until date of h's current version if
// it is still ahead, else the zero time (also in a bucket without Object
// Lock, where it costs no request after the first).
func (b *Backend) RetainedUntil(ctx context.Context, h backend.Handle) (time.Time, error) {
	on, err := b.lockEnabled(ctx)
	if err != nil || !on {
		return time.Time{}, err
	}
	versionID := ""
	if versioned(h.Type) {
		v, ok, err := b.firstVersion(ctx, b.key(h))
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			return time.Time{}, fmt.Errorf("retention of %s: %w", h, notFound(h))
		}
		versionID = v.id
	}
	if err := b.acquire(ctx); err != nil {
		return time.Time{}, err
	}
	defer b.release()
	_, until, err := b.client.GetObjectRetention(ctx, b.cfg.Bucket, b.key(h), versionID)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchObjectLockConfiguration" {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("retention of %s: %w", h, notExist(err))
	}
	if until == nil || !until.After(time.Now()) {
		return time.Time{}, nil
	}
	return *until, nil
}

// Remove deletes h (S3 deletes missing keys silently: look first). A file
// under retention is refused with a *backend.RetainedError. In a bucket
// with Object Lock, a pack, index, snapshot or key file is removed with
// every version of it (versions.go); other files leave a delete marker
// and their data as a noncurrent version, which a lifecycle rule that
// expires noncurrent versions frees.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if immutable, err := b.immutableView(ctx, h); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	} else if immutable {
		return b.removeVersions(ctx, h)
	}
	if _, err := b.Stat(ctx, h); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	until, err := b.RetainedUntil(ctx, h)
	if err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	if !until.IsZero() {
		return &backend.RetainedError{Handle: h, Until: until}
	}
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	if err := b.client.RemoveObject(ctx, b.cfg.Bucket, b.key(h), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	return nil
}

// List calls fn for each file of type t.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	prefix := t.String() + "/"
	if b.cfg.Prefix != "" {
		prefix = b.cfg.Prefix + "/" + prefix
	}
	if versioned(t) {
		on, err := b.lockEnabled(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", t, err)
		}
		if on {
			return b.listVersions(ctx, prefix, fn)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range b.client.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("list %s: %w", t, notExist(oi.Err))
		}
		if err := fn(backend.FileInfo{Name: path.Base(oi.Key), Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// Close does nothing: requests hold no connection state.
func (b *Backend) Close() error { return nil }

var _ backend.Retainer = (*Backend)(nil)

// Key returns the object key of h (for tests and diagnostics).
func (b *Backend) Key(h backend.Handle) string { return b.key(h) }

// notFound is a missing file, for fs.ErrNotExist.
func notFound(h backend.Handle) error { return fmt.Errorf("%s: %w", h, fs.ErrNotExist) }
