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
//
// A directory whose encoding is larger than TreeSplitSize is stored as a
// head blob {"nodes":[],"parts":[…]} naming part blobs, each a plain tree
// of consecutive nodes. LoadTree joins the parts into Nodes and keeps their
// IDs in Parts, so walkers that count which blobs are used count them too.
type Tree struct {
	Nodes []*Node   `json:"nodes"`
	Parts []pack.ID `json:"parts,omitempty"`
}

// Split trees.
const (
	// TreeSplitSize is the largest tree blob written whole; a larger
	// directory is split into parts of about this size or less. Readers
	// accept tree blobs up to pack.MaxBlobSize, the limit of every blob.
	TreeSplitSize = 4 << 20
	// treePartMin is where a part may end at a content-defined cut point,
	// so inserting one entry into a huge directory rewrites one part.
	treePartMin = 512 << 10
	// treeCutMask selects cut points: a part ends after a node whose name
	// hash has these bits zero (one node in 4096).
	treeCutMask = 1<<12 - 1
)

// ErrInvalidTree means a tree blob decoded but is not acceptable.
var ErrInvalidTree = errors.New("invalid tree")

// ValidName reports whether name can be a node name: not empty, not . or
// .., no slash, no NUL. A hostile repository must not steer a restore
// outside its target.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// SameNodes reports whether the nodes a and b encode to the same JSON, one
// by one: every field equal, times at the same instant and UTC offset (a
// tree stores times as RFC 3339 with the offset). An unchanged directory's
// new nodes are the same as its parent tree's, and a backup keeps that
// tree instead of encoding and hashing it again. Both must be sorted.
func SameNodes(a, b []*Node) bool {
	return slices.EqualFunc(a, b, sameNode)
}

func sameNode(a, b *Node) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID &&
		a.User == b.User && a.Group == b.Group && sameTime(a.ModTime, b.ModTime) &&
		sameTime(a.AccessTime, b.AccessTime) && sameTime(a.ChangeTime, b.ChangeTime) &&
		a.Inode == b.Inode && a.DeviceID == b.DeviceID && a.Links == b.Links && a.Size == b.Size &&
		slices.Equal(a.Content, b.Content) && (a.Subtree == nil) == (b.Subtree == nil) &&
		(a.Subtree == nil || *a.Subtree == *b.Subtree) && a.LinkTarget == b.LinkTarget && a.Rdev == b.Rdev &&
		slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y Xattr) bool { return x.Name == y.Name && bytes.Equal(x.Value, y.Value) })
}

func sameTime(a, b time.Time) bool {
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
}

