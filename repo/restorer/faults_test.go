package restorer_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestRestoreByteExact: a backup by the archiver of files (one of several
// chunks, one mostly zeros, an empty one), nested and empty directories
// and symlinks (relative, absolute and dangling, to a directory) restores
// to the same tree: same names, types, contents, permissions, link
// targets and modification times, nothing more; Verify reads every file
// back.
func TestRestoreByteExact(t *testing.T) {
	t.Parallel()
	r, _ := repotest.New(t, repo.InitOptions{})
	src := filepath.Join(t.TempDir(), "src")
	big := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	zeros := append(make([]byte, 64<<10), "end"...)
	repotest.WriteFiles(t, src, map[string]string{
		"a.txt":            "alpha\n",
		"exec.sh":          "#!/bin/sh\necho hi\n",
		"private":          "secret",
		"dir/big.bin":      string(big),
		"dir/zeros.bin":    string(zeros),
		"dir/empty.txt":    "",
		"dir/sub/deep.txt": "deep",
		"emptydir/":        "",
	})
	for name, mode := range map[string]os.FileMode{"exec.sh": 0o755, "private": 0o600, "dir/sub": 0o750} {
		if err := os.Chmod(filepath.Join(src, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	for to, link := range map[string]string{"dir/sub/deep.txt": "link", "/nonexistent/target": "dir/dangling", "dir": "dirlink"} {
		if err := os.Symlink(to, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Date(2020, 2, 3, 4, 5, 6, 789, time.UTC)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		mtime = mtime.Add(time.Hour)
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	sn := repotest.Backup(t, r, src)

	target := filepath.Join(t.TempDir(), "target")
	st, err := restorer.Restore(context.Background(), r, sn, src, target, restorer.Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	const files = 7
	if st.Files != files || st.Verified != files || st.Errors != 0 || st.Others != 3 {
		t.Errorf("stats %+v, want %d files verified, 3 symlinks", st, files)
	}
	sameTree(t, src, target)
}

// sameTree compares the tree at got with the one at want, below their
// roots.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		if rel == "." {
			return nil
		}
		seen[rel] = true
		wi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
			return nil
		}
		switch {
		case wi.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, err := os.Readlink(filepath.Join(got, rel))
			if err != nil || gl != wl {
				t.Errorf("%s: link to %q (%v), want %q", rel, gl, err, wl)
			}
			return nil
		case wi.Mode().IsRegular():
			wb, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			gb, err := os.ReadFile(filepath.Join(got, rel))
			if err != nil || !bytes.Equal(wb, gb) {
				t.Errorf("%s: content differs (%d bytes, want %d; %v)", rel, len(gb), len(wb), err)
			}
		}
		if !gi.ModTime().Equal(wi.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(got, p); rel != "." && !seen[rel] {
			t.Errorf("%s: restored, but not in the source", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// faultRepo is a snapshot of three files, each with its data in a pack
// of its own: "one" (a blob), "multi" (three blobs) and "good".
type faultRepo struct {
	b        *builder
	sn       *snapshot.Snapshot
	contents map[string]string
	packs    map[string]pack.ID
	// firstLen is the stored length of the first blob of "multi".
	firstLen int
}

func newFaultRepo(t *testing.T) *faultRepo {
	t.Helper()
	ctx := context.Background()
	b := newBuilder(t)
	fr := &faultRepo{b: b, contents: map[string]string{}, packs: map[string]pack.ID{}}
	mtime := time.Unix(1e9, 0)
	var nodes []map[string]any
	for _, name := range []string{"good", "multi", "one"} { // sorted, as trees are
		n := 1
		if name == "multi" {
			n = 3
		}
		var ids []string
		var content string
		for i := range n {
			piece := strings.Repeat(name+string(rune('0'+i)), 500)
			content += piece
			ids = append(ids, b.blob(pack.DataBlob, []byte(piece)).String())
		}
		if err := b.r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		first, _ := pack.ParseID(ids[0])
		loc, ok := b.r.Index().Lookup(pack.BlobHandle{ID: first, Type: pack.DataBlob}, pack.Generation{})
		if !ok {
			t.Fatalf("blob of %s not indexed", name)
		}
		if name == "multi" {
			fr.firstLen = int(loc.Length)
		}
		fr.packs[name] = loc.Pack
		fr.contents[name] = content
		nodes = append(nodes, map[string]any{"name": name, "type": "file", "mode": 0o644, "size": len(content), "content": ids, "mtime": mtime})
	}
	fr.sn = b.snapshot(b.tree(nodes...))
	return fr
}

// packPattern is the fault pattern of the pack holding file name's data.
func (fr *faultRepo) packPattern(name string) string {
	id := fr.packs[name].String()
	return "data/" + id[:2] + "/" + id
}

// TestRestoreLoadFaults: a file whose data can't be loaded, or loads
// damaged, is reported (its path, the pack, the cause; damage as
// repo.ErrDamaged) and is not left in the target as if restored; the
// other files are restored, and the restore says it is incomplete. A
// fault the retrying backend rides out leaves no trace. After a failed
// restore, one without faults completes the target under every
// overwrite policy that replaces outdated files.
func TestRestoreLoadFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   string // the file whose pack the fault is on
		fault  func(fr *faultRepo) backend.Fault
		retry  int    // attempts of a retrying backend around the faulty one (0: none)
		failed string // the file reported ("": none)
		damage bool   // reported as damage
		fired  int    // how often the fault fires (0: at least once)
	}{
		{name: "load of a one-blob file fails", file: "one", failed: "one",
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("one"), Err: backend.ErrInjected}
			}},
		{name: "load of a three-blob file fails", file: "multi", failed: "multi",
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("multi"), Err: backend.ErrInjected}
			}},
		{name: "load cut after the first of three blobs", file: "multi", failed: "multi", damage: true,
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("multi"), Truncate: fr.firstLen + 1}
			}},
		{name: "a byte flipped on the way", file: "one", failed: "one", damage: true,
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("one"), Flip: true, FlipAt: 40}
			}},
		{name: "the last blob of three flipped", file: "multi", failed: "multi", damage: true,
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("multi"), Flip: true, FlipAt: 2*fr.firstLen + 40}
			}},
		{name: "fails once, retried", file: "multi", retry: 3, fired: 1,
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("multi"), Times: 1, Err: backend.ErrInjected}
			}},
		{name: "fails past the retries", file: "one", retry: 2, failed: "one", fired: 2,
			fault: func(fr *faultRepo) backend.Fault {
				return backend.Fault{Op: backend.Load, Type: backend.PackFile, Pattern: fr.packPattern("one"), Err: backend.ErrInjected}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			fr := newFaultRepo(t)
			faulty := backend.NewFaulty(local.New(fr.b.repoDir), tt.fault(fr))
			var be backend.Backend = faulty
			if tt.retry > 0 {
				be = &backend.Retry{Backend: faulty, Attempts: tt.retry, Base: time.Millisecond, Max: time.Millisecond}
			}
			r := repotest.OpenOn(t, be, repo.SessionOptions{Index: true})
			target := t.TempDir()
			var mu sync.Mutex
			reported := map[string]error{}
			st, err := restorer.Restore(ctx, r, fr.sn, "/", target, restorer.Options{OnError: func(p string, err error) {
				mu.Lock()
				defer mu.Unlock()
				reported[p] = err
			}})
			if n := faulty.Fired(0); n == 0 || (tt.fired > 0 && n != tt.fired) {
				t.Fatalf("the fault fired %d times, want %d (0: any); restore: %v, reported %v", n, tt.fired, err, reported)
			}
			for name, content := range fr.contents {
				got, rerr := os.ReadFile(filepath.Join(target, name))
				if name != tt.failed {
					if rerr != nil || string(got) != content {
						t.Errorf("%s: not restored (%v, %d bytes of %d)", name, rerr, len(got), len(content))
					}
					continue
				}
				// Not restored, and nothing in its place that could pass
				// for it: neither its size nor its time.
				if fi, serr := os.Lstat(filepath.Join(target, name)); serr == nil {
					t.Errorf("%s failed but is in the target: %d bytes of %d, mode %v, mtime %v", name, fi.Size(), len(content), fi.Mode(), fi.ModTime())
				}
			}
			if tt.failed == "" {
				if err != nil || len(reported) != 0 || st.Errors != 0 {
					t.Fatalf("restore: %v, reported %v", err, reported)
				}
				return
			}
			if !errors.Is(err, restorer.ErrPartial) || st.Errors != 1 || len(reported) != 1 {
				t.Fatalf("restore: %v, %d errors, reported %v; want one error, ErrPartial", err, st.Errors, reported)
			}
			ferr, ok := reported[filepath.Join(target, tt.failed)]
			if !ok {
				t.Fatalf("reported %v, want %s", reported, tt.failed)
			}
			if !strings.Contains(ferr.Error(), fr.packs[tt.file].Short()) {
				t.Errorf("the error does not name pack %s: %v", fr.packs[tt.file].Short(), ferr)
			}
			if tt.damage != errors.Is(ferr, repo.ErrDamaged) {
				t.Errorf("error %v: damage %v, want %v", ferr, !tt.damage, tt.damage)
			}
			if !tt.damage && !errors.Is(ferr, backend.ErrInjected) {
				t.Errorf("error %v does not carry the storage's error", ferr)
			}

			// Run again without the fault: whatever the first run left
			// must not pass for the restored file.
			for _, ow := range []restorer.Overwrite{restorer.OverwriteIfNewer, restorer.OverwriteIfChanged, restorer.OverwriteAlways} {
				if _, err := restorer.Restore(ctx, fr.b.r, fr.sn, "/", target, restorer.Options{Overwrite: ow}); err != nil {
					t.Fatalf("overwrite %d: restore without the fault: %v", ow, err)
				}
				if got, _ := os.ReadFile(filepath.Join(target, tt.failed)); string(got) != fr.contents[tt.failed] {
					t.Errorf("overwrite %d: after a restore without the fault, %s holds %d bytes that differ from the snapshot's", ow, tt.failed, len(got))
				}
			}
		})
	}
}
