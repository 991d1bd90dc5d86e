//go:build unix

package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeepTree (issue 14): paths longer than PATH_MAX back up and restore
// exactly. 90 levels of 70-byte names make paths of about 6,400 bytes;
// the test builds and checks them through os.Root, one level at a time.
func TestDeepTree(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.Mkdir(src, 0o755)
	name := func(i int) string { return fmt.Sprintf("%02d", i) + strings.Repeat("d", 68) }
	root, err := os.OpenRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 90 {
		if err := root.Mkdir(name(i), 0o750); err != nil {
			t.Fatal(err)
		}
		if i%30 == 29 {
			if err := root.WriteFile("at-"+name(i), []byte(fmt.Sprintf("file at level %d\n", i)), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		next, err := root.OpenRoot(name(i))
		root.Close()
		if err != nil {
			t.Fatal(err)
		}
		root = next
	}
	if err := root.WriteFile("leaf.txt", []byte("the deepest file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := root.Symlink("leaf.txt", "leaf-link"); err != nil {
		t.Fatal(err)
	}
	root.Close()

	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	target := filepath.Join(base, "restore")
	mustCairn(t, env, "restore", "latest", "--target", target)

	got, err := os.OpenRoot(filepath.Join(target, src))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 90 {
		if i%30 == 29 {
			if b, err := got.ReadFile("at-" + name(i)); err != nil || string(b) != fmt.Sprintf("file at level %d\n", i) {
				t.Fatalf("file at level %d: %q, %v", i, b, err)
			}
		}
		fi, err := got.Lstat(name(i))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Fatalf("level %d: %v, %v", i, fi, err)
		}
		next, err := got.OpenRoot(name(i))
		got.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = next
	}
	defer got.Close()
	if b, err := got.ReadFile("leaf.txt"); err != nil || string(b) != "the deepest file\n" {
		t.Fatalf("deepest file: %q, %v", b, err)
	}
	if l, err := got.Readlink("leaf-link"); err != nil || l != "leaf.txt" {
		t.Fatalf("deepest symlink: %q, %v", l, err)
	}
	if out := mustCairn(t, env, "ls", "-R", "latest"); !strings.Contains(out, "leaf-link") {
		t.Fatalf("ls does not list the deepest entries")
	}
}