// Sort orders the nodes canonically.
func (t *Tree) Sort() {
	slices.SortFunc(t.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
}

// Encode returns the canonical JSON of t as one blob: sorted nodes, fixed
// field order, so an unchanged directory gets the same ID in every
// snapshot. Parts are not encoded; SaveTree writes split trees.
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

// TreeSaver stores tree blobs; *repo.Saver is one. RequireFormat raises
// the repository's format version before a split tree is written, so no
// older client reads a split directory as an empty one.
type TreeSaver interface {
	Save(ctx context.Context, t pack.BlobType, data []byte, gen pack.Generation) (pack.ID, bool, int, error)
	RequireFormat(ctx context.Context, version int) error
}

// SaveTree stores t in generation gen, split into parts when its encoding
// is larger than TreeSplitSize, and returns the ID of its (head) blob. It
// encodes node by node: a huge directory is never held encoded whole.
func SaveTree(ctx context.Context, s TreeSaver, t *Tree, gen pack.Generation) (pack.ID, error) {
	t.Sort()
	var (
		parts   []pack.ID
		pending [][]byte // parts not yet saved while the tree may fit one blob
		total   int
		split   bool
		part    bytes.Buffer
		count   int
	)
	save := func(b []byte) error {
		id, _, _, err := s.Save(ctx, pack.TreeBlob, b, gen)
		parts = append(parts, id)
		return err
	}
	cut := func() error {
		part.WriteString("]}\n")
		b := bytes.Clone(part.Bytes())
		part.Reset()
		count = 0
		total += len(b)
		if !split && total > TreeSplitSize {
			if err := s.RequireFormat(ctx, repo.SplitTreeFormat); err != nil {
				return err
			}
			split = true
			for _, p := range pending {
				if err := save(p); err != nil {
					return err
				}
			}
			pending = nil
		}
		if split {
			return save(b)
		}
		pending = append(pending, b)
		return nil
	}
	for _, n := range t.Nodes {
		nb, err := n.MarshalJSON()
		if err != nil {
			return pack.ID{}, err
		}
		if len(nb)+16 > pack.MaxBlobSize {
			return pack.ID{}, fmt.Errorf("entry %q: %w: its metadata is %d bytes", n.Name, pack.ErrTooLarge, len(nb))
		}
		if count > 0 && part.Len()+len(nb)+4 > TreeSplitSize {
			if err := cut(); err != nil {
				return pack.ID{}, err
			}
		}
		if count == 0 {
			part.WriteString(`{"nodes":[`)
		} else {
			part.WriteByte(',')
		}
		part.Write(nb)
		count++
		if part.Len() >= treePartMin && nameHash(n.Name)&treeCutMask == 0 {
			if err := cut(); err != nil {
				return pack.ID{}, err
			}
		}
	}
	if count > 0 {
		if err := cut(); err != nil {
			return pack.ID{}, err
		}
	}
	if !split {
		// One blob, byte for byte what Encode writes: the pending parts'
		// nodes joined.
		var whole bytes.Buffer
		whole.WriteString(`{"nodes":[`)
		for i, p := range pending {
			if i > 0 {
				whole.WriteByte(',')
			}
			whole.Write(p[len(`{"nodes":[`) : len(p)-len("]}\n")])
		}
		whole.WriteString("]}\n")
		id, _, _, err := s.Save(ctx, pack.TreeBlob, whole.Bytes(), gen)
		return id, err
	}
	var head bytes.Buffer
	head.WriteString(`{"nodes":[],"parts":[`)
	for i, id := range parts {
		if i > 0 {
			head.WriteByte(',')
		}
		fmt.Fprintf(&head, "%q", id.String())
	}
	head.WriteString("]}\n")
	if head.Len() > TreeSplitSize {
		return pack.ID{}, fmt.Errorf("directory of %d entries: %w: %d parts", len(t.Nodes), pack.ErrTooLarge, len(parts))
	}
	id, _, _, err := s.Save(ctx, pack.TreeBlob, head.Bytes(), gen)
	return id, err
}

// nameHash is FNV-1a 64 of name.
func nameHash(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// DecodeTree parses and validates one tree blob: a plain tree, or the head
// of a split tree (no nodes, its parts in order).
func DecodeTree(b []byte) (*Tree, error) {
	var wt struct {
		Nodes []*wireNode `json:"nodes"`
		Parts []pack.ID   `json:"parts"`
	}
	if err := json.Unmarshal(b, &wt); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTree, err)
	}
	if len(wt.Parts) > 0 && len(wt.Nodes) > 0 {
		return nil, fmt.Errorf("%w: a split tree's head has nodes", ErrInvalidTree)
	}
	t := Tree{Nodes: make([]*Node, len(wt.Nodes)), Parts: wt.Parts}
	for i, w := range wt.Nodes {
		if w == nil {
			return nil, fmt.Errorf("%w: null node", ErrInvalidTree)
		}
		t.Nodes[i] = w.node()
	}
	if err := checkNodes(t.Nodes, ""); err != nil {
		return nil, err
	}
	return &t, nil
}

