package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// bigTree has n file nodes with long names, about 250 bytes each encoded.
func bigTree(n int, skip map[int]bool) *snapshot.Tree {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t := &snapshot.Tree{}
	for i := range n {
		if skip[i] {
			continue
		}
		t.Nodes = append(t.Nodes, &snapshot.Node{Name: fmt.Sprintf("file-%08d-%s", i, strings.Repeat("x", 60)),
			Type: snapshot.TypeFile, Mode: 0o644, ModTime: ts, Size: uint64(i), Content: []pack.ID{{byte(i), byte(i >> 8), byte(i >> 16)}}})
	}
	return t
}

// countingSaver records what SaveTree stores.
type countingSaver struct {
	*repo.Saver
	sizes    []int
	required []int
}

func (s *countingSaver) Save(ctx context.Context, t pack.BlobType, data []byte, gen pack.Generation) (pack.ID, bool, int, error) {
	s.sizes = append(s.sizes, len(data))
	return s.Saver.Save(ctx, t, data, gen)
}

func (s *countingSaver) RequireFormat(ctx context.Context, v int) error {
	s.required = append(s.required, v)
	return s.Saver.RequireFormat(ctx, v)
}

func TestSplitTreeRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	if v := r.Config().Version; v != 1 {
		t.Fatalf("a new repository has format %d, want 1", v)
	}

	// A small tree stays one blob and leaves the format alone.
	s := &countingSaver{Saver: r.NewSaver()}
	small := bigTree(100, nil)
	if _, err := snapshot.SaveTree(ctx, s, small, pack.Generation{}); err != nil {
		t.Fatal(err)
	}
	if len(s.sizes) != 1 || len(s.required) != 0 {
		t.Fatalf("small tree: %d blobs, format required %v", len(s.sizes), s.required)
	}

	const n = 60000 // about 15 MB encoded
	s = &countingSaver{Saver: r.NewSaver()}
	id, err := snapshot.SaveTree(ctx, s, bigTree(n, nil), pack.Generation{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.required) != 1 || s.required[0] != repo.SplitTreeFormat {
		t.Fatalf("split tree required formats %v", s.required)
	}
	if len(s.sizes) < 4 {
		t.Fatalf("a 15 MB tree was stored in %d blobs", len(s.sizes))
	}
	for i, sz := range s.sizes {
		if sz > snapshot.TreeSplitSize {
			t.Errorf("blob %d is %d bytes, over the split size", i, sz)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Another client reads it whole, and the config now says version 2.
	r2 := repotest.Open(t, dir)
	if v := r2.Config().Version; v != repo.SplitTreeFormat {
		t.Fatalf("format after a split tree is %d", v)
	}
	got, err := snapshot.LoadTree(ctx, r2, id)
	if err != nil {
		t.Fatal(err)
	}
	want := bigTree(n, nil)
	if len(got.Nodes) != n || len(got.Parts) != len(s.sizes)-1 {
		t.Fatalf("loaded %d nodes in %d parts, want %d nodes in %d parts", len(got.Nodes), len(got.Parts), n, len(s.sizes)-1)
	}
	for i := range got.Nodes {
		if got.Nodes[i].Name != want.Nodes[i].Name || got.Nodes[i].Size != want.Nodes[i].Size {
			t.Fatalf("node %d is %q, want %q", i, got.Nodes[i].Name, want.Nodes[i].Name)
		}
	}

	// The same directory gets the same ID; one entry removed from the
	// middle rewrites few parts (the cut points follow the content).
	s2 := &countingSaver{Saver: r.NewSaver()}
	again, err := snapshot.SaveTree(ctx, s2, bigTree(n, nil), pack.Generation{})
	if err != nil || again != id {
		t.Fatalf("re-saved tree: %v, %v (want %v)", again, err, id)
	}
	edited, err := snapshot.SaveTree(ctx, s2, bigTree(n, map[int]bool{n / 2: true}), pack.Generation{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r3 := repotest.Open(t, dir)
	et, err := snapshot.LoadTree(ctx, r3, edited)
	if err != nil {
		t.Fatal(err)
	}
	old := map[pack.ID]bool{}
	for _, p := range got.Parts {
		old[p] = true
	}
	changed := 0
	for _, p := range et.Parts {
		if !old[p] {
			changed++
		}
	}
	if changed > 2 {
		t.Fatalf("removing one entry of %d rewrote %d of %d parts", n, changed, len(et.Parts))
	}
}

// TestSplitTreeHostile: heads and parts that break the rules are damage.
func TestSplitTreeHostile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{})
	s := r.NewSaver()
	save := func(b string) pack.ID {
		id, _, _, err := s.Save(ctx, pack.TreeBlob, []byte(b), pack.Generation{})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	node := func(name string) string {
		return fmt.Sprintf(`{"name":%q,"type":"file","mode":420,"uid":0,"gid":0,"mtime":"2026-01-01T00:00:00Z","atime":"2026-01-01T00:00:00Z","ctime":"2026-01-01T00:00:00Z"}`, name)
	}
	partA := save(`{"nodes":[` + node("a") + `,` + node("b") + `]}`)
	partB := save(`{"nodes":[` + node("c") + `]}`)
	partDup := save(`{"nodes":[` + node("b") + `]}`)
	empty := save(`{"nodes":[]}`)
	head := func(parts ...pack.ID) string {
		q := make([]string, len(parts))
		for i, p := range parts {
			q[i] = fmt.Sprintf("%q", p.String())
		}
		return `{"nodes":[],"parts":[` + strings.Join(q, ",") + `]}`
	}
	nested := save(head(partA))
	good := save(head(partA, partB))
	cases := map[string]pack.ID{
		"parts out of order":  save(head(partB, partA)),
		"duplicate name":      save(head(partA, partDup)),
		"empty part":          save(head(partA, empty)),
		"nested head":         save(head(nested)),
		"missing part":        save(head(partA, pack.ID{7})),
		"head with own nodes": save(`{"nodes":[` + node("z") + `],"parts":["` + partA.String() + `"]}`),
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := snapshot.LoadTree(ctx, r, good)
	if err != nil || len(tr.Nodes) != 3 || len(tr.Parts) != 2 {
		t.Fatalf("good split tree: %v, %v", tr, err)
	}
	for name, id := range cases {
		if _, err := snapshot.LoadTree(ctx, r, id); !errors.Is(err, repo.ErrDamaged) {
			t.Errorf("%s: got %v, want damage", name, err)
		}
	}
}

// TestBlobLimitSharedByWriters: no compression setting lets a writer store
// a blob that readers refuse.
func TestBlobLimitSharedByWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []string{"off", "auto"} {
		r, _ := repotest.New(t, repo.InitOptions{Compression: c})
		big := make([]byte, pack.MaxBlobSize+1)
		_, _, _, err := r.NewSaver().Save(ctx, pack.TreeBlob, big, pack.Generation{})
		if !errors.Is(err, pack.ErrTooLarge) {
			t.Errorf("compression %s: saving a blob of MaxBlobSize+1 bytes gave %v", c, err)
		}
	}
}

// TestSaveTreeSmallIsEncode: a tree that fits one blob is stored as
// exactly what Encode writes, so its ID is the same as before split trees.
func TestSaveTreeSmallIsEncode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := repotest.New(t, repo.InitOptions{})
	for _, n := range []int{0, 1, 5000, 13000} {
		s := &countingSaver{Saver: r.NewSaver()}
		tr := bigTree(n, nil)
		id, err := snapshot.SaveTree(ctx, s, tr, pack.Generation{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := bigTree(n, nil).Encode()
		if len(b) > snapshot.TreeSplitSize {
			t.Fatalf("%d nodes encode to %d bytes: not a small tree", n, len(b))
		}
		if want := r.NewSaver().ID(b); id != want || len(s.sizes) != 1 {
			t.Fatalf("%d nodes: SaveTree gave %s in %d blobs, Encode's blob is %s", n, id.Short(), len(s.sizes), want.Short())
		}
	}
}
