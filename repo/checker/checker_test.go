package checker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/index"
	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
	"github.com/klauspost/compress/zstd"
)

// fixture is a repository holding one backup (by the archiver) of a small
// tree: files in nested directories, an empty directory and a symlink.
type fixture struct {
	dir string // the repository
	src string // the backed-up tree, an absolute path (and so in the snapshot)
	sn  *snapshot.Snapshot
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	r, dir := repotest.New(t, repo.InitOptions{})
	src := filepath.Join(t.TempDir(), "src")
	repotest.WriteFiles(t, src, map[string]string{
		"a.txt":         "alpha",
		"dir/b.txt":     strings.Repeat("beta ", 2000),
		"dir/sub/c.txt": "gamma",
		"empty/":        "",
	})
	if err := os.Symlink("dir/b.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	sn := repotest.Backup(t, r, src)
	r.Session().Close()
	return fixture{dir: dir, src: src, sn: sn}
}

// open opens the fixture's repository the way `cairn check` does: a
// shared lock, the index loaded with the entries of missing packs kept.
func (f fixture) open(t *testing.T) *repo.Repository {
	t.Helper()
	return repotest.OpenOn(t, local.New(f.dir), repo.SessionOptions{Index: true, KeepMissing: true})
}

// where is how the checker names path rel of the source in the snapshot.
func (f fixture) where(rel string) string {
	return f.sn.ID().Short() + ":" + path.Join(filepath.ToSlash(f.src), rel)
}

// node returns the node at path rel of the source in the snapshot.
func (f fixture) node(t *testing.T, r *repo.Repository, rel string) *snapshot.Node {
	t.Helper()
	n, _, err := snapshot.FindNode(context.Background(), r, f.sn.Tree, path.Join(filepath.ToSlash(f.src), rel))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// blobPack returns the only pack holding blob h.
func blobPack(t *testing.T, r *repo.Repository, h pack.BlobHandle) pack.ID {
	t.Helper()
	locs := r.Index().LookupAny(h)
	if len(locs) != 1 {
		t.Fatalf("blob %s has %d locations", h.ID.Short(), len(locs))
	}
	return locs[0].Pack
}

// check checks the repository in dir as `cairn check` opens it.
func check(t *testing.T, dir string, o checker.Options) *checker.Report {
	t.Helper()
	r := repotest.OpenOn(t, local.New(dir), repo.SessionOptions{Index: true, KeepMissing: true})
	rep, err := checker.Check(context.Background(), r, o)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	r.Session().Close()
	return rep
}

// want is a problem a check must report: Message and Affects are
// substrings of the problem's message and one of its affected paths
// (empty: anything).
type want struct {
	kind, object, message, affects string
}

func (w want) in(ps []checker.Problem) bool {
	for _, p := range ps {
		if p.Kind != w.kind || p.Object != w.object || !strings.Contains(p.Message, w.message) {
			continue
		}
		if w.affects == "" || slices.ContainsFunc(p.Affects, func(a string) bool { return strings.Contains(a, w.affects) }) {
			return true
		}
	}
	return false
}

func (w want) String() string {
	return fmt.Sprintf("%s %s: …%s… (affects %q)", w.kind, w.object, w.message, w.affects)
}

// TestCheckClean: a fresh backup checks clean with every pack read: no
// errors, no warnings, and the counts say what was checked.
func TestCheckClean(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, readData := range []bool{false, true} {
		rep := check(t, f.dir, checker.Options{ReadData: readData})
		if len(rep.Errors) != 0 || len(rep.Warnings) != 0 {
			t.Fatalf("read data %v: a clean repository reports errors %v, warnings %v", readData, rep.Errors, rep.Warnings)
		}
		if rep.Damaged() {
			t.Fatalf("read data %v: Damaged() without errors", readData)
		}
		if rep.Snapshots != 1 || rep.Packs < 2 {
			t.Fatalf("read data %v: %d snapshots, %d packs; want 1 and a data and a tree pack at least", readData, rep.Snapshots, rep.Packs)
		}
		if !readData && (rep.PacksRead != 0 || rep.BlobsChecked != 0) {
			t.Fatalf("without read data: %d packs read, %d blobs checked", rep.PacksRead, rep.BlobsChecked)
		}
		// 3 files with data (one blob each: b.txt is below the chunker's
		// minimum) and a tree per directory, src, dir, sub and empty
		// among them.
		if readData && (rep.PacksRead != rep.Packs || rep.BlobsChecked < 3+4) {
			t.Fatalf("read data: %d of %d packs read, %d blobs checked", rep.PacksRead, rep.Packs, rep.BlobsChecked)
		}
	}
}

// TestCheckDamage: each kind of damage is reported as an error naming the
// damaged object and, where it has one, what in the snapshot depends on
// it; and the report says Damaged.
func TestCheckDamage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		readData bool
		// damage damages the fixture's repository (r is open on it, in a
		// session) and returns the problems the check must report.
		damage func(t *testing.T, f fixture, r *repo.Repository) []want
	}{
		{"data pack deleted", false, func(t *testing.T, f fixture, r *repo.Repository) []want {
			b := f.node(t, r, "dir/b.txt").Content[0]
			p := blobPack(t, r, pack.BlobHandle{ID: b, Type: pack.DataBlob})
			if err := os.Remove(repotest.PackPath(f.dir, p)); err != nil {
				t.Fatal(err)
			}
			return []want{
				{"pack", p.Short(), "is in the index but missing from the repository", ""},
				{"blob", b.Short(), "is missing", f.where("dir/b.txt")},
			}
		}},
		{"data pack byte flipped, read data", true, func(t *testing.T, f fixture, r *repo.Repository) []want {
			b := f.node(t, r, "dir/b.txt").Content[0]
			loc := r.Index().LookupAny(pack.BlobHandle{ID: b, Type: pack.DataBlob})[0]
			repotest.FlipByte(t, repotest.PackPath(f.dir, loc.Pack), int64(loc.Offset+loc.Length/2))
			return []want{
				{"pack", loc.Pack.Short(), "content does not match its name", ""},
				{"pack", loc.Pack.Short(), "1 damaged blobs (" + b.Short() + ")", f.where("dir/b.txt")},
			}
		}},
		{"tree pack deleted", false, func(t *testing.T, f fixture, r *repo.Repository) []want {
			sub := *f.node(t, r, "dir/sub").Subtree
			p := blobPack(t, r, pack.BlobHandle{ID: sub, Type: pack.TreeBlob})
			if err := os.Remove(repotest.PackPath(f.dir, p)); err != nil {
				t.Fatal(err)
			}
			missing := want{"tree", sub.Short(), "is missing", f.where("dir/sub")}
			if p == blobPack(t, r, pack.BlobHandle{ID: f.sn.Tree, Type: pack.TreeBlob}) {
				// The root went with it: the walk stops there.
				missing = want{"tree", f.sn.Tree.Short(), "is missing", f.sn.ID().Short() + ":/"}
			}
			return []want{{"pack", p.Short(), "is in the index but missing from the repository", ""}, missing}
		}},
		{"index names a pack no snapshot needs, which is gone", false, func(t *testing.T, f fixture, r *repo.Repository) []want {
			p := packOf(t, r, save(t, r, pack.DataBlob, []byte("in a pack of its own, needed by nobody")))
			if err := os.Remove(repotest.PackPath(f.dir, p)); err != nil {
				t.Fatal(err)
			}
			return []want{{"pack", p.Short(), "is in the index but missing from the repository", ""}}
		}},
		{"index names a blob at a place its pack doesn't have, read data", true, func(t *testing.T, f fixture, r *repo.Repository) []want {
			b := f.node(t, r, "dir/b.txt").Content[0]
			loc := r.Index().LookupAny(pack.BlobHandle{ID: b, Type: pack.DataBlob})[0]
			e := loc.Entry
			e.Offset++ // an index file that lies about where the blob is
			file := index.File{Packs: []index.Pack{{ID: loc.Pack, Entries: []pack.Entry{e}}}}
			if _, err := r.SaveUnpacked(context.Background(), backend.IndexFile, file.Encode()); err != nil {
				t.Fatal(err)
			}
			return []want{{"pack", loc.Pack.Short(), "the index names blobs its header doesn't hold", ""}}
		}},
		{"blob that doesn't match its ID amid compressed blobs, read data", true, func(t *testing.T, f fixture, r *repo.Repository) []want {
			// A pack sealed under the repository's key, so every blob
			// opens, whose middle blob has the ID of other content: its
			// ID is finished only along with the blobs after it.
			var buf bytes.Buffer
			w := pack.NewWriter(pack.Generation{}, pack.DataBlob, &buf)
			codec, ids := pack.NewCodec(r.Key(), zstd.SpeedDefault), r.Key().NewIDHasher()
			var bad pack.ID
			for i := range 5 {
				b := []byte(strings.Repeat(fmt.Sprintf("blob %d of a pack, compressible; ", i), 20000))
				stored, e := codec.Encode(nil, b, pack.DataBlob)
				e.ID = ids.Sum(b)
				if i == 2 {
					e.ID = ids.Sum(b[1:])
					bad = e.ID
				}
				if err := w.Add(e, stored); err != nil {
					t.Fatal(err)
				}
			}
			entries, _, err := w.Finalize(r.Key())
			if err != nil {
				t.Fatal(err)
			}
			id := pack.Hash(buf.Bytes())
			if err := os.MkdirAll(filepath.Dir(repotest.PackPath(f.dir, id)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(repotest.PackPath(f.dir, id), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			file := index.File{Packs: []index.Pack{{ID: id, Entries: entries}}}
			if _, err := r.SaveUnpacked(context.Background(), backend.IndexFile, file.Encode()); err != nil {
				t.Fatal(err)
			}
			return []want{{"pack", id.Short(), "1 damaged blobs (" + bad.Short() + ")", ""}}
		}},
		{"snapshot file byte flipped", false, func(t *testing.T, f fixture, r *repo.Repository) []want {
			id := f.sn.ID().String()
			repotest.FlipByte(t, filepath.Join(f.dir, "snapshots", id), 40)
			return []want{{"snapshot", id[:12], "content does not match its name", ""}}
		}},
		{"snapshot file truncated", false, func(t *testing.T, f fixture, r *repo.Repository) []want {
			id := f.sn.ID().String()
			p := filepath.Join(f.dir, "snapshots", id)
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
			return []want{{"snapshot", id[:12], "content does not match its name", ""}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			r := f.open(t)
			wants := tt.damage(t, f, r)
			r.Session().Close()
			rep := check(t, f.dir, checker.Options{ReadData: tt.readData})
			if !rep.Damaged() {
				t.Fatalf("damage not found: errors %v, warnings %v", rep.Errors, rep.Warnings)
			}
			for _, w := range wants {
				if !w.in(rep.Errors) {
					t.Errorf("missing error %v; errors: %v", w, rep.Errors)
				}
			}
		})
	}
}

// TestCheckMissingSubtree: a subtree whose pack is gone is reported as a
// missing tree at its directory; the rest of the snapshot is still walked
// (the file beside it is fine).
func TestCheckMissingSubtree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	enc := func(tr *snapshot.Tree) []byte {
		b, err := tr.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fileNode := func(name string, blob pack.ID) *snapshot.Node {
		return &snapshot.Node{Name: name, Type: snapshot.TypeFile, Mode: 0o644, Content: []pack.ID{blob}}
	}
	inner := save(t, r, pack.DataBlob, []byte("in the lost directory"))
	beside := save(t, r, pack.DataBlob, []byte("beside it"))
	sub := save(t, r, pack.TreeBlob, enc(&snapshot.Tree{Nodes: []*snapshot.Node{fileNode("f", inner)}}))
	root := save(t, r, pack.TreeBlob, enc(&snapshot.Tree{Nodes: []*snapshot.Node{
		{Name: "d", Type: snapshot.TypeDir, Mode: os.ModeDir | 0o755, Subtree: &sub},
		fileNode("g", beside),
	}}))
	sn := &snapshot.Snapshot{Tree: root, Kind: snapshot.Full, Time: time.Now(), Paths: []string{"/x"}}
	if err := snapshot.Save(ctx, r, sn); err != nil {
		t.Fatal(err)
	}
	lost := blobPack(t, r, pack.BlobHandle{ID: sub, Type: pack.TreeBlob})
	if lost == blobPack(t, r, pack.BlobHandle{ID: root, Type: pack.TreeBlob}) {
		t.Fatal("the test needs the subtree in a pack of its own")
	}
	r.Session().Close()
	if err := os.Remove(repotest.PackPath(dir, lost)); err != nil {
		t.Fatal(err)
	}
	rep := check(t, dir, checker.Options{ReadData: true})
	w := want{"tree", sub.Short(), "is missing", sn.ID().Short() + ":/d"}
	if !rep.Damaged() || !w.in(rep.Errors) {
		t.Fatalf("errors %v, want %v", rep.Errors, w)
	}
	for _, p := range rep.Errors {
		if slices.ContainsFunc(p.Affects, func(a string) bool { return strings.HasSuffix(a, ":/g") }) {
			t.Errorf("the intact file beside the lost tree is reported: %v", p)
		}
	}
}

// TestCheckMissingPackAnySession: a library caller that checks in a
// session which dropped the entries of missing packs (repotest.Open,
// job sessions without KeepMissing) must still learn of a pack the index
// names and the repository lacks: the session knows it is missing.
func TestCheckMissingPackAnySession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.open(t)
	p := packOf(t, r, save(t, r, pack.DataBlob, []byte("in a pack of its own, needed by nobody")))
	r.Session().Close()
	if err := os.Remove(repotest.PackPath(f.dir, p)); err != nil {
		t.Fatal(err)
	}
	for _, keep := range []bool{true, false} {
		r := repotest.OpenOn(t, local.New(f.dir), repo.SessionOptions{Index: true, KeepMissing: keep})
		rep, err := checker.Check(context.Background(), r, checker.Options{})
		r.Session().Close()
		if err != nil {
			t.Fatal(err)
		}
		w := want{"pack", p.Short(), "missing from the repository", ""}
		if !rep.Damaged() || !w.in(rep.Errors) {
			t.Errorf("keep missing %v: errors %v, want %v", keep, rep.Errors, w)
		}
	}
}

// TestCheckReadDataSubset: a flipped byte inside a pack leaves its size
// alone, so only reading it finds it; the n/m subsets together read every
// pack exactly once, and only the part holding the damaged pack finds it;
// a byte budget reads at least one pack and stops.
func TestCheckReadDataSubset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.open(t)
	// More packs, so the parts differ.
	for i := range 12 {
		snapshotOf(t, r, save(t, r, pack.DataBlob, []byte(fmt.Sprintf("blob %d in a pack of its own", i))))
	}
	b := f.node(t, r, "dir/b.txt").Content[0]
	loc := r.Index().LookupAny(pack.BlobHandle{ID: b, Type: pack.DataBlob})[0]
	r.Session().Close()
	repotest.FlipByte(t, repotest.PackPath(f.dir, loc.Pack), int64(loc.Offset+loc.Length/2))

	if rep := check(t, f.dir, checker.Options{}); rep.Damaged() || rep.PacksRead != 0 {
		t.Fatalf("without read data: %d packs read, errors %v; want none (the size is right)", rep.PacksRead, rep.Errors)
	}
	all := check(t, f.dir, checker.Options{ReadData: true})
	if !all.Damaged() || all.PacksRead != all.Packs {
		t.Fatalf("read data: %d of %d packs read, errors %v", all.PacksRead, all.Packs, all.Errors)
	}
	const of = 4
	read, found := 0, 0
	for part := 1; part <= of; part++ {
		rep := check(t, f.dir, checker.Options{ReadData: true, Part: part, Of: of})
		read += rep.PacksRead
		hit := want{"pack", loc.Pack.Short(), "damaged blobs", ""}.in(rep.Errors)
		if hit {
			found++
		}
		v := int(loc.Pack[0])<<8 | int(loc.Pack[1])
		if inPart := v*of/65536 == part-1; hit != inPart {
			t.Errorf("part %d/%d: damage found %v, but the pack is in this part: %v (errors %v)", part, of, hit, inPart, rep.Errors)
		}
		if !hit && rep.Damaged() {
			t.Errorf("part %d/%d: errors %v without the damaged pack", part, of, rep.Errors)
		}
	}
	if read != all.Packs || found != 1 {
		t.Fatalf("%d parts read %d packs of %d and found the damage %d times; want every pack once, the damage once", of, read, all.Packs, found)
	}
	if rep := check(t, f.dir, checker.Options{ReadData: true, Bytes: 1}); rep.PacksRead != 1 {
		t.Fatalf("a 1-byte budget read %d packs, want 1", rep.PacksRead)
	}
	if rep := check(t, f.dir, checker.Options{ReadData: true, Fraction: 0.5}); rep.PacksRead != (all.Packs+1)/2 {
		t.Fatalf("half the packs: %d read of %d", rep.PacksRead, all.Packs)
	}
}

// saveLock stores a lock file by someone else.
func saveLock(t *testing.T, r *repo.Repository, l repo.LockInfo) {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SaveUnpacked(context.Background(), backend.LockFile, b); err != nil {
		t.Fatal(err)
	}
}

// TestCheckLocks: a stale lock of another host is a warning (not damage)
// that tells how to remove it; a live one is no warning at all.
func TestCheckLocks(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name  string
		age   time.Duration
		stale bool
	}{
		{"stale", repo.LockStaleAfter + time.Minute, true},
		{"live", time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			r := repotest.OpenBare(t, f.dir, repo.Options{})
			saveLock(t, r, repo.LockInfo{Time: now.Add(-tt.age), Hostname: "elsewhere", Username: "u", PID: 1, Command: "backup"})
			rep := check(t, f.dir, checker.Options{Now: func() time.Time { return now }})
			if rep.Damaged() {
				t.Fatalf("a lock is reported as damage: %v", rep.Errors)
			}
			var locks []checker.Problem
			for _, w := range rep.Warnings {
				if w.Kind == "lock" {
					locks = append(locks, w)
				}
			}
			if !tt.stale {
				if len(locks) != 0 {
					t.Fatalf("a live lock is warned of: %v", locks)
				}
				return
			}
			if len(locks) != 1 || !strings.Contains(locks[0].Message, "stale") || !strings.Contains(locks[0].Message, "cairn unlock") ||
				!strings.Contains(locks[0].Message, "elsewhere") {
				t.Fatalf("warnings %v, want one of a stale lock by elsewhere, naming `cairn unlock`", rep.Warnings)
			}
		})
	}
}