// checkNodes validates nodes that follow a node called prev ("" for the
// first).
func checkNodes(nodes []*Node, prev string) error {
	for i, n := range nodes {
		if n == nil {
			return fmt.Errorf("%w: null node", ErrInvalidTree)
		}
		if !ValidName(n.Name) {
			return fmt.Errorf("%w: node name %q is not allowed", ErrInvalidTree, n.Name)
		}
		if (i > 0 || prev != "") && n.Name <= prev {
			return fmt.Errorf("%w: nodes not sorted or duplicate name %q", ErrInvalidTree, n.Name)
		}
		prev = n.Name
		if !n.Type.valid() {
			return fmt.Errorf("%w: node %q has type %q", ErrInvalidTree, n.Name, n.Type)
		}
		if n.Type == TypeDir && n.Subtree == nil {
			return fmt.Errorf("%w: directory %q has no subtree", ErrInvalidTree, n.Name)
		}
	}
	return nil
}

// BlobLoader loads blobs; *repo.Repository is one.
type BlobLoader interface {
	LoadBlob(ctx context.Context, h pack.BlobHandle, dst []byte) ([]byte, error)
}

func loadTreeBlob(ctx context.Context, r BlobLoader, id pack.ID) (*Tree, error) {
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

// LoadTree loads and decodes tree id, joining the parts of a split tree.
func LoadTree(ctx context.Context, r BlobLoader, id pack.ID) (*Tree, error) {
	t, err := loadTreeBlob(ctx, r, id)
	if err != nil || len(t.Parts) == 0 {
		return t, err
	}
	for _, p := range t.Parts {
		pt, err := loadTreeBlob(ctx, r, p)
		if err != nil {
			return nil, fmt.Errorf("tree %s: part %s: %w", id.Short(), p.Short(), err)
		}
		if len(pt.Parts) > 0 || len(pt.Nodes) == 0 {
			return nil, fmt.Errorf("tree %s: part %s: %w: %w: a part must hold nodes only", id.Short(), p.Short(), repo.ErrDamaged, ErrInvalidTree)
		}
		prev := ""
		if len(t.Nodes) > 0 {
			prev = t.Nodes[len(t.Nodes)-1].Name
		}
		if err := checkNodes(pt.Nodes[:1], prev); err != nil {
			return nil, fmt.Errorf("tree %s: part %s: %w: %w", id.Short(), p.Short(), repo.ErrDamaged, err)
		}
		t.Nodes = append(t.Nodes, pt.Nodes...)
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

// Walks that visit a shared subtree once per path (ls, find, restore,
// dump, diff) are bounded: a real file system repeats almost nothing (a
// node holds its inode and ctime), while a crafted tree whose directories
// all name one subtree multiplies the work with every level.
const (
	walkFreeVisits   = 100_000
	walkRepeatFactor = 100
)

// ErrTreeBomb means a snapshot's trees repeat one another far beyond
// anything a file system produces.
var ErrTreeBomb = errors.New("the snapshot's directories repeat one another far beyond any real file system (a crafted tree?)")

// TreeLimit loads trees for one walk and stops it once the entries walked
// exceed walkFreeVisits plus walkRepeatFactor times the distinct entries
// seen. Not safe for concurrent use.
type TreeLimit struct {
	seen            map[pack.ID]bool
	unique, visited int64
}

// NewTreeLimit returns the limit for one walk.
func NewTreeLimit() *TreeLimit { return &TreeLimit{seen: map[pack.ID]bool{}} }

// Load loads tree id for one more visit.
func (l *TreeLimit) Load(ctx context.Context, r BlobLoader, id pack.ID) (*Tree, error) {
	t, err := LoadTree(ctx, r, id)
	if err != nil {
		return nil, err
	}
	n := int64(len(t.Nodes)) + 1
	if !l.seen[id] {
		l.seen[id] = true
		l.unique += n
	}
	l.visited += n
	if l.visited > walkFreeVisits+walkRepeatFactor*l.unique {
		return nil, fmt.Errorf("tree %s: %w: %w: %d entries walked, %d distinct", id.Short(), repo.ErrDamaged, ErrTreeBomb, l.visited, l.unique)
	}
	return t, nil
}
