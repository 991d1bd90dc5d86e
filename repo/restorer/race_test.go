package restorer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/repo/restorer"
)

// TestRestoreSwappedDirectory (issue 14, demonstrated 1): while restore
// runs, someone who can write to the target replaces a directory restore
// just made with a symlink to a directory outside. Nothing may be written,
// chmodded or replaced through it; the restore reports the paths it could
// not restore. The swap happens from OnAction, so it lands between the
// directory's creation and its files' writes every time.
func TestRestoreSwappedDirectory(t *testing.T) {
	for _, swap := range []string{"subdirectory", "target itself"} {
		t.Run(swap, func(t *testing.T) {
			b := newBuilder(t)
			var nodes []map[string]any
			for i := range 50 {
				nodes = append(nodes, b.file(fmt.Sprintf("f%02d", i), strings.Repeat("x", i)))
			}
			inner := b.tree(b.file("deep", "deep file\n"))
			nodes = append(nodes, b.dir("inner", inner), b.file("victim", "from the snapshot\n"))
			d := b.dir("d", b.tree(nodes...))
			d["mode"] = 0o20000000777
			sn := b.snapshot(b.tree(d))

			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			os.Mkdir(outside, 0o700)
			os.WriteFile(filepath.Join(outside, "victim"), []byte("root's own file\n"), 0o600)
			target := filepath.Join(base, "target")
			var once sync.Once
			opts := restorer.Options{OnAction: func(action, p string) {
				if action != "restore" || !strings.Contains(p, string(filepath.Separator)+"d"+string(filepath.Separator)) {
					return
				}
				once.Do(func() {
					var err error
					if swap == "subdirectory" {
						dir := filepath.Join(target, "d")
						if err = os.Rename(dir, filepath.Join(base, "moved")); err == nil {
							err = os.Symlink(outside, dir)
						}
					} else {
						// Everything restore writes stays in the real
						// target, wherever it is now.
						if err = os.Rename(target, filepath.Join(base, "moved")); err == nil {
							err = os.Symlink(outside, target)
						}
					}
					if err != nil {
						t.Error(err)
					}
				})
			}}
			var reported []string
			var mu sync.Mutex
			opts.OnError = func(p string, err error) {
				mu.Lock()
				reported = append(reported, p+": "+err.Error())
				mu.Unlock()
			}
			_, err := restorer.Restore(context.Background(), b.r, sn, "/", target, opts)

			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("the outside directory holds %d entries after the restore", len(ents))
			}
			if got, _ := os.ReadFile(filepath.Join(outside, "victim")); string(got) != "root's own file\n" {
				t.Errorf("the outside file now holds %q", got)
			}
			if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o700 {
				t.Errorf("the outside directory's mode is now %v", fi.Mode().Perm())
			}
			moved := filepath.Join(base, "moved")
			if swap == "subdirectory" {
				if err == nil || !errors.Is(err, restorer.ErrPartial) || len(reported) == 0 {
					t.Fatalf("restore through a swapped directory: %v, reported %v", err, reported)
				}
				for _, r := range reported {
					if strings.Contains(r, "invalid tree") {
						t.Fatalf("the test's snapshot is invalid: %s", r)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("restore into a renamed target: %v (reported %v)", err, reported)
				}
				if got, _ := os.ReadFile(filepath.Join(moved, "d", "inner", "deep")); string(got) != "deep file\n" {
					t.Fatalf("the renamed target holds %q", got)
				}
			}
		})
	}
}