// TestCheckStorageFaults: when the storage fails a listing or a read the
// check needs, Check returns an error naming what failed (not damage),
// never a clean report. Only the lock listing, which checks nothing
// stored, may fail with a warning. Each fault is placed after the calls
// that opening the repository and beginning the session make (counted by
// a first run with a harmless fault), so it hits the check itself.
func TestCheckStorageFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    backend.Fault
		readData bool
		warning  bool // a warning instead of an error
	}{
		{"list keys", backend.Fault{Op: backend.List, Type: backend.KeyFile}, false, false},
		{"load key", backend.Fault{Op: backend.Load, Type: backend.KeyFile}, false, false},
		{"list parity", backend.Fault{Op: backend.List, Type: backend.ParityFile}, false, false},
		{"list index", backend.Fault{Op: backend.List, Type: backend.IndexFile}, false, false},
		{"load index", backend.Fault{Op: backend.Load, Type: backend.IndexFile}, false, false},
		{"list snapshots", backend.Fault{Op: backend.List, Type: backend.SnapshotFile}, false, false},
		{"load snapshot", backend.Fault{Op: backend.Load, Type: backend.SnapshotFile}, false, false},
		{"load tree pack", backend.Fault{Op: backend.Load, Type: backend.PackFile}, false, false},
		{"load pack, read data", backend.Fault{Op: backend.Load, Type: backend.PackFile}, true, false},
		{"list locks", backend.Fault{Op: backend.List, Type: backend.LockFile}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			// Count the calls opening the repository makes.
			probe := backend.NewFaulty(local.New(f.dir), tt.fault)
			r := repotest.OpenOn(t, probe, repo.SessionOptions{Index: true, KeepMissing: true})
			r.Session().Close()
			ft := tt.fault
			ft.After = probe.Matched(0)
			ft.Err = errors.New("connection reset by peer")
			faulty := backend.NewFaulty(local.New(f.dir), ft)
			r = repotest.OpenOn(t, faulty, repo.SessionOptions{Index: true, KeepMissing: true})
			if faulty.Fired(0) != 0 {
				t.Fatalf("the fault fired %d times before the check", faulty.Fired(0))
			}
			rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: tt.readData})
			if faulty.Fired(0) == 0 {
				t.Fatalf("the check made no call the fault matches (err %v)", err)
			}
			if tt.warning {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				if rep.Damaged() || !slices.ContainsFunc(rep.Warnings, func(p checker.Problem) bool {
					return strings.Contains(p.Message, "connection reset by peer")
				}) {
					t.Fatalf("errors %v, warnings %v; want a warning with the storage error", rep.Errors, rep.Warnings)
				}
				return
			}
			if err == nil {
				t.Fatalf("check through a failing storage returned a report (errors %v, warnings %v), want an error", rep.Errors, rep.Warnings)
			}
			if !strings.Contains(err.Error(), "connection reset by peer") || errors.Is(err, repo.ErrDamaged) {
				t.Fatalf("check: %v; want the storage error, not damage", err)
			}
		})
	}
}

