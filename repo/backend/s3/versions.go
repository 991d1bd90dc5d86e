package s3

import (
	"context"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/repo/backend"
)

// In a bucket with Object Lock (and so versioning), what the repository
// holds is read from the object versions, not from the current objects.
// Packs, index, snapshot and key files are written once and never
// replaced, so a file's first version is its true content: a newer
// version or a delete marker, which anyone with the bucket's credentials
// can add (ransomware, a leaked key), hides nothing while the first
// version is retained. Listing includes files whose current version is a
// delete marker, and reads go to the first version. A removal by cairn
// (prune, forget) deletes every version, once none is retained.

// versioned reports the types read from their first version.
func versioned(t backend.FileType) bool {
	switch t {
	case backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.KeyFile:
		return true
	}
	return false
}

// version is a file's first version.
type version struct {
	id   string
	size int64
	mod  time.Time
}

// immutableView reports whether reads of h go to its first version.
func (b *Backend) immutableView(ctx context.Context, h backend.Handle) (bool, error) {
	if !versioned(h.Type) {
		return false, nil
	}
	return b.lockEnabled(ctx)
}

func (b *Backend) remember(key string, v version) {
	b.versMu.Lock()
	defer b.versMu.Unlock()
	if b.vers == nil {
		b.vers = map[string]version{}
	}
	b.vers[key] = v
}

func (b *Backend) forgetVersion(key string) {
	b.versMu.Lock()
	defer b.versMu.Unlock()
	delete(b.vers, key)
}

// firstVersion returns the first (oldest) version of key that is not a
// delete marker, asking the bucket unless a listing or a save told it.
func (b *Backend) firstVersion(ctx context.Context, key string) (version, bool, error) {
	b.versMu.Lock()
	v, ok := b.vers[key]
	b.versMu.Unlock()
	if ok {
		return v, true, nil
	}
	vs, err := b.versions(ctx, key)
	if err != nil {
		return version{}, false, err
	}
	first, found := oldest(vs)
	if found {
		b.remember(key, version{id: first.VersionID, size: first.Size, mod: first.LastModified})
		return version{id: first.VersionID, size: first.Size, mod: first.LastModified}, true, nil
	}
	return version{}, false, nil
}

// versions lists every version and delete marker of exactly key.
func (b *Backend) versions(ctx context.Context, key string) ([]minio.ObjectInfo, error) {
	if err := b.acquire(ctx); err != nil {
		return nil, err
	}
	defer b.release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []minio.ObjectInfo
	for oi := range b.client.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("versions of %s: %w", key, notExist(oi.Err))
		}
		if oi.Key == key {
			out = append(out, oi)
		}
	}
	return out, nil
}

// oldest is the earliest version that is not a delete marker. S3 lists a
// key's versions newest first, so it is the last one listed: the order of
// the listing, not the times (which tie at a second, and which a client
// can influence), decides.
func oldest(vs []minio.ObjectInfo) (minio.ObjectInfo, bool) {
	var first minio.ObjectInfo
	found := false
	for _, v := range vs {
		if !v.IsDeleteMarker {
			first, found = v, true
		}
	}
	return first, found
}

// listVersions lists the files of type t under the immutable view: one
// entry per key with a version that is not a delete marker, with that
// key's first version.
func (b *Backend) listVersions(ctx context.Context, prefix string, fn func(backend.FileInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Versions of a key come together, newest first: flush a key's
	// first version when the next key starts.
	var cur string
	var first minio.ObjectInfo
	have := false
	flush := func() error {
		if !have {
			return nil
		}
		have = false
		b.remember(cur, version{id: first.VersionID, size: first.Size, mod: first.LastModified})
		return fn(backend.FileInfo{Name: path.Base(cur), Size: first.Size, ModTime: first.LastModified})
	}
	for oi := range b.client.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			return fmt.Errorf("list %s: %w", prefix, notExist(oi.Err))
		}
		if oi.Key != cur {
			if err := flush(); err != nil {
				return err
			}
			cur = oi.Key
		}
		// Newest first: the last version listed is the first written.
		if !oi.IsDeleteMarker {
			first, have = oi, true
		}
	}
	return flush()
}

