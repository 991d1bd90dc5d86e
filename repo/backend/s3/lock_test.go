package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/s3"
	"github.com/cairn-backup/cairn/repo/crypto"
)

func TestParseObjectLock(t *testing.T) {
	good := map[string]struct {
		mode string
		d    time.Duration
	}{
		"governance:30d": {"GOVERNANCE", 30 * 24 * time.Hour},
		"compliance:12h": {"COMPLIANCE", 12 * time.Hour},
		"GOVERNANCE:1h":  {"GOVERNANCE", time.Hour},
	}
	for in, want := range good {
		var c s3.Config
		if err := c.ApplyOption("s3.object-lock", in); err != nil || c.LockMode != want.mode || c.LockFor != want.d {
			t.Errorf("%s: %q %v %v", in, c.LockMode, c.LockFor, err)
		}
	}
	for _, in := range []string{"", "governance", "governance:", "governance:30", "governance:30m", "governance:0d",
		"governance:-1d", "legal:30d", "compliance:1.5d", "compliance:d", "compliance:99999999d", ":30d", "governance:30d:x"} {
		var c s3.Config
		err := c.ApplyOption("s3.object-lock", in)
		if err == nil {
			t.Errorf("-o s3.object-lock=%s accepted: %q %v", in, c.LockMode, c.LockFor)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "governance:DURATION") {
			t.Errorf("%s: error %q is not the one-line usage", in, msg)
		}
	}
}

// lockedServer returns the test server's config for a bucket with Object
// Lock enabled (made here: it can only be enabled at creation), and a
// raw client with the same credentials.
func lockedServer(t *testing.T) (s3.Config, *minio.Client) {
	t.Helper()
	cfg := server(t)
	cfg.Bucket += "-objlock"
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.KeyID, cfg.Secret, ""), Secure: cfg.Secure, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
			t.Fatal(err)
		}
	}
	return cfg, client
}

func openLocked(t *testing.T, cfg s3.Config, prefix string) *s3.Backend {
	t.Helper()
	cfg.Prefix = fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), n.Add(1))
	be, err := s3.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return be
}

// strict puts a proxy in front of the test server that refuses what AWS
// refuses in a bucket with Object Lock: an object PUT (or part) without
// Content-MD5 or an x-amz-checksum header or trailer. MinIO accepts a
// payload signed with its SHA-256 instead, so it alone would not notice.
func strict(t *testing.T, cfg s3.Config) s3.Config {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: cfg.Endpoint}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
		if r.Method == http.MethodPut && object && r.Header.Get("Content-MD5") == "" &&
			!hasChecksum(r.Header) && !strings.Contains(strings.ToLower(r.Header.Get("X-Amz-Trailer")), "x-amz-checksum-") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code><Message>Content-MD5 or x-amz-sdk-checksum-algorithm header required</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	return cfg
}

func hasChecksum(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			return true
		}
	}
	return false
}

// TestObjectLockSuite runs the conformance suite in a bucket with Object
// Lock enabled, through a proxy that refuses a PUT without a checksum.
func TestObjectLockSuite(t *testing.T) {
	cfg, _ := lockedServer(t)
	cfg = strict(t, cfg)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		c := cfg
		c.Prefix = fmt.Sprintf("locked-suite-%d-%d", os.Getpid(), n.Add(1))
		be, err := s3.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

// TestObjectLockInit makes a repository in an object-locked bucket, with
// and without retention, and opens it again.
func TestObjectLockInit(t *testing.T) {
	ctx := context.Background()
	cfg, client := lockedServer(t)
	cfg = strict(t, cfg)
	for _, mode := range []string{"", "GOVERNANCE"} {
		c := cfg
		c.LockMode, c.LockFor = mode, 2*time.Second
		be := openLocked(t, c, "locked-init")
		if _, err := repo.Init(ctx, be, "pw", repo.InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
			t.Fatalf("init (retention %q): %v", mode, err)
		}
		r, err := repo.Open(ctx, be, "pw", repo.Options{})
		if err != nil {
			t.Fatalf("open (retention %q): %v", mode, err)
		}
		s, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.ExclusiveLock, Index: true, Command: "test"})
		if err != nil {
			t.Fatalf("exclusive session (retention %q): %v", mode, err)
		}
		s.Close() // removes the lock file: lock files are never retained
		_, until, err := client.GetObjectRetention(ctx, c.Bucket, be.Key(backend.Handle{Type: backend.ConfigFile}), "")
		if mode == "" && err == nil {
			t.Errorf("config retained until %v without -o s3.object-lock", until)
		}
		if mode != "" && (err != nil || until == nil) {
			t.Errorf("config not retained: %v", err)
		}
	}
}

