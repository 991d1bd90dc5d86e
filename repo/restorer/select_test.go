package restorer_test

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func TestParseOverwrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want restorer.Overwrite
		ok   bool
	}{
		{"", restorer.OverwriteAlways, true},
		{"always", restorer.OverwriteAlways, true},
		{"if-changed", restorer.OverwriteIfChanged, true},
		{"if-newer", restorer.OverwriteIfNewer, true},
		{"never", restorer.OverwriteNever, true},
		{"Always", 0, false},
		{"sometimes", 0, false},
	}
	for _, tt := range tests {
		got, err := restorer.ParseOverwrite(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseOverwrite(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// regularFiles lists the regular files below root as slash paths.
func regularFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestRestoreSelection: include and exclude patterns and the snapshot
// path choose exactly the files restored.
func TestRestoreSelection(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	sub := b.tree(b.file("d.txt", "d"))
	dir := b.tree(b.file("b.txt", "b"), b.file("c.tmp", "c"), b.dir("sub", sub))
	other := b.tree(b.file("e.txt", "e"))
	sn := b.snapshot(b.tree(b.file("a.txt", "a"), b.dir("dir", dir), b.dir("other", other)))
	matcher := func(patterns ...string) *snapshot.Matcher {
		if len(patterns) == 0 {
			return nil
		}
		m, err := snapshot.NewMatcher(patterns, false)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name              string
		snapPath          string
		include, exclude  []string
		want              []string
		wantFiles, others int64
	}{
		{name: "everything", snapPath: "/", want: []string{"a.txt", "dir/b.txt", "dir/c.tmp", "dir/sub/d.txt", "other/e.txt"}},
		{name: "include a directory", snapPath: "/", include: []string{"/dir"}, want: []string{"dir/b.txt", "dir/c.tmp", "dir/sub/d.txt"}},
		{name: "include a deep file by name", snapPath: "/", include: []string{"d.txt"}, want: []string{"dir/sub/d.txt"}},
		{name: "exclude by pattern", snapPath: "/", exclude: []string{"*.tmp"}, want: []string{"a.txt", "dir/b.txt", "dir/sub/d.txt", "other/e.txt"}},
		{name: "include and exclude", snapPath: "/", include: []string{"/dir"}, exclude: []string{"sub"}, want: []string{"dir/b.txt", "dir/c.tmp"}},
		{name: "a subtree", snapPath: "/dir", want: []string{"b.txt", "c.tmp", "sub/d.txt"}},
		{name: "a subtree, excluding", snapPath: "/dir", exclude: []string{"/dir/sub"}, want: []string{"b.txt", "c.tmp"}},
		{name: "one file", snapPath: "/dir/b.txt", want: []string{"b.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := t.TempDir()
			st, err := restorer.Restore(context.Background(), b.r, sn, tt.snapPath, target,
				restorer.Options{Include: matcher(tt.include...), Exclude: matcher(tt.exclude...)})
			if err != nil {
				t.Fatal(err)
			}
			if got := regularFiles(t, target); !slices.Equal(got, tt.want) {
				t.Fatalf("restored %v, want %v", got, tt.want)
			}
			if st.Files != int64(len(tt.want)) {
				t.Errorf("stats count %d files, want %d", st.Files, len(tt.want))
			}
			for _, f := range tt.want {
				got, err := os.ReadFile(filepath.Join(target, f))
				if want := f[len(f)-5 : len(f)-4]; err != nil || string(got) != want {
					t.Errorf("%s holds %q (%v), want %q", f, got, err, want)
				}
			}
		})
	}
}

// TestRestoreOverwrite: what each overwrite policy does with files that
// are in the target already, as documented at Overwrite: always replaces
// them; if-changed keeps those whose content matches (untouched: their
// time stays) and replaces the others, also those of the same size;
// if-newer replaces those older than the snapshot's; never keeps them all.
// A file left in place is counted as skipped when it is the snapshot's
// version, as kept when it differs. Files only in the target stay unless
// Delete, which removes them.
func TestRestoreOverwrite(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	// The snapshot's files have mtime 2001-09-09 (builder.file).
	snap := map[string]string{
		"same":     "same content",
		"resized":  "the snapshot's content",
		"samesize": "snapshot",
		"newer":    "the snapshot's older version",
		"missing":  "only in the snapshot",
	}
	var nodes []map[string]any
	for _, name := range []string{"missing", "newer", "resized", "same", "samesize"} {
		nodes = append(nodes, b.file(name, snap[name]))
	}
	sn := b.snapshot(b.tree(nodes...))
	old := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	recent := time.Now().Add(-time.Minute).Truncate(time.Second)
	existing := map[string]string{
		"same":     "same content",
		"resized":  "what the target held",
		"samesize": "target!!", // as long as the snapshot's
		"newer":    "edited since the backup",
		"extra":    "only in the target",
	}
	const (
		keep    = "keep"
		replace = "replace"
	)
	tests := []struct {
		ow      restorer.Overwrite
		delete  bool
		want    map[string]string // per existing file
		skipped int64
		kept    int64
	}{
		{restorer.OverwriteAlways, false, map[string]string{"same": replace, "resized": replace, "samesize": replace, "newer": replace}, 0, 0},
		{restorer.OverwriteIfChanged, false, map[string]string{"same": keep, "resized": replace, "samesize": replace, "newer": replace}, 1, 0},
		{restorer.OverwriteIfNewer, false, map[string]string{"same": replace, "resized": replace, "samesize": replace, "newer": keep}, 0, 1},
		{restorer.OverwriteNever, false, map[string]string{"same": keep, "resized": keep, "samesize": keep, "newer": keep}, 1, 3},
		{restorer.OverwriteAlways, true, map[string]string{"same": replace, "resized": replace, "samesize": replace, "newer": replace}, 0, 0},
	}
	for _, tt := range tests {
		name := map[restorer.Overwrite]string{restorer.OverwriteAlways: "always", restorer.OverwriteIfChanged: "if-changed",
			restorer.OverwriteIfNewer: "if-newer", restorer.OverwriteNever: "never"}[tt.ow]
		if tt.delete {
			name += ", delete"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			target := t.TempDir()
			for f, content := range existing {
				p := filepath.Join(target, f)
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				mtime := old
				if f == "newer" {
					mtime = recent
				}
				if err := os.Chtimes(p, mtime, mtime); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			actions := map[string]string{}
			st, err := restorer.Restore(context.Background(), b.r, sn, "/", target, restorer.Options{Overwrite: tt.ow, Delete: tt.delete,
				OnAction: func(action, p string) {
					mu.Lock()
					defer mu.Unlock()
					actions[filepath.Base(p)] = action
				}})
			if err != nil {
				t.Fatal(err)
			}
			if st.Skipped != tt.skipped || st.Kept != tt.kept {
				t.Errorf("%d skipped, %d kept; want %d, %d", st.Skipped, st.Kept, tt.skipped, tt.kept)
			}
			for f, what := range tt.want {
				p := filepath.Join(target, f)
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				wantContent, wantTime, wantAction := snap[f], time.Unix(1e9, 0), "restore"
				if what == keep {
					wantContent, wantTime, wantAction = existing[f], old, "keep"
					if f == "same" {
						wantAction = "skip"
					}
					if f == "newer" {
						wantTime = recent
					}
				}
				if string(got) != wantContent || !fi.ModTime().Equal(wantTime) || actions[f] != wantAction {
					t.Errorf("%s: %q, mtime %v, action %q; want %s: %q, mtime %v, action %q", f, got, fi.ModTime(), actions[f], what, wantContent, wantTime, wantAction)
				}
			}
			if got, err := os.ReadFile(filepath.Join(target, "missing")); err != nil || string(got) != snap["missing"] {
				t.Errorf("the file only in the snapshot: %q, %v", got, err)
			}
			_, err = os.Stat(filepath.Join(target, "extra"))
			if tt.delete != os.IsNotExist(err) || (tt.delete && (st.Deleted != 1 || actions["extra"] != "delete")) {
				t.Errorf("delete %v: the file only in the target: %v; %d deleted, action %q", tt.delete, err, st.Deleted, actions["extra"])
			}
		})
	}
}

// TestRestoreIncludeMakesOnlyTheWay: with include patterns, a restore
// creates the directories that lead to a match and the matched
// directories with all they hold, empty ones too, and no other
// directory of the snapshot; those it creates get their metadata.
func TestRestoreIncludeMakesOnlyTheWay(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	empty := b.tree()
	deep := b.tree(b.file("hit.txt", "h"), b.dir("nothing", empty))
	sn := b.snapshot(b.tree(
		b.dir("a", b.tree(b.dir("b", deep), b.dir("empty", empty), b.file("miss.bin", "m"))),
		b.dir("c", b.tree(b.dir("d", b.tree(b.file("miss.bin", "m"))))),
		b.dir("m", b.tree(b.dir("e", empty), b.file("in.bin", "i"))),
		b.file("top.bin", "t"),
	))
	tests := []struct {
		name    string
		include []string
		dirs    []string
		files   []string
	}{
		{"a file by name", []string{"hit.txt"}, []string{"a", "a/b"}, []string{"a/b/hit.txt"}},
		{"an anchored file", []string{"/a/b/hit.txt"}, []string{"a", "a/b"}, []string{"a/b/hit.txt"}},
		{"a wildcard that matches nothing deeper", []string{"/*/*/hit.txt"}, []string{"a", "a/b"}, []string{"a/b/hit.txt"}},
		{"a directory", []string{"/m"}, []string{"m", "m/e"}, []string{"m/in.bin"}},
		{"an empty directory by name", []string{"nothing"}, []string{"a", "a/b", "a/b/nothing"}, nil},
		{"no match at all", []string{"*.none"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := snapshot.NewMatcher(tt.include, false)
			if err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			st, err := restorer.Restore(context.Background(), b.r, sn, "/", target, restorer.Options{Include: m})
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			err = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == target || !d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(target, p)
				dirs = append(dirs, filepath.ToSlash(rel))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dirs, tt.dirs) {
				t.Errorf("directories %v, want %v", dirs, tt.dirs)
			}
			if got := regularFiles(t, target); !slices.Equal(got, tt.files) {
				t.Errorf("files %v, want %v", got, tt.files)
			}
			if st.Dirs != int64(len(tt.dirs)) {
				t.Errorf("stats count %d dirs, want %d", st.Dirs, len(tt.dirs))
			}
			dry, err := restorer.Restore(context.Background(), b.r, sn, "/", filepath.Join(t.TempDir(), "none"), restorer.Options{Include: m, DryRun: true})
			if err != nil || dry.Dirs != st.Dirs || dry.Files != st.Files {
				t.Errorf("--dry-run counts %d dirs, %d files (%v); the restore %d, %d", dry.Dirs, dry.Files, err, st.Dirs, st.Files)
			}
			for _, d := range tt.dirs {
				fi, err := os.Stat(filepath.Join(target, d))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(time.Unix(1e9, 0)) {
					t.Errorf("%s: mode %v, mtime %v; want the snapshot's 0755 and %v", d, fi.Mode().Perm(), fi.ModTime(), time.Unix(1e9, 0))
				}
			}
		})
	}
}

// TestRestoreNeverSpecials: --overwrite never leaves symlinks and other
// special objects in place and counts those that are already the
// snapshot's (a symlink to the same target) as skipped, the others as
// kept.
func TestRestoreNeverSpecials(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	link := func(name, to string) map[string]any {
		return map[string]any{"name": name, "type": "symlink", "mode": fs.ModeSymlink | 0o777, "link_target": to, "mtime": time.Unix(1e9, 0)}
	}
	fifo := map[string]any{"name": "pipe", "type": "fifo", "mode": fs.ModeNamedPipe | 0o644, "mtime": time.Unix(1e9, 0)}
	sn := b.snapshot(b.tree(link("moved", "there"), fifo, link("same", "there")))
	target := t.TempDir()
	for name, to := range map[string]string{"same": "there", "moved": "elsewhere"} {
		if err := os.Symlink(to, filepath.Join(target, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(target, "pipe"), []byte("a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	actions := map[string]string{}
	st, err := restorer.Restore(context.Background(), b.r, sn, "/", target, restorer.Options{Overwrite: restorer.OverwriteNever,
		OnAction: func(action, p string) {
			mu.Lock()
			defer mu.Unlock()
			actions[filepath.Base(p)] = action
		}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 1 || st.Kept != 2 || st.Others != 0 {
		t.Errorf("%d skipped, %d kept, %d restored; want 1, 2, 0", st.Skipped, st.Kept, st.Others)
	}
	if want := map[string]string{"same": "skip", "moved": "keep", "pipe": "keep"}; !maps.Equal(actions, want) {
		t.Errorf("actions %v, want %v", actions, want)
	}
	if to, _ := os.Readlink(filepath.Join(target, "moved")); to != "elsewhere" {
		t.Errorf("the local symlink was replaced: it points to %q", to)
	}
	if fi, err := os.Lstat(filepath.Join(target, "pipe")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the local file was replaced: %v, %v", fi, err)
	}
}
