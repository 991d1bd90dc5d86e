package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
)

// NodeType is the kind of filesystem object a node describes.
type NodeType string

// Node types.
const (
	TypeFile    NodeType = "file"
	TypeDir     NodeType = "dir"
	TypeSymlink NodeType = "symlink"
	TypeDev     NodeType = "dev"
	TypeCharDev NodeType = "chardev"
	TypeFIFO    NodeType = "fifo"
	TypeSocket  NodeType = "socket"
)

func (t NodeType) valid() bool {
	switch t {
	case TypeFile, TypeDir, TypeSymlink, TypeDev, TypeCharDev, TypeFIFO, TypeSocket:
		return true
	}
	return false
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Node is one entry of a directory. Name and LinkTarget hold raw bytes;
// when they are not valid UTF-8 the JSON form carries them in base64 in
// name_raw / link_target_raw so they round-trip exactly.
type Node struct {
	Name       string      `json:"name"`
	Type       NodeType    `json:"type"`
	Mode       fs.FileMode `json:"mode"`
	UID        uint32      `json:"uid"`
	GID        uint32      `json:"gid"`
	User       string      `json:"user,omitempty"`
	Group      string      `json:"group,omitempty"`
	ModTime    time.Time   `json:"mtime"`
	AccessTime time.Time   `json:"atime"`
	ChangeTime time.Time   `json:"ctime"`
	Inode      uint64      `json:"inode,omitempty"`
	DeviceID   uint64      `json:"device_id,omitempty"`
	Links      uint64      `json:"links,omitempty"`
	Size       uint64      `json:"size,omitempty"`
	Content    []pack.ID   `json:"content,omitempty"`
	Subtree    *pack.ID    `json:"subtree,omitempty"`
	LinkTarget string      `json:"link_target,omitempty"`
	Rdev       uint64      `json:"rdev,omitempty"`
	Xattrs     []Xattr     `json:"xattrs,omitempty"`
}

// MarshalJSON encodes n, moving non-UTF-8 names into base64 fields.
func (n Node) MarshalJSON() ([]byte, error) {
	type plain Node
	j := struct {
		plain
		NameRaw       []byte `json:"name_raw,omitempty"`
		LinkTargetRaw []byte `json:"link_target_raw,omitempty"`
	}{plain: plain(n)}
	if !utf8.ValidString(n.Name) {
		j.NameRaw = []byte(n.Name)
		j.Name = strings.ToValidUTF8(n.Name, "\uFFFD")
	}
	if !utf8.ValidString(n.LinkTarget) {
		j.LinkTargetRaw = []byte(n.LinkTarget)
		j.LinkTarget = strings.ToValidUTF8(n.LinkTarget, "\uFFFD")
	}
	return json.Marshal(j)
}

// nodeFields has Node's fields without its methods, so decoding a tree
// takes encoding/json's fast path instead of a method call per node.
type nodeFields Node

type wireNode struct {
	nodeFields
	NameRaw       []byte `json:"name_raw,omitempty"`
	LinkTargetRaw []byte `json:"link_target_raw,omitempty"`
}

func (w *wireNode) node() *Node {
	n := (*Node)(&w.nodeFields)
	if w.NameRaw != nil {
		n.Name = string(w.NameRaw)
	}
	if w.LinkTargetRaw != nil {
		n.LinkTarget = string(w.LinkTargetRaw)
	}
	return n
}

// UnmarshalJSON decodes n, restoring raw names.
func (n *Node) UnmarshalJSON(b []byte) error {
	var w wireNode
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*n = *w.node()
	return nil
}

// Tree is a directory: its nodes sorted by name bytes.
type Tree struct {
	Nodes []*Node `json:"nodes"`
}

// ErrInvalidTree means a tree blob decoded but is not acceptable.
var ErrInvalidTree = errors.New("invalid tree")

// ValidName reports whether name can be a node name: not empty, not . or
// .., no slash, no NUL. A hostile repository must not steer a restore
// outside its target.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Sort orders the nodes canonically.
func (t *Tree) Sort() {
	slices.SortFunc(t.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
}

// Encode returns the canonical JSON of t: sorted nodes, fixed field order,
// so an unchanged directory gets the same ID in every snapshot.
func (t *Tree) Encode() ([]byte, error) {
	t.Sort()
	var buf bytes.Buffer
	buf.WriteString(`{"nodes":[`)
	for i, n := range t.Nodes {
		if i > 0 {
			buf.WriteByte(',')
		}
		b, err := n.MarshalJSON()
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	buf.WriteString("]}\n")
	return buf.Bytes(), nil
}

// DecodeTree parses and validates a tree blob.
func DecodeTree(b []byte) (*Tree, error) {
	var wt struct {
		Nodes []*wireNode `json:"nodes"`
	}
	if err := json.Unmarshal(b, &wt); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTree, err)
	}
	t := Tree{Nodes: make([]*Node, len(wt.Nodes))}
	for i, w := range wt.Nodes {
		if w == nil {
			return nil, fmt.Errorf("%w: null node", ErrInvalidTree)
		}
		t.Nodes[i] = w.node()
	}
	var prev string
	for i, n := range t.Nodes {
		if n == nil {
			return nil, fmt.Errorf("%w: null node", ErrInvalidTree)
		}
		if !ValidName(n.Name) {
			return nil, fmt.Errorf("%w: node name %q is not allowed", ErrInvalidTree, n.Name)
		}
		if i > 0 && n.Name <= prev {
			return nil, fmt.Errorf("%w: nodes not sorted or duplicate name %q", ErrInvalidTree, n.Name)
		}
		prev = n.Name
		if !n.Type.valid() {
			return nil, fmt.Errorf("%w: node %q has type %q", ErrInvalidTree, n.Name, n.Type)
		}
		if n.Type == TypeDir && n.Subtree == nil {
			return nil, fmt.Errorf("%w: directory %q has no subtree", ErrInvalidTree, n.Name)
		}
	}
	return &t, nil
}

// LoadTree loads and decodes tree id.
func LoadTree(ctx context.Context, r *repo.Repository, id pack.ID) (*Tree, error) {
	b, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.TreeBlob}, nil)
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	t, err := DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w: %w", id.Short(), repo.ErrDamaged, err)
	}
	return t, nil
}

// Find returns the node called name, or nil.
func (t *Tree) Find(name string) *Node {
	i, ok := slices.BinarySearchFunc(t.Nodes, name, func(n *Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil
	}
	return t.Nodes[i]
}