// removeVersions deletes every version and delete marker of h, after
// checking that none is retained.
func (b *Backend) removeVersions(ctx context.Context, h backend.Handle) error {
	key := b.key(h)
	vs, err := b.versions(ctx, key)
	if err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	if _, ok := oldest(vs); !ok {
		return fmt.Errorf("remove %s: %w", h, notFound(h))
	}
	var until time.Time
	for _, v := range vs {
		if v.IsDeleteMarker {
			continue
		}
		u, err := b.retainedVersion(ctx, key, v.VersionID)
		if err != nil {
			return fmt.Errorf("remove %s: %w", h, err)
		}
		if u.After(until) {
			until = u
		}
	}
	if !until.IsZero() {
		return &backend.RetainedError{Handle: h, Until: until}
	}
	if err := b.deleteVersions(ctx, key, vs); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	b.forgetVersion(key)
	// A version written meanwhile would become the file's first: the
	// removal is done only when none is left.
	for range 3 {
		vs, err = b.versions(ctx, key)
		if err != nil {
			return fmt.Errorf("remove %s: %w", h, err)
		}
		if len(vs) == 0 {
			return nil
		}
		if err := b.deleteVersions(ctx, key, vs); err != nil {
			return fmt.Errorf("remove %s: %w", h, err)
		}
	}
	return fmt.Errorf("remove %s: new versions keep appearing", h)
}

func (b *Backend) deleteVersions(ctx context.Context, key string, vs []minio.ObjectInfo) error {
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	for _, v := range vs {
		if err := b.client.RemoveObject(ctx, b.cfg.Bucket, key, minio.RemoveObjectOptions{VersionID: v.VersionID}); err != nil {
			return fmt.Errorf("version %s: %w", v.VersionID, err)
		}
	}
	return nil
}

// retainedVersion returns the retain-until date of one version if it is
// still ahead, else the zero time.
func (b *Backend) retainedVersion(ctx context.Context, key, versionID string) (time.Time, error) {
	if err := b.acquire(ctx); err != nil {
		return time.Time{}, err
	}
	defer b.release()
	_, until, err := b.client.GetObjectRetention(ctx, b.cfg.Bucket, key, versionID)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchObjectLockConfiguration" {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("retention of %s: %w", key, notExist(err))
	}
	if until == nil || !until.After(time.Now()) {
		return time.Time{}, nil
	}
	return *until, nil
}

// maxVersionsTried bounds how many earlier versions of a file are read
// back. A hostile client may add many; the genuine ones are among the
// oldest, so all are read up to this many.
const maxVersionsTried = 1000

// Versions returns the contents of h's versions that are not delete
// markers, newest first, at most max bytes each and at most
// maxVersionsTried of them (backend.Versioner). The config is the one
// file cairn replaces; when its current version is gone or doesn't open,
// the repository tries these, and the newest that opens with its key is
// the config.
func (b *Backend) Versions(ctx context.Context, h backend.Handle, max int64) ([][]byte, error) {
	on, err := b.lockEnabled(ctx)
	if err != nil || !on {
		return nil, err
	}
	key := b.key(h)
	vs, err := b.versions(ctx, key)
	if err != nil {
		return nil, err
	}
	var real []minio.ObjectInfo
	for _, v := range vs { // newest first
		if !v.IsDeleteMarker && v.Size <= max {
			real = append(real, v)
		}
	}
	if len(real) > maxVersionsTried {
		// Flooded with versions: the newest and the oldest.
		real = append(real[:maxVersionsTried/2], real[len(real)-maxVersionsTried/2:]...)
	}
	var out [][]byte
	for _, v := range real {
		data, err := b.loadVersion(ctx, key, v.VersionID, max)
		if err != nil {
			return out, fmt.Errorf("version %s of %s: %w", v.VersionID, h, err)
		}
		out = append(out, data)
	}
	return out, nil
}

func (b *Backend) loadVersion(ctx context.Context, key, id string, max int64) ([]byte, error) {
	if err := b.acquire(ctx); err != nil {
		return nil, err
	}
	defer b.release()
	obj, err := b.client.GetObject(ctx, b.cfg.Bucket, key, minio.GetObjectOptions{VersionID: id})
	if err != nil {
		return nil, notExist(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, max+1))
	if err != nil {
		return nil, notExist(err)
	}
	if int64(len(data)) > max {
		return nil, backend.ErrTooLarge
	}
	return data, nil
}
