package s3_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/cache"
	"github.com/cairn-backup/cairn/repo/backend/s3"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want s3.Config
		bad  bool
	}{
		{in: "s3:https://s3.amazonaws.com/bucket", want: s3.Config{Endpoint: "s3.amazonaws.com", Secure: true, Bucket: "bucket"}},
		{in: "s3:http://127.0.0.1:9000/b/some/prefix", want: s3.Config{Endpoint: "127.0.0.1:9000", Bucket: "b", Prefix: "some/prefix"}},
		{in: "s3:http://host", bad: true},
		{in: "s3:ftp://host/b", bad: true},
		{in: "s3:bucket", bad: true},
	}
	for _, tt := range tests {
		got, err := s3.ParseURL(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%s accepted", tt.in)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
	// Credentials in a location are refused, and never shown (issue 14).
	for _, in := range []string{"s3:https://AKIDEXAMPLE:wJalrXUtnFEMI@host/bucket", "s3:https://AKIDEXAMPLE:wJalrXUtnFEMI@host", "s3:ftp://AKIDEXAMPLE:wJalrXUtnFEMI@host/b"} {
		_, err := s3.ParseURL(in)
		if err == nil || strings.Contains(err.Error(), "wJalrXUtnFEMI") || strings.Contains(err.Error(), "AKIDEXAMPLE") {
			t.Errorf("%s: %v; want an error without the credentials", in, err)
		}
	}
	var c s3.Config
	for _, o := range [][2]string{{"s3.bucket-lookup", "sideways"}, {"s3.connections", "0"}, {"s3.color", "red"}} {
		if err := c.ApplyOption(o[0], o[1]); err == nil {
			t.Errorf("-o %s=%s accepted", o[0], o[1])
		}
	}
}

func server(t *testing.T) s3.Config {
	loc, key, secret := backendtest.S3Server(t)
	cfg, err := s3.ParseURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KeyID, cfg.Secret = key, secret
	cfg.BucketLookup = "path"
	return cfg
}

var n atomic.Int64

func TestSuite(t *testing.T) {
	cfg := server(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		c := cfg
		c.Prefix = fmt.Sprintf("suite-%d-%d", os.Getpid(), n.Add(1))
		be, err := s3.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

func TestWrongCredentials(t *testing.T) {
	cfg := server(t)
	cfg.Secret = "wrong"
	be, err := s3.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Stat(context.Background(), backend.Handle{Type: backend.ConfigFile}); err == nil {
		t.Fatal("wrong secret accepted")
	}
}

// TestRequestCounts counts S3 requests with a warm cache: an incremental
// backup of an unchanged tree and listing snapshots must stay small.
func TestRequestCounts(t *testing.T) {
	ctx := context.Background()
	cfg := server(t)
	cfg.Prefix = fmt.Sprintf("counts-%d", os.Getpid())
	raw, err := s3.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	be := &backendtest.Counting{Backend: raw}
	if _, err := repo.Init(ctx, be, "pw", repo.InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for i := 0; i < 200; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(strings.Repeat(fmt.Sprint(i), 500)), 0o644)
	}
	cacheDir := t.TempDir()
	open := func(session bool) *repo.Repository {
		r, err := repo.Open(ctx, be, "pw", repo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cd, err := cache.Open(cacheDir, r.Config().ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetCache(cd); err != nil {
			t.Fatal(err)
		}
		if session {
			repotest.Begin(t, r)
		}
		return r
	}
	r := open(true)
	first, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	be.Requests()

	// What `cairn backup` does on an unchanged tree.
	r.Session().Close()
	r = open(true)
	sns, _ := snapshot.LoadAll(ctx, r)
	if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}, Parent: sns[len(sns)-1], Generation: first.Generation}); err != nil {
		t.Fatal(err)
	}
	backupReqs := be.Requests()

	r.Session().Close()
	be.Requests()

	// What `cairn snapshots` does: no lock, no index.
	r = open(false)
	if _, err := snapshot.LoadAll(ctx, r); err != nil {
		t.Fatal(err)
	}
	snapshotsReqs := be.Requests()
	t.Logf("S3 requests with a warm cache: unchanged backup %d, snapshots %d", backupReqs, snapshotsReqs)
	if backupReqs > 20 || snapshotsReqs > 6 {
		t.Fatalf("too many requests: unchanged backup %d, snapshots %d", backupReqs, snapshotsReqs)
	}
}
