package snapshot_test

import (
	"bytes"
	"io/fs"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestSameNodes: SameNodes is true exactly when the nodes encode to the
// same bytes: any field that differs, a time at another UTC offset, a
// node more or less makes it false.
func TestSameNodes(t *testing.T) {
	t.Parallel()
	mt := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	sub := pack.Hash([]byte("tree"))
	base := func() *snapshot.Node {
		s := sub
		return &snapshot.Node{
			Name: "f", Type: snapshot.TypeFile, Mode: 0o644, UID: 1, GID: 2, User: "u", Group: "g",
			ModTime: mt, AccessTime: mt, ChangeTime: mt, Inode: 3, DeviceID: 4, Links: 1, Size: 5,
			Content: []pack.ID{pack.Hash([]byte("a"))}, Subtree: &s, LinkTarget: "l", Rdev: 6,
			Xattrs: []snapshot.Xattr{{Name: "user.x", Value: []byte("v")}},
		}
	}
	other := pack.Hash([]byte("other"))
	for _, tc := range []struct {
		name   string
		change func(n *snapshot.Node)
		same   bool
	}{
		{"identical", func(*snapshot.Node) {}, true},
		{"same instant, same offset, other location", func(n *snapshot.Node) { n.ModTime = mt.In(time.FixedZone("X", 0)) }, true},
		{"name", func(n *snapshot.Node) { n.Name = "g" }, false},
		{"type", func(n *snapshot.Node) { n.Type = snapshot.TypeDir }, false},
		{"mode", func(n *snapshot.Node) { n.Mode = fs.ModeSetuid | 0o644 }, false},
		{"uid", func(n *snapshot.Node) { n.UID = 0 }, false},
		{"gid", func(n *snapshot.Node) { n.GID = 0 }, false},
		{"user", func(n *snapshot.Node) { n.User = "root" }, false},
		{"group", func(n *snapshot.Node) { n.Group = "" }, false},
		{"mtime", func(n *snapshot.Node) { n.ModTime = mt.Add(time.Nanosecond) }, false},
		{"mtime offset", func(n *snapshot.Node) { n.ModTime = mt.In(time.FixedZone("CET", 3600)) }, false},
		{"atime", func(n *snapshot.Node) { n.AccessTime = mt.Add(time.Second) }, false},
		{"ctime", func(n *snapshot.Node) { n.ChangeTime = time.Time{} }, false},
		{"inode", func(n *snapshot.Node) { n.Inode = 9 }, false},
		{"device", func(n *snapshot.Node) { n.DeviceID = 9 }, false},
		{"links", func(n *snapshot.Node) { n.Links = 2 }, false},
		{"size", func(n *snapshot.Node) { n.Size = 6 }, false},
		{"content", func(n *snapshot.Node) { n.Content = []pack.ID{other} }, false},
		{"content longer", func(n *snapshot.Node) { n.Content = append(n.Content, other) }, false},
		{"no content", func(n *snapshot.Node) { n.Content = nil }, false},
		{"subtree", func(n *snapshot.Node) { n.Subtree = &other }, false},
		{"no subtree", func(n *snapshot.Node) { n.Subtree = nil }, false},
		{"link target", func(n *snapshot.Node) { n.LinkTarget = "m" }, false},
		{"rdev", func(n *snapshot.Node) { n.Rdev = 0 }, false},
		{"xattr value", func(n *snapshot.Node) { n.Xattrs[0].Value = []byte("w") }, false},
		{"xattr name", func(n *snapshot.Node) { n.Xattrs[0].Name = "user.y" }, false},
		{"no xattrs", func(n *snapshot.Node) { n.Xattrs = nil }, false},
	} {
		a, b := base(), base()
		tc.change(b)
		if got := snapshot.SameNodes([]*snapshot.Node{a}, []*snapshot.Node{b}); got != tc.same {
			t.Errorf("%s: SameNodes = %v, want %v", tc.name, got, tc.same)
		}
		// Same must mean the same encoding, and not the same must mean
		// another (the tree ID follows the bytes).
		ea, _ := (&snapshot.Tree{Nodes: []*snapshot.Node{a}}).Encode()
		eb, _ := (&snapshot.Tree{Nodes: []*snapshot.Node{b}}).Encode()
		if bytes.Equal(ea, eb) != tc.same {
			t.Errorf("%s: encodings equal %v, SameNodes %v:\n%s\n%s", tc.name, bytes.Equal(ea, eb), tc.same, ea, eb)
		}
	}
	a, b := base(), base()
	if snapshot.SameNodes([]*snapshot.Node{a}, []*snapshot.Node{a, b}) || snapshot.SameNodes(nil, []*snapshot.Node{a}) {
		t.Error("SameNodes of lists of other lengths")
	}
	if !snapshot.SameNodes(nil, []*snapshot.Node{}) {
		t.Error("SameNodes of two empty lists is false")
	}
}
