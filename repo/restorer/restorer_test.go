package restorer_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// builder writes hand-made trees straight into a repository, as a hostile
// repository could hold them.
type builder struct {
	t       *testing.T
	r       *repo.Repository
	s       *repo.Saver
	repoDir string
}

func newBuilder(t *testing.T) *builder {
	r, dir := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	return &builder{t: t, r: r, s: r.NewSaver(), repoDir: dir}
}

func (b *builder) blob(typ pack.BlobType, data []byte) pack.ID {
	id, _, _, err := b.s.Save(context.Background(), typ, data, pack.Generation{})
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

func (b *builder) file(name, content string) map[string]any {
	return map[string]any{"name": name, "type": "file", "mode": 0o644, "size": len(content),
		"content": []string{b.blob(pack.DataBlob, []byte(content)).String()}, "mtime": time.Unix(1e9, 0)}
}

// tree stores raw nodes without the encoder's checks.
func (b *builder) tree(nodes ...map[string]any) pack.ID {
	raw, err := json.Marshal(map[string]any{"nodes": nodes})
	if err != nil {
		b.t.Fatal(err)
	}
	return b.blob(pack.TreeBlob, raw)
}

func (b *builder) dir(name string, sub pack.ID) map[string]any {
	return map[string]any{"name": name, "type": "dir", "mode": 0o20000000755, "subtree": sub.String(), "mtime": time.Unix(1e9, 0)}
}

func (b *builder) snapshot(tree pack.ID) *snapshot.Snapshot {
	ctx := context.Background()
	if err := b.r.Flush(ctx); err != nil {
		b.t.Fatal(err)
	}
	sn := &snapshot.Snapshot{Tree: tree, Kind: snapshot.Incremental, Paths: []string{"/x"}, Time: time.Now()}
	if err := snapshot.Save(ctx, b.r, sn); err != nil {
		b.t.Fatal(err)
	}
	return sn
}

// outsideUntouched checks that nothing but the target appeared in base.
func outsideUntouched(t *testing.T, base string, allowed ...string) {
	t.Helper()
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		ok := false
		for _, a := range allowed {
			ok = ok || e.Name() == a
		}
		if !ok {
			t.Errorf("restore wrote outside its target: %s", e.Name())
		}
	}
}

func TestHostileNames(t *testing.T) {
	for _, name := range []string{"../../etc/x", "a/b", "..", ".", "", "nul\x00byte"} {
		t.Run(name, func(t *testing.T) {
			b := newBuilder(t)
			good := b.file("good", "fine")
			sub := b.tree(b.file(name, "evil"))
			sn := b.snapshot(b.tree(b.dir("d", sub), good))
			base := t.TempDir()
			var errs []string
			_, err := restorer.Restore(context.Background(), b.r, sn, "/", filepath.Join(base, "target"), restorer.Options{
				OnError: func(p string, err error) { errs = append(errs, err.Error()) }})
			if err == nil || len(errs) != 1 {
				t.Fatalf("hostile name %q: err %v, reported %v", name, err, errs)
			}
			if !strings.Contains(errs[0], sn.ID().Short()) || !strings.Contains(errs[0], "tree "+sub.Short()) {
				t.Errorf("error does not name the snapshot and tree: %s", errs[0])
			}
			if b, _ := os.ReadFile(filepath.Join(base, "target", "good")); string(b) != "fine" {
				t.Errorf("the rest was not restored")
			}
			outsideUntouched(t, base, "target")
		})
	}
}

// TestSymlinkTricks: restore never writes through a symlink, whether the
// restore made it or it was already in the target.
func TestSymlinkTricks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644)
	target := filepath.Join(base, "target")

	// Snapshot 1: a symlink "d" pointing outside, and "f" pointing at the victim.
	b := newBuilder(t)
	link := func(name, to string) map[string]any {
		return map[string]any{"name": name, "type": "symlink", "mode": 0o1000000777, "link_target": to, "mtime": time.Unix(1e9, 0)}
	}
	sn1 := b.snapshot(b.tree(link("d", outside), link("f", filepath.Join(outside, "victim"))))
	if _, err := restorer.Restore(ctx, b.r, sn1, "/", target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	// Snapshot 2: "d" is a directory holding "victim", "f" a file.
	sn2 := b.snapshot(b.tree(b.dir("d", b.tree(b.file("victim", "evil"))), b.file("f", "evil")))
	for _, ow := range []restorer.Overwrite{restorer.OverwriteAlways, restorer.OverwriteIfChanged, restorer.OverwriteNever} {
		_, _ = restorer.Restore(ctx, b.r, sn2, "/", target, restorer.Options{Overwrite: ow, OnError: func(string, error) {}})
		if got, _ := os.ReadFile(filepath.Join(outside, "victim")); string(got) != "original" {
			t.Fatalf("overwrite %d: restore wrote through a symlink: victim now %q", ow, got)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("overwrite %d: restore created files outside: %v", ow, ents)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(target, "d", "victim")); string(got) != "evil" {
		t.Fatalf("the directory replacing the symlink was not restored: %q", got)
	}
	outsideUntouched(t, base, "target", "outside")
}

func TestDamagedBlobReported(t *testing.T) {
	ctx := context.Background()
	b := newBuilder(t)
	bad := b.file("bad", strings.Repeat("damaged soon ", 1000))
	good := b.file("good", "fine")
	sn := b.snapshot(b.tree(bad, good))
	// Damage the data blob of "bad".
	id, _ := pack.ParseID(bad["content"].([]string)[0])
	loc, _ := b.r.Index().Lookup(pack.BlobHandle{ID: id, Type: pack.DataBlob}, pack.Generation{})
	dir := filepath.Dir(filepath.Dir(filepath.Dir(b.r.Backend().Location() + "/x/y/z")))
	p := filepath.Join(dir, "data", loc.Pack.String()[:2], loc.Pack.String())
	os.Chmod(p, 0o600)
	data, _ := os.ReadFile(p)
	data[loc.Offset+40] ^= 0xff
	os.WriteFile(p, data, 0o600)

	var errs []string
	target := t.TempDir()
	_, err := restorer.Restore(ctx, b.r, sn, "/", target, restorer.Options{OnError: func(p string, err error) {
		errs = append(errs, p+": "+err.Error())
	}})
	if err == nil || len(errs) != 1 || !strings.Contains(errs[0], "bad") || !strings.Contains(errs[0], loc.Pack.Short()) {
		t.Fatalf("damage not reported with file and pack: %v %v", err, errs)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "good")); string(got) != "fine" {
		t.Fatal("the undamaged file was not restored")
	}
}
