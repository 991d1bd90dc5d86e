package backendtest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
)

// RunTemp checks ListTemp and RemoveTemp of be, a created, empty
// repository whose files are in the local directory root (for SFTP: a
// test server on this machine). Temporary files are made there by hand,
// as a killed save leaves them, with mtimes set in the past.
func RunTemp(t *testing.T, be backend.Backend, root string) {
	t.Helper()
	ctx := context.Background()
	if _, ok := be.(backend.TempLister); !ok {
		t.Fatalf("%T is not a backend.TempLister", be)
	}
	// A finished save leaves no temporary file.
	if err := backend.SaveBytes(ctx, be, backend.Handle{Type: backend.PackFile, Name: "ab" + "00"}, []byte("pack")); err != nil {
		t.Fatal(err)
	}
	if got := listTemp(t, be); len(got) != 0 {
		t.Fatalf("temporary files after a save: %v", got)
	}
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	files := map[string]time.Time{
		".tmp-config-123":          old,
		"index/.tmp-abcd-1":        old,
		"data/ab/.tmp-ab12-7-beef": old,
		"keys/.tmp-k-9":            {}, // now
	}
	for p, mt := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.WriteFile(full, []byte("partial "+p), 0o600); err != nil {
			t.Fatal(err)
		}
		if !mt.IsZero() {
			if err := os.Chtimes(full, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Neither a directory named like a temporary file nor an ordinary
	// file is one.
	if err := os.Mkdir(filepath.Join(root, "index", ".tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "index", "tmp-not"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := listTemp(t, be)
	var paths []string
	for _, f := range got {
		paths = append(paths, f.Path)
		want, ok := files[f.Path]
		if !ok {
			continue
		}
		if f.Size != int64(len("partial "+f.Path)) {
			t.Errorf("%s: size %d", f.Path, f.Size)
		}
		if !want.IsZero() && !f.ModTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", f.Path, f.ModTime, want)
		}
		if want.IsZero() && time.Since(f.ModTime) > time.Hour {
			t.Errorf("%s: mtime %v, want about now", f.Path, f.ModTime)
		}
	}
	slices.Sort(paths)
	want := []string{".tmp-config-123", "data/ab/.tmp-ab12-7-beef", "index/.tmp-abcd-1", "keys/.tmp-k-9"}
	if !slices.Equal(paths, want) {
		t.Fatalf("ListTemp = %q, want %q", paths, want)
	}
	// Temporary files never show up in List.
	for _, typ := range backend.AllTypes {
		_ = be.List(ctx, typ, func(fi backend.FileInfo) error {
			if fi.Name[0] == '.' {
				t.Errorf("List(%s) shows %s", typ, fi.Name)
			}
			return nil
		})
	}
	for _, bad := range []string{"data/ab/ab00", "index/tmp-not", "../.tmp-x", "data/../../.tmp-x", "/tmp/.tmp-x", "nosuch/.tmp-x", "index/ab/.tmp-x", "data/abc/.tmp-x"} {
		if err := backend.RemoveTemp(ctx, be, bad); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("RemoveTemp(%q) = %v, want a refusal", bad, err)
		}
	}
	for _, p := range want[:3] {
		if err := backend.RemoveTemp(ctx, be, p); err != nil {
			t.Fatalf("RemoveTemp(%s): %v", p, err)
		}
	}
	if err := backend.RemoveTemp(ctx, be, want[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoveTemp of a removed file = %v, want fs.ErrNotExist", err)
	}
	if got := listTemp(t, be); len(got) != 1 || got[0].Path != want[3] {
		t.Fatalf("after removal ListTemp = %v", got)
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.PackFile, Name: "ab00"}); err != nil {
		t.Fatalf("the pack beside the temporary files: %v", err)
	}
}

func listTemp(t *testing.T, be backend.Backend) []backend.TempFile {
	t.Helper()
	var got []backend.TempFile
	if err := backend.ListTemp(context.Background(), be, func(f backend.TempFile) error {
		got = append(got, f)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}
