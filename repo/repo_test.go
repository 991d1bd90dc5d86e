package repo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/cache"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/repotest"
)

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, dir := repotest.New(t, repo.InitOptions{})
	if _, err := repo.Open(ctx, local.New(dir), "wrong", repo.Options{}); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := repo.Open(ctx, local.New(filepath.Join(dir, "nope")), "x", repo.Options{}); !errors.Is(err, repo.ErrNoRepository) {
		t.Fatalf("missing repository: %v", err)
	}
	if _, err := repo.Init(ctx, local.New(dir), "pw", repo.InitOptions{KDF: repotest.FastKDF}); err == nil {
		t.Fatal("init over an existing repository succeeded")
	}
}

func TestSaveLoadBlobs(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	s := r.NewSaver()
	var ids []pack.ID
	var blobs [][]byte
	for i := 0; i < 300; i++ {
		b := bytes.Repeat([]byte(fmt.Sprintf("blob %d plaintext-marker ", i)), 500)
		id, added, _, err := s.Save(ctx, pack.DataBlob, b, pack.Generation{})
		if err != nil || !added {
			t.Fatalf("save %d: %v %v", i, added, err)
		}
		ids, blobs = append(ids, id), append(blobs, b)
	}
	if _, added, _, _ := s.Save(ctx, pack.DataBlob, blobs[0], pack.Generation{}); added {
		t.Fatal("blob in the same run stored twice")
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r2 := repotest.Open(t, dir)
	for i, id := range ids {
		got, err := r2.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
		if err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
	// Another generation stores the blob again; the same one doesn't.
	r2.StartWriting()
	s2 := r2.NewSaver()
	if _, added, _, _ := s2.Save(ctx, pack.DataBlob, blobs[1], pack.Generation{}); added {
		t.Fatal("blob stored twice in generation 0")
	}
	if _, added, _, _ := s2.Save(ctx, pack.DataBlob, blobs[1], pack.Generation{7}); !added {
		t.Fatal("blob not stored in a new generation")
	}
	if err := r2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing in the repository is plaintext.
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("plaintext-marker")) {
				t.Errorf("plaintext found in %s", p)
			}
		}
		return nil
	})
}

