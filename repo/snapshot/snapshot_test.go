package snapshot_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func sampleTree() *snapshot.Tree {
	sub := pack.ID{9}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return &snapshot.Tree{Nodes: []*snapshot.Node{
		{Name: "z-file", Type: snapshot.TypeFile, Mode: 0o644, ModTime: ts, AccessTime: ts, ChangeTime: ts, Size: 3, Content: []pack.ID{{1}}},
		{Name: "a-dir", Type: snapshot.TypeDir, Mode: 0o755 | 1<<31, ModTime: ts, Subtree: &sub},
		{Name: "bad-\xff\xfe-name", Type: snapshot.TypeSymlink, Mode: 0o777, ModTime: ts, LinkTarget: "target-\xc3"},
	}}
}

func TestTreeCanonical(t *testing.T) {
	b, err := sampleTree().Encode()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "tree.json")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Fatalf("tree encoding changed:\n got %s\nwant %s", b, want)
	}
	got, err := snapshot.DecodeTree(b)
	if err != nil {
		t.Fatal(err)
	}
	want2 := sampleTree()
	want2.Sort()
	for i := range got.Nodes {
		if !reflect.DeepEqual(got.Nodes[i], want2.Nodes[i]) {
			t.Errorf("node %d:\n got %+v\nwant %+v", i, got.Nodes[i], want2.Nodes[i])
		}
	}
	if got.Find("bad-\xff\xfe-name") == nil || got.Find("nope") != nil {
		t.Fatal("Find")
	}
}

func TestDecodeTreeRejectsHostileNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "/etc", "nul\x00"} {
		t.Run(name, func(t *testing.T) {
			n := snapshot.Node{Name: name, Type: snapshot.TypeFile}
			b, _ := json.Marshal(map[string]any{"nodes": []snapshot.Node{n}})
			if _, err := snapshot.DecodeTree(b); err == nil {
				t.Fatalf("name %q accepted", name)
			}
		})
	}
	dup := `{"nodes":[{"name":"a","type":"file"},{"name":"a","type":"file"}]}`
	if _, err := snapshot.DecodeTree([]byte(dup)); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := snapshot.DecodeTree([]byte(`{"nodes":[{"name":"a","type":"dir"}]}`)); err == nil {
		t.Fatal("dir without subtree accepted")
	}
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"*.tmp", "/home/u/x.tmp", true},
		{"*.tmp", "/home/u/x.tmpl", false},
		{"/home/*/.cache", "/home/u/.cache/foo/bar", true},
		{"/home/*/.cache", "/x/home/u/.cache", false},
		{".cache", "/x/home/u/.cache/z", true},
		{"cache/*", "/var/cache/apt", true},
		{"/var/**/*.log", "/var/a/b/c.log", true},
		{"/var/**/*.log", "/var/c.log", true},
		{"/var/**/*.log", "/usr/c.log", false},
		{"foo/bar", "/a/foo/bar/baz", true},
		{"foo/bar", "/a/foo/baz", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			m, err := snapshot.NewMatcher([]string{tt.pattern}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match(tt.path); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	m, _ := snapshot.NewMatcher([]string{"*.JPG"}, true)
	if !m.Match("/a/b.jpg") {
		t.Fatal("case-insensitive match failed")
	}
	if _, err := snapshot.NewMatcher([]string{"[x"}, false); err == nil {
		t.Fatal("bad pattern accepted")
	}
	inc, _ := snapshot.NewMatcher([]string{"/home/u/docs"}, false)
	if !inc.MatchPrefix("/home") || !inc.MatchPrefix("/home/u") || inc.MatchPrefix("/etc") {
		t.Fatal("MatchPrefix")
	}
}

func FuzzDecodeTree(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "tree.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"nodes":[]}`))
	f.Add([]byte(`{"nodes":[],"parts":["` + pack.ID{1}.String() + `"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := snapshot.DecodeTree(data)
		if err != nil {
			return
		}
		b, err := tr.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := snapshot.DecodeTree(b)
		if err != nil {
			t.Fatalf("re-encoded tree rejected: %v", err)
		}
		b2, _ := again.Encode()
		if string(b) != string(b2) {
			t.Fatal("encoding not canonical")
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	sn := snapshot.Snapshot{Time: time.Unix(1, 0).UTC(), Paths: []string{"/x"}, Hostname: "h", Kind: snapshot.Full}
	b, _ := json.Marshal(sn)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = snapshot.DecodeSnapshot(data)
	})
}