// TestObjectLockBucket: with -o s3.object-lock, Create makes a missing
// bucket with Object Lock, and refuses a bucket without it.
func TestObjectLockBucket(t *testing.T) {
	ctx := context.Background()
	base, client := lockedServer(t)
	cfg := server(t)
	cfg.LockMode, cfg.LockFor = "GOVERNANCE", time.Hour
	cfg.Bucket = fmt.Sprintf("%s-nolock-%d", cfg.Bucket, os.Getpid())
	if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	be, err := s3.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = be.Create(ctx)
	if err == nil || !strings.Contains(err.Error(), "Object Lock enabled") {
		t.Fatalf("create with -o s3.object-lock in a bucket without Object Lock: %v", err)
	}
	cfg.Bucket = fmt.Sprintf("%s-new-%d", base.Bucket, os.Getpid())
	if be, err = s3.Open(cfg); err != nil {
		t.Fatal(err)
	}
	if err := be.Create(ctx); err != nil {
		t.Fatalf("create a bucket with Object Lock: %v", err)
	}
	if state, _, _, _, err := client.GetObjectLockConfig(ctx, cfg.Bucket); err != nil || state != "Enabled" {
		t.Fatalf("the new bucket's object lock: %q %v", state, err)
	}
}

// TestRetention writes files under governance retention of a few
// seconds: packs are refused removal with ErrRetained until then, lock
// files are not retained, and once the date has passed the pack goes.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	cfg, _ := lockedServer(t)
	cfg.LockMode, cfg.LockFor = "GOVERNANCE", 3*time.Second
	raw := openLocked(t, cfg, "retention")
	be := backend.NewRetry(raw) // RetainedUntil finds the s3 backend below wrappers
	data := []byte("retained pack")
	ph := backend.Handle{Type: backend.PackFile, Name: pack.Hash(data).String()}
	lh := backend.Handle{Type: backend.LockFile, Name: pack.Hash([]byte("lock")).String()}
	start := time.Now()
	if err := backend.SaveBytes(ctx, be, ph, data); err != nil {
		t.Fatal(err)
	}
	if err := backend.SaveBytes(ctx, be, lh, []byte("lock")); err != nil {
		t.Fatal(err)
	}
	until, err := backend.RetainedUntil(ctx, be, ph)
	if err != nil || until.Before(start.Add(2*time.Second)) || until.After(start.Add(time.Minute)) {
		t.Fatalf("pack retained until %v (%v), want about %v", until, err, start.Add(3*time.Second))
	}
	err = be.Remove(ctx, ph)
	var re *backend.RetainedError
	if !errors.Is(err, backend.ErrRetained) || !errors.As(err, &re) || !re.Until.Equal(until) || re.Handle != ph {
		t.Fatalf("remove of a retained pack: %v", err)
	}
	if !strings.Contains(err.Error(), until.UTC().Format(time.RFC3339)) {
		t.Errorf("error %q doesn't say until when", err)
	}
	if got, err := backend.LoadAll(ctx, be, ph); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("retained pack after refused remove: %q %v", got, err)
	}
	if u, err := backend.RetainedUntil(ctx, be, lh); err != nil || !u.IsZero() {
		t.Fatalf("lock file retained until %v (%v)", u, err)
	}
	if err := be.Remove(ctx, lh); err != nil {
		t.Fatalf("remove lock file: %v", err)
	}
	time.Sleep(time.Until(until) + 500*time.Millisecond)
	if u, err := backend.RetainedUntil(ctx, be, ph); err != nil || !u.IsZero() {
		t.Fatalf("after the retention: retained until %v (%v)", u, err)
	}
	if err := be.Remove(ctx, ph); err != nil {
		t.Fatalf("remove after the retention: %v", err)
	}
	if _, err := be.Stat(ctx, ph); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of the removed pack: %v", err)
	}
	if _, err := backend.RetainedUntil(ctx, be, ph); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("retention of a removed pack: %v, want fs.ErrNotExist", err)
	}
}