// TestCheckWritesNothing: a check of a damaged repository (a pack gone,
// an orphaned pack, a temporary file, a stale lock) never writes or
// removes a repository file: it succeeds through a backend that fails
// every save and remove but those of locks, which no fault matched, and
// leaves every file as it was.
func TestCheckWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.open(t)
	// An orphaned pack: its index file is gone, as a backup killed
	// before writing its index would leave it.
	indexFiles := func() []string {
		ents, err := os.ReadDir(filepath.Join(f.dir, "index"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	old := indexFiles()
	orphan := packOf(t, r, save(t, r, pack.DataBlob, []byte("orphaned soon")))
	for _, name := range indexFiles() {
		if !slices.Contains(old, name) {
			if err := os.Remove(filepath.Join(f.dir, "index", name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A pack the index names is gone.
	gone := packOf(t, r, save(t, r, pack.DataBlob, []byte("gone soon")))
	saveLock(t, r, repo.LockInfo{Time: time.Now().Add(-time.Hour), Hostname: "elsewhere", PID: 1})
	r.Session().Close()
	if err := os.Remove(repotest.PackPath(f.dir, gone)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "data", "ab", ".tmp-ab12-77-00ff"), []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}

	before := repotest.Files(t, f.dir, "locks")
	var faults []backend.Fault
	for _, typ := range []backend.FileType{backend.ConfigFile, backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.ParityFile} {
		faults = append(faults, backend.Fault{Op: backend.Save, Type: typ, Err: backend.ErrInjected},
			backend.Fault{Op: backend.Remove, Type: typ, Err: backend.ErrInjected})
	}
	faulty := backend.NewFaulty(local.New(f.dir), faults...)
	r = repotest.OpenOn(t, faulty, repo.SessionOptions{Index: true, KeepMissing: true})
	rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true})
	r.Session().Close()
	if err != nil {
		t.Fatalf("check through a backend refusing writes: %v", err)
	}
	if w := (want{"pack", gone.Short(), "missing from the repository", ""}); !w.in(rep.Errors) {
		t.Errorf("missing error %v; errors %v", w, rep.Errors)
	}
	kinds := map[string]bool{}
	for _, w := range rep.Warnings {
		kinds[w.Kind] = true
	}
	if !(want{"pack", orphan.Short(), "is not in any index", ""}).in(rep.Warnings) || !kinds["temp"] || !kinds["lock"] {
		t.Errorf("warnings %v, want an orphaned pack, a temporary file and a stale lock", rep.Warnings)
	}
	for i, ft := range faults {
		if n := faulty.Matched(i); n != 0 {
			t.Errorf("the check tried to %v a %v file %d times", ft.Op, ft.Type, n)
		}
	}
	after := repotest.Files(t, f.dir, "locks")
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("%s changed or vanished during the check", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared during the check", p)
		}
	}
}

// TestSharedBlobAffectsManySnapshots: with the snapshots' trees walked on
// several cores, a missing blob that seven snapshots share is reported
// once per place that names it, and the report is the same every time:
// the walks' reports are merged in the order of the snapshots, and the
// places kept for a blob are the first five in order, whichever walk
// found them first. A damaged pack holding the blob affects those five.
func TestSharedBlobAffectsManySnapshots(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.open(t)
	snaps := []*snapshot.Snapshot{f.sn}
	for range 6 {
		snaps = append(snaps, repotest.Backup(t, r, f.src))
	}
	b := f.node(t, r, "dir/b.txt").Content[0]
	p := blobPack(t, r, pack.BlobHandle{ID: b, Type: pack.DataBlob})
	r.Session().Close()
	if err := os.Remove(repotest.PackPath(f.dir, p)); err != nil {
		t.Fatal(err)
	}
	var wheres []string
	for _, sn := range snaps {
		wheres = append(wheres, sn.ID().Short()+":"+path.Join(filepath.ToSlash(f.src), "dir/b.txt"))
	}
	slices.Sort(wheres)
	first := check(t, f.dir, checker.Options{})
	for range 3 {
		rep := check(t, f.dir, checker.Options{})
		if !reflect.DeepEqual(rep, first) {
			t.Fatalf("two checks of the same repository differ:\n%v\n%v", rep.Errors, first.Errors)
		}
	}
	var named []string
	for _, e := range first.Errors {
		if e.Kind == "blob" && e.Object == b.Short() {
			named = append(named, e.Affects...)
		}
	}
	slices.Sort(named)
	if !slices.Equal(named, wheres) {
		t.Fatalf("blob %s reported missing at %v, want once at each of %v: %v", b.Short(), named, wheres, first.Errors)
	}
}

// TestDamagedPackAffectsFirstFive: a damaged blob that seven snapshots
// share affects the first five of its places in order, the same on every
// check, whichever walk found them first.
func TestDamagedPackAffectsFirstFive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.open(t)
	snaps := []*snapshot.Snapshot{f.sn}
	for range 6 {
		snaps = append(snaps, repotest.Backup(t, r, f.src))
	}
	b := f.node(t, r, "dir/b.txt").Content[0]
	h := pack.BlobHandle{ID: b, Type: pack.DataBlob}
	p := blobPack(t, r, h)
	loc := r.Index().LookupAny(h)[0]
	r.Session().Close()
	repotest.FlipByte(t, repotest.PackPath(f.dir, p), int64(loc.Offset+loc.Length/2))
	var wheres []string
	for _, sn := range snaps {
		wheres = append(wheres, sn.ID().Short()+":"+path.Join(filepath.ToSlash(f.src), "dir/b.txt"))
	}
	slices.Sort(wheres)
	first := check(t, f.dir, checker.Options{ReadData: true})
	if rep := check(t, f.dir, checker.Options{ReadData: true}); !reflect.DeepEqual(rep, first) {
		t.Fatalf("two checks of the same repository differ:\n%v\n%v", rep.Errors, first.Errors)
	}
	found := false
	for _, e := range first.Errors {
		if e.Kind == "pack" && e.Object == p.Short() && strings.Contains(e.Message, "damaged blobs") {
			found = true
			if !slices.Equal(e.Affects, wheres[:5]) {
				t.Errorf("pack %s affects %v, want %v", p.Short(), e.Affects, wheres[:5])
			}
		}
	}
	if !found {
		t.Fatalf("damaged blob not reported: %v", first.Errors)
	}
}
