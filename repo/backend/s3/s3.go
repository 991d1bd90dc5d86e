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
	default:
		return fmt.Errorf("unknown option -o %s for an s3 repository (known: s3.region, s3.bucket-lookup, s3.storage-class, s3.connections)", key)
	}
	return nil
}

// Backend is a repository in a bucket.
type Backend struct {
	cfg    Config
	client *minio.Client
	sem    chan struct{}
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
		if err := b.client.MakeBucket(ctx, b.cfg.Bucket, minio.MakeBucketOptions{Region: b.cfg.Region}); err != nil {
			return fmt.Errorf("s3 create bucket %s: %w", b.cfg.Bucket, err)
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
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	key := b.key(h)
	if !replace {
		if _, err := b.client.StatObject(ctx, b.cfg.Bucket, key, minio.StatObjectOptions{}); err == nil {
			return fmt.Errorf("save %s: %w", h, fs.ErrExist)
		}
	}
	_, err := b.client.PutObject(ctx, b.cfg.Bucket, key, io.NewSectionReader(rd, 0, size), size,
		minio.PutObjectOptions{ContentType: "application/octet-stream", StorageClass: b.cfg.StorageClass, PartSize: 16 << 20})
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	return nil
}

// Load reads a range of h.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	opts := minio.GetObjectOptions{}
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

// Remove deletes h (S3 deletes missing keys silently: look first).
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if _, err := b.Stat(ctx, h); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
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
