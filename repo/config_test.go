package repo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/klauspost/compress/zstd"
)

// TestUpdateConfigKeepsOtherChanges: a client that opened the repository
// before another changed the config (and then waited for its lock) must
// not write back the config it read at open.
func TestUpdateConfigKeepsOtherChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, dir := repotest.New(t, repo.InitOptions{})
	first.Session().Close()
	early := repotest.OpenBare(t, dir, repo.Options{})
	late := repotest.OpenBare(t, dir, repo.Options{})
	repotest.Exclusive(t, late)
	if err := late.UpdateConfig(ctx, func(c *repo.Config) error {
		c.Mirrors = append(c.Mirrors, repo.Mirror{Location: "/srv/mirror"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	late.Session().Close()
	repotest.Exclusive(t, early)
	if err := early.UpdateConfig(ctx, func(c *repo.Config) error { c.Compression = "fastest"; return nil }); err != nil {
		t.Fatal(err)
	}
	after := repotest.OpenBare(t, dir, repo.Options{})
	cfg := after.Config()
	if len(cfg.Mirrors) != 1 || cfg.Compression != "fastest" {
		t.Fatalf("config after two updates: mirrors %v, compression %q", cfg.Mirrors, cfg.Compression)
	}
}

// TestFormatVersions: versions 1 and 2 open; a newer one is refused with
// a message that names it.
func TestFormatVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, dir := repotest.New(t, repo.InitOptions{})
	first.Session().Close()
	r := repotest.OpenBare(t, dir, repo.Options{})
	repotest.Exclusive(t, r)
	if err := r.RequireFormat(ctx, repo.SplitTreeFormat); err != nil {
		t.Fatal(err)
	}
	if v := repotest.OpenBare(t, dir, repo.Options{}).Config().Version; v != repo.SplitTreeFormat {
		t.Fatalf("version %d after RequireFormat", v)
	}
	if err := r.UpdateConfig(ctx, func(c *repo.Config) error { c.Version = repo.FormatVersion + 1; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := repo.Open(ctx, local.New(dir), repotest.Password, repo.Options{})
	if err == nil || !strings.Contains(err.Error(), "unsupported repository version 3") {
		t.Fatalf("opening a version 3 repository: %v", err)
	}
}

// TestRepositoryClose ends the session (its lock is gone) and the
// backend.
func TestRepositoryClose(t *testing.T) {
	t.Parallel()
	r, dir := repotest.New(t, repo.InitOptions{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Session() != nil {
		t.Fatal("a session is still open after Close")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "locks"))
	if len(ents) != 0 {
		t.Fatalf("%d lock files left after Close", len(ents))
	}
}

func TestParseCompression(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want zstd.EncoderLevel
		bad  bool
	}{
		{"off", 0, false},
		// auto is the level measured fastest for backups (issue 17).
		{"auto", zstd.SpeedFastest, false},
		{"fastest", zstd.SpeedFastest, false},
		{"better", zstd.SpeedBetterCompression, false},
		{"max", zstd.SpeedBestCompression, false},
		{"Auto", 0, true},
		{"", 0, true},
		{"zstd", 0, true},
	} {
		got, err := repo.ParseCompression(tc.name)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.name)) {
				t.Errorf("ParseCompression(%q) = %v, %v; want an error naming it", tc.name, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
