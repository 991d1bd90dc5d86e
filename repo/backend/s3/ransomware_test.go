package s3_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/s3"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestRansomwareObjectLock: a client holding the bucket's credentials
// turns hostile against a repository written with compliance retention.
// Through raw S3 requests it overwrites every object with garbage and with
// a truncated copy, deletes it (a delete marker), and tries to delete each
// version and to shorten its retention. Afterwards a fresh client lists
// every snapshot, restores each byte-exact and checks --read-data clean:
// the repository is read from the first versions of its files.
func TestRansomwareObjectLock(t *testing.T) {
	ctx := context.Background()
	cfg, client := lockedServer(t)
	cfg.LockMode, cfg.LockFor = "COMPLIANCE", 90*time.Second
	be := openLocked(t, cfg, "ransom")
	if _, err := repo.Init(ctx, be, repotest.Password, repo.InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	var states []map[string]string
	for _, files := range []map[string]string{
		{"a": strings.Repeat("first state ", 5000), "d/": "", "d/b": "one"},
		{"a": strings.Repeat("second state ", 5000), "d/": "", "d/b": "two", "d/c": strings.Repeat("new ", 3000)},
	} {
		repotest.WriteFiles(t, src, files)
		r := repotest.OpenOn(t, be, repo.SessionOptions{Index: true})
		repotest.Backup(t, r, src)
		r.Session().Close()
		states = append(states, files)
	}

	// The attack, on every object of the repository.
	prefix := strings.TrimSuffix(be.Key(backend.Handle{Type: backend.ConfigFile}), "config")
	var keys []string
	for oi := range client.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	if len(keys) < 6 {
		t.Fatalf("only %d objects: %v", len(keys), keys)
	}
	attacked := 0
	for _, key := range keys {
		if strings.Contains(key, "/locks/") {
			continue
		}
		oi, err := client.StatObject(ctx, cfg.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		original := oi.VersionID
		for _, garbage := range []string{"encrypted by ransomware", "trunc"} {
			if _, err := client.PutObject(ctx, cfg.Bucket, key, strings.NewReader(garbage), int64(len(garbage)),
				minio.PutObjectOptions{SendContentMd5: true}); err != nil {
				t.Logf("overwrite %s: %v", key, err)
			}
		}
		if err := client.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Logf("delete %s: %v", key, err)
		}
		if err := client.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{VersionID: original, GovernanceBypass: true}); err == nil {
			t.Errorf("the retained first version of %s was deleted", key)
		}
		past := time.Now().Add(time.Second)
		mode := minio.Governance
		if err := client.PutObjectRetention(ctx, cfg.Bucket, key, minio.PutObjectRetentionOptions{VersionID: original, Mode: &mode,
			RetainUntilDate: &past, GovernanceBypass: true}); err == nil {
			t.Errorf("the retention of %s was shortened", key)
		}
		attacked++
	}
	t.Logf("attacked %d objects", attacked)

	// A fresh client, knowing nothing of the versions.
	fc := cfg
	fc.Prefix = strings.TrimSuffix(prefix, "/")
	fresh, err := s3.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	r := repotest.OpenOn(t, fresh, repo.SessionOptions{Index: true})
	defer r.Session().Close()
	sns, err := snapshot.LoadAll(ctx, r)
	if err != nil || len(sns) != 2 {
		t.Fatalf("snapshots after the attack: %d, %v", len(sns), err)
	}
	for i, sn := range sns {
		dst := t.TempDir()
		if _, err := restorer.Restore(ctx, r, sn, "/", dst, restorer.Options{}); err != nil {
			t.Fatalf("restore snapshot %d: %v", i, err)
		}
		for name, want := range states[i] {
			if strings.HasSuffix(name, "/") {
				continue
			}
			got, err := os.ReadFile(filepath.Join(dst, src, filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, []byte(want)) {
				t.Fatalf("snapshot %d, %s: %d bytes, %v", i, name, len(got), err)
			}
		}
	}
	rep, err := checker.Check(ctx, r, checker.Options{ReadData: true})
	if err != nil || rep.Damaged() {
		t.Fatalf("check --read-data after the attack: %v %v", err, rep.Errors)
	}
}
