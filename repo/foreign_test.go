package repo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// TestResticRepository: a restic repository, made by restic itself or
// laid out by hand, is recognized before any key derivation, by
// CheckFormat, Open and Init, and named as such instead of failing as a
// wrong password.
func TestResticRepository(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		make func(testing.TB, string)
	}{
		{"restic init", repotest.ResticInit},
		{"planted layout", repotest.PlantRestic},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "restic")
			tt.make(t, dir)
			be := local.New(dir)
			err := repo.CheckFormat(ctx, be, "")
			want := "open repository " + dir + ": this is a restic repository, not a cairn one"
			if !errors.Is(err, repo.ErrResticRepository) || err.Error() != want {
				t.Fatalf("CheckFormat: %v, want %q", err, want)
			}
			if err := repo.CheckFormat(ctx, be, strings.Repeat("0", 64)); !errors.Is(err, repo.ErrResticRepository) {
				t.Fatalf("CheckFormat with a hint that is not there: %v", err)
			}
			var h interface{ Hint() string }
			if !errors.As(err, &h) || !strings.Contains(h.Hint(), "restic") {
				t.Errorf("no hint that names restic: %v", err)
			}
			_, err = repo.Open(ctx, be, "restic-pw", repo.Options{})
			if !errors.Is(err, repo.ErrResticRepository) || errors.Is(err, repo.ErrWrongPassword) || err.Error() != want {
				t.Fatalf("Open: %v, want %q", err, want)
			}
			_, err = repo.Init(ctx, be, "pw", repo.InitOptions{KDF: repotest.FastKDF})
			if err == nil || !strings.Contains(err.Error(), "a restic repository already exists") {
				t.Fatalf("Init: %v", err)
			}
		})
	}
}

// TestCairnRepositoryWithResticKey: a restic key file planted in a cairn
// repository neither makes it pass for restic's nor stops it opening;
// without the right password it is still a wrong password.
func TestCairnRepositoryWithResticKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dir := repotest.New(t, repo.InitOptions{})
	planted := filepath.Join(t.TempDir(), "restic")
	repotest.PlantRestic(t, planted)
	keys, err := filepath.Glob(filepath.Join(planted, "keys", "*"))
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	b, err := os.ReadFile(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	restic := filepath.Base(keys[0])
	if err := os.WriteFile(filepath.Join(dir, "keys", restic), b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The restic key listed first, then in the backend's order.
	for _, first := range []string{restic, ""} {
		be := listFirst{Backend: local.New(dir), first: first}
		if err := repo.CheckFormat(ctx, be, ""); err != nil {
			t.Fatalf("CheckFormat of a cairn repository (%q listed first): %v", first, err)
		}
		r, err := repo.Open(ctx, be, repotest.Password, repo.Options{})
		if err != nil {
			t.Fatalf("Open (%q listed first): %v", first, err)
		}
		r.Close()
	}
	be := local.New(dir)
	if _, err := repo.Open(ctx, be, "wrong", repo.Options{}); !errors.Is(err, repo.ErrWrongPassword) || errors.Is(err, repo.ErrResticRepository) {
		t.Fatalf("Open with a wrong password: %v", err)
	}
}

// listFirst lists the file first (if there) before the others.
type listFirst struct {
	backend.Backend
	first string
}

func (b listFirst) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	var rest []backend.FileInfo
	err := b.Backend.List(ctx, t, func(fi backend.FileInfo) error {
		if fi.Name == b.first {
			return fn(fi)
		}
		rest = append(rest, fi)
		return nil
	})
	if err != nil {
		return err
	}
	for _, fi := range rest {
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}
