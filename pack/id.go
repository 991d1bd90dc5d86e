package pack

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	sha256 "github.com/minio/sha256-simd"
)

// ID identifies a blob (keyed hash of its plaintext) or a repository file
// (SHA-256 of its stored bytes).
type ID [32]byte

// Hash returns the SHA-256 of data as an ID; file names in a repository are
// computed this way.
func Hash(data []byte) ID { return sha256.Sum256(data) }

// String returns the full lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex characters, for humans.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsNull reports whether id is all zeros.
func (id ID) IsNull() bool { return id == ID{} }

// ParseID parses a full 64-character hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("invalid ID %q: want %d hex characters", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid ID %q: %w", s, err)
	}
	return id, nil
}

// MarshalJSON encodes the ID as a hex string.
func (id ID) MarshalJSON() ([]byte, error) { return json.Marshal(id.String()) }

// UnmarshalJSON decodes a hex string.
func (id *ID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := ParseID(s)
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Generation identifies a set of packs (DESIGN.md section 1). The zero value
// is generation 0, the shared pool.
type Generation [16]byte

// String returns the full lowercase hex form.
func (g Generation) String() string { return hex.EncodeToString(g[:]) }

// Short returns the first 8 hex characters.
func (g Generation) Short() string { return hex.EncodeToString(g[:4]) }

// MarshalJSON encodes the generation as a hex string.
func (g Generation) MarshalJSON() ([]byte, error) { return json.Marshal(g.String()) }

// UnmarshalJSON decodes a hex string.
func (g *Generation) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if len(s) != 2*len(g) {
		return fmt.Errorf("invalid generation %q", s)
	}
	_, err := hex.Decode(g[:], []byte(s))
	return err
}

// BlobType says what a blob holds.
type BlobType uint8

// Blob types. The numeric values are part of the pack and index formats.
const (
	InvalidBlob BlobType = iota
	DataBlob
	TreeBlob
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("invalid(%d)", uint8(t))
}

// MarshalJSON encodes the type by name.
func (t BlobType) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON decodes the type by name.
func (t *BlobType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch s {
	case "data":
		*t = DataBlob
	case "tree":
		*t = TreeBlob
	default:
		return errors.New("pack: invalid blob type " + s)
	}
	return nil
}

// BlobHandle names a blob by ID and type.
type BlobHandle struct {
	ID   ID
	Type BlobType
}

func (h BlobHandle) String() string { return h.Type.String() + "/" + h.ID.Short() }