// TestConcurrentDedup: many goroutines saving the same blobs store each
// blob once (in flight counts as stored).
func TestConcurrentDedup(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			s := r.NewSaver()
			for i := 0; i < 200; i++ {
				if _, _, _, err := s.Save(ctx, pack.DataBlob, []byte(fmt.Sprint("shared blob ", i)), pack.Generation{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.DataBlobs != 200 {
		t.Fatalf("%d blobs stored, want 200", st.DataBlobs)
	}
	if n := repotest.Open(t, dir).Index().Len(); n != 200 {
		t.Fatalf("index has %d entries, want 200", n)
	}
}

// TestDamagedPackDetected: a flipped bit in a pack is reported as damage
// naming the pack, never returned as data.
func TestDamagedPackDetected(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	id, _, _, err := r.NewSaver().Save(ctx, pack.DataBlob, []byte("precious data"), pack.Generation{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	loc, _ := r.Index().Lookup(pack.BlobHandle{ID: id, Type: pack.DataBlob}, pack.Generation{})
	p := filepath.Join(dir, "data", loc.Pack.String()[:2], loc.Pack.String())
	os.Chmod(p, 0o600)
	b, _ := os.ReadFile(p)
	b[loc.Offset+30] ^= 1
	os.WriteFile(p, b, 0o600)
	_, err = repotest.Open(t, dir).LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
	if !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("damaged blob: %v, want ErrDamaged", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(loc.Pack.Short())) {
		t.Fatalf("error does not name the pack: %v", err)
	}
}

// TestFlushOrder: after Flush, every pack is listed in an index file, and
// index files are written only for packs that exist.
func TestFlushOrder(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	s := r.NewSaver()
	for i := 0; i < 50; i++ {
		b := make([]byte, 100<<10)
		rand.Read(b)
		if _, _, _, err := s.Save(ctx, pack.DataBlob, b, pack.Generation{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r2 := repotest.Open(t, dir)
	packs, err := r2.List(ctx, backend.PackFile)
	if err != nil {
		t.Fatal(err)
	}
	indexed := r2.Index().Packs()
	if len(packs) != len(indexed) || len(packs) < 2 {
		t.Fatalf("%d packs, %d indexed", len(packs), len(indexed))
	}
	for _, p := range packs {
		if _, ok := indexed[p]; !ok {
			t.Fatalf("pack %s not indexed", p.Short())
		}
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	id2, err := r.Keys().Add(ctx, "second", repotest.FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := repo.Open(ctx, local.New(dir), "second", repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.KeyID() != id2 {
		t.Fatal("opened with the wrong key")
	}
	if err := r2.Keys().Remove(ctx, id2); err == nil {
		t.Fatal("removed the key in use")
	}
	if err := r2.Keys().Remove(ctx, r.KeyID()); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(ctx, local.New(dir), repotest.Password, repo.Options{}); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("removed key still opens: %v", err)
	}
	if _, err := r2.Keys().ChangePassword(ctx, "third", repotest.FastKDF); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(ctx, local.New(dir), "second", repo.Options{}); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("old password still opens: %v", err)
	}
	if _, err := repo.Open(ctx, local.New(dir), "third", repo.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrorsClassified (defect 8): only data that is missing or fails
// its check is damage; a cancelled context or a storage failure is not.
func TestLoadErrorsClassified(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	var id pack.ID
	if err := r.WithUploader(ctx, func(ctx context.Context) error {
		var err error
		id, _, _, err = r.NewSaver().Save(ctx, pack.DataBlob, bytes.Repeat([]byte("classify "), 100), pack.Generation{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r.Session().Close()
	h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
	open := func(faults ...backend.Fault) *repo.Repository {
		rf, err := repo.Open(ctx, backend.NewFaulty(local.New(dir), faults...), repotest.Password, repo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		repotest.Begin(t, rf)
		return rf
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	rf := open()
	if _, err := rf.LoadBlob(cancelled, h, nil); err == nil || errors.Is(err, repo.ErrDamaged) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v, want context.Canceled and no damage", err)
	}
	rf.Session().Close()
	rf = open(backend.Fault{Op: backend.Load, Pattern: "data/*/*", Err: errors.New("connection reset by peer")})
	if _, err := rf.LoadBlob(ctx, h, nil); err == nil || errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("storage failure: %v, want an error that is not damage", err)
	}
	rf.Session().Close()
	rf = open(backend.Fault{Op: backend.Load, Pattern: "data/*/*", Flip: true, FlipAt: 3})
	if _, err := rf.LoadBlob(ctx, h, nil); !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("flipped bits: %v, want damage", err)
	}
	rf.Session().Close()
}

// TestHostileConfigID (issue 14, demonstrated 3): a config whose ID is not
// 64 lowercase hex characters is damage, never a path for the cache.
func TestHostileConfigID(t *testing.T) {
	ctx := context.Background()
	for _, id := range []string{"../victimhome", "/etc", "", "AB" + strings.Repeat("0", 62), strings.Repeat("0", 63) + "/"} {
		r, dir := repotest.New(t, repo.InitOptions{})
		s := repotest.Exclusive(t, r)
		if err := r.UpdateConfig(ctx, func(c *repo.Config) error { c.ID = id; return nil }); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := repo.Open(ctx, local.New(dir), repotest.Password, repo.Options{})
		if !errors.Is(err, repo.ErrDamaged) || !strings.Contains(err.Error(), "repository ID") {
			t.Fatalf("config ID %q: open gave %v, want damage naming the ID", id, err)
		}
		if _, err := cache.Open(t.TempDir(), id); err == nil {
			t.Fatalf("cache.Open accepted repository ID %q", id)
		}
	}
}

// TestPlantedKeyFiles (issue 14, demonstrated 5): key files planted by
// whoever can write to the storage cost a bounded amount: out-of-bounds
// parameters and giant files are refused unread, at most MaxKeyFilesTried
// are tried, and the key that opened the repository last is tried first,
// so planted costly ones in bounds are never derived.
func TestPlantedKeyFiles(t *testing.T) {
	ctx := context.Background()
	_, dir := repotest.New(t, repo.InitOptions{})
	be := local.New(dir)
	r, err := repo.Open(ctx, be, repotest.Password, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	real := r.KeyID()
	plant := func(b []byte) {
		t.Helper()
		if err := backend.SaveBytes(ctx, be, backend.Handle{Type: backend.KeyFile, Name: pack.Hash(b).String()}, b); err != nil {
			t.Fatal(err)
		}
	}
	master, _ := crypto.NewRandomKey()
	keyFile := func(pw string, p crypto.KDFParams) []byte {
		kf, err := crypto.NewKeyFile(master, pw, repotest.FastKDF, "evil", "evil", time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		kf.KDFParams = p
		b, _ := json.Marshal(kf)
		return b
	}
	plant(keyFile("x", crypto.KDFParams{Time: 100, Memory: 4 << 20, Threads: 4})) // out of bounds
	plant(append([]byte(`{"kdf":"argon2id","data":"`), bytes.Repeat([]byte("A"), crypto.MaxKeyFileSize)...))
	// In bounds but as costly as allowed: only ever tried after the hint.
	costly := keyFile("x", crypto.KDFParams{Time: 10, Memory: 1 << 20, Threads: 1})
	plant(costly)
	for i := 0; i < repo.MaxKeyFilesTried+2; i++ {
		plant(keyFile(fmt.Sprintf("other-%d", i), repotest.FastKDF))
	}
	start := time.Now()
	r2, err := repo.Open(ctx, be, repotest.Password, repo.Options{KeyHint: real})
	if err != nil {
		t.Fatalf("open with the last key as hint: %v", err)
	}
	if r2.KeyID() != real || time.Since(start) > 5*time.Second {
		t.Fatalf("opened with key %s after %s; want %s at once", r2.KeyID(), time.Since(start), real)
	}
	// A wrong password stops after MaxKeyFilesTried derivations and says
	// so (without the costly one, which this test need not pay for).
	if err := be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: pack.Hash(costly).String()}); err != nil {
		t.Fatal(err)
	}
	_, err = repo.Open(ctx, be, "wrong", repo.Options{KeyHint: real})
	if !errors.Is(err, repo.ErrWrongPassword) || !strings.Contains(err.Error(), "not tried") {
		t.Fatalf("wrong password among many key files: %v", err)
	}
}