// TestRetainedUntilWithoutLock: a bucket without Object Lock retains
// nothing, and says so without a request per file.
func TestRetainedUntilWithoutLock(t *testing.T) {
	ctx := context.Background()
	cfg := server(t)
	cfg.Prefix = fmt.Sprintf("unlocked-%d", os.Getpid())
	raw, err := s3.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Create(ctx); err != nil {
		t.Fatal(err)
	}
	be := &backendtest.Counting{Backend: raw}
	h := backend.Handle{Type: backend.PackFile, Name: pack.Hash([]byte("x")).String()}
	if err := backend.SaveBytes(ctx, be, h, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if u, err := raw.RetainedUntil(ctx, h); err != nil || !u.IsZero() {
			t.Fatalf("retained until %v (%v)", u, err)
		}
	}
	if err := be.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
}

// TestHostileClient: a client with the same credentials, not going
// through cairn, tries to destroy a retained pack.
func TestHostileClient(t *testing.T) {
	ctx := context.Background()
	cfg, client := lockedServer(t)
	for _, mode := range []string{"GOVERNANCE", "COMPLIANCE"} {
		t.Run(mode, func(t *testing.T) {
			c := cfg
			c.LockMode, c.LockFor = mode, time.Minute
			be := openLocked(t, c, "hostile")
			data := []byte("precious " + mode)
			h := backend.Handle{Type: backend.PackFile, Name: pack.Hash(data).String()}
			if err := backend.SaveBytes(ctx, be, h, data); err != nil {
				t.Fatal(err)
			}
			key := be.Key(h)
			oi, err := client.StatObject(ctx, c.Bucket, key, minio.StatObjectOptions{})
			if err != nil || oi.VersionID == "" {
				t.Fatalf("stat: %v, version %q", err, oi.VersionID)
			}
			version := oi.VersionID
			intact := func(what string) {
				t.Helper()
				obj, err := client.GetObject(ctx, c.Bucket, key, minio.GetObjectOptions{VersionID: version})
				if err != nil {
					t.Fatalf("after %s: %v", what, err)
				}
				defer obj.Close()
				got, err := io.ReadAll(obj)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("after %s the retained version holds %q (%v)", what, got, err)
				}
			}
			// Overwrite: a new version; the retained one stays.
			if _, err := client.PutObject(ctx, c.Bucket, key, strings.NewReader("garbage"), 7,
				minio.PutObjectOptions{SendContentMd5: true}); err != nil {
				t.Logf("MinIO: overwrite refused: %v", err)
			} else {
				t.Logf("MinIO: overwrite accepted as a new version")
			}
			intact("an overwrite")
			// Delete without a version: a delete marker; the data stays.
			err = client.RemoveObject(ctx, c.Bucket, key, minio.RemoveObjectOptions{})
			t.Logf("MinIO: delete without a version ID: %v", err)
			intact("a delete without a version ID")
			// Delete of the version itself: refused.
			err = client.RemoveObject(ctx, c.Bucket, key, minio.RemoveObjectOptions{VersionID: version})
			t.Logf("MinIO: delete of the retained version: %v", err)
			if err == nil {
				t.Fatal("the retained version was deleted")
			}
			intact("a delete of the version")
			// Shortening the retention: refused.
			past := time.Now().Add(2 * time.Second)
			gov := minio.Governance
			err = client.PutObjectRetention(ctx, c.Bucket, key, minio.PutObjectRetentionOptions{
				VersionID: version, Mode: &gov, RetainUntilDate: &past})
			t.Logf("MinIO: shorten retention: %v", err)
			if err == nil {
				t.Error("retention shortened without bypass")
			}
			// With governance bypass (which the root credentials allow).
			err = client.RemoveObject(ctx, c.Bucket, key, minio.RemoveObjectOptions{VersionID: version, GovernanceBypass: true})
			t.Logf("MinIO: delete of the retained version with governance bypass: %v", err)
			if mode == "COMPLIANCE" {
				if err == nil {
					t.Fatal("a version under compliance retention was deleted with governance bypass")
				}
				intact("a delete with governance bypass")
			}
		})
	}
}
