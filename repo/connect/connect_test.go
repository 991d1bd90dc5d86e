package connect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/all"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/connect"
	"github.com/cairn-backup/cairn/repo/repotest"
)

func password() (string, error) { return repotest.Password, nil }

// TestOpen: a repository opens through the registry; the key that opened
// it is remembered under the cache base; a local repository gets no
// cache unless a cache directory is given; a missing one is
// ErrNoRepository before any password is asked.
func TestOpen(t *testing.T) {
	t.Parallel()
	r, dir := repotest.New(t, repo.InitOptions{})
	r.Session().Close()
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	var warnings []string
	opened := &connect.Opened{}
	c := connect.New(connect.Options{Registry: all.Registry(), Getenv: func(k string) string { return env[k] },
		Warn: func(s string) { warnings = append(warnings, s) }, Opened: opened})
	ctx := context.Background()
	r2, err := c.Open(ctx, dir, password, false)
	if err != nil {
		t.Fatal(err)
	}
	if r2.KeyID() == "" || r2.Config().ID != r.Config().ID {
		t.Fatalf("opened %q %s", r2.KeyID(), r2.Config().ID)
	}
	hints, _ := filepath.Glob(filepath.Join(home, ".cache", "cairn", "keys", "*"))
	if len(hints) != 1 {
		t.Fatalf("key hints %v", hints)
	}
	if b, _ := os.ReadFile(hints[0]); strings.TrimSpace(string(b)) != r2.KeyID() {
		t.Fatalf("hint %q, key %s", b, r2.KeyID())
	}
	if _, err := os.Stat(filepath.Join(home, ".cache", "cairn", r.Config().ID)); err == nil {
		t.Fatal("a local repository got a cache without --cache-dir")
	}
	asked := false
	_, err = c.Open(ctx, filepath.Join(t.TempDir(), "none"), func() (string, error) { asked = true; return "", nil }, false)
	if !errors.Is(err, repo.ErrNoRepository) || asked {
		t.Fatalf("missing repository: %v (password asked: %v)", err, asked)
	}
	if _, err := c.Open(ctx, "b2:bucket:path", password, false); !errors.Is(err, location.ErrUnknownScheme) {
		t.Fatalf("unknown scheme: %v", err)
	}
	// With a cache directory, a local repository is cached too.
	cacheDir := t.TempDir()
	cc := connect.New(connect.Options{Registry: all.Registry(), CacheDir: cacheDir, Opened: opened})
	if _, err := cc.Open(ctx, dir, password, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, r.Config().ID)); err != nil {
		t.Fatalf("no cache in --cache-dir: %v", err)
	}
	opened.Close()
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
}

// TestBackendLimits: negative rate limits are refused before anything
// is opened; the retrying wrapper wraps what WrapRaw returns.
func TestBackendLimits(t *testing.T) {
	t.Parallel()
	c := connect.New(connect.Options{Registry: all.Registry(), LimitUpload: -1})
	if _, err := c.Backend(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "--limit-upload") {
		t.Fatalf("negative limit: %v", err)
	}
	wrapped := false
	c = connect.New(connect.Options{Registry: all.Registry(), WrapRaw: func(be backend.Backend) (backend.Backend, bool) {
		wrapped = true
		return be, true
	}})
	be, err := c.Backend(context.Background(), t.TempDir())
	if err != nil || !wrapped {
		t.Fatalf("%v wrapped=%v", err, wrapped)
	}
	if _, ok := be.(*backend.Retry); !ok {
		t.Fatalf("backend is %T, want the retrying wrapper outermost", be)
	}
}
