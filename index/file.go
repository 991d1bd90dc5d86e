package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pack"
)

// Pack lists the blobs of one pack in an index file.
type Pack struct {
	ID         pack.ID
	Generation pack.Generation
	Entries    []pack.Entry
}

// File is the decoded content of one index file.
type File struct {
	Supersedes []pack.ID
	Packs      []Pack
}

// ErrFormat means an index file could not be decoded.
var ErrFormat = errors.New("index: invalid file")

var magic = []byte("CAIRNIDX")

const version = 1

// Encode returns the binary form of f (before compression and sealing).
func (f *File) Encode() []byte {
	n := len(magic) + 1 + 10 + len(f.Supersedes)*32 + 10
	for _, p := range f.Packs {
		n += 32 + 16 + 10 + len(p.Entries)*(2+15+32)
	}
	b := make([]byte, 0, n)
	b = append(b, magic...)
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(f.Supersedes)))
	for _, id := range f.Supersedes {
		b = append(b, id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Packs)))
	for _, p := range f.Packs {
		b = append(b, p.ID[:]...)
		b = append(b, p.Generation[:]...)
		b = binary.AppendUvarint(b, uint64(len(p.Entries)))
		for _, e := range p.Entries {
			b = append(b, byte(e.Type), byte(e.Compression))
			b = binary.AppendUvarint(b, uint64(e.Offset))
			b = binary.AppendUvarint(b, uint64(e.Length))
			b = binary.AppendUvarint(b, uint64(e.RawLength))
			b = append(b, e.ID[:]...)
		}
	}
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(max uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated %s", what)
		return 0
	}
	if v > max {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated %s", what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// Decode parses the binary form of an index file. Counts are checked
// against the remaining input before anything is allocated.
func Decode(b []byte) (*File, error) {
	d := &decoder{b: b}
	if m := d.bytes(len(magic), "magic"); d.err == nil && string(m) != string(magic) {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if v := d.bytes(1, "version"); d.err == nil && v[0] != version {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrFormat, v[0])
	}
	f := &File{}
	ns := d.uvarint(uint64(len(d.b)/32), "superseded count")
	if d.err == nil && ns > 0 {
		f.Supersedes = make([]pack.ID, ns)
		for i := range f.Supersedes {
			copy(f.Supersedes[i][:], d.bytes(32, "superseded ID"))
		}
	}
	np := d.uvarint(uint64(len(d.b)/(32+16+1)), "pack count")
	if d.err == nil {
		f.Packs = make([]Pack, 0, np)
	}
	for i := uint64(0); i < np && d.err == nil; i++ {
		var p Pack
		copy(p.ID[:], d.bytes(32, "pack ID"))
		copy(p.Generation[:], d.bytes(16, "generation"))
		ne := d.uvarint(uint64(len(d.b)/(2+3+32)), "entry count")
		if d.err != nil {
			break
		}
		p.Entries = make([]pack.Entry, 0, ne)
		for j := uint64(0); j < ne && d.err == nil; j++ {
			tc := d.bytes(2, "entry type")
			if d.err != nil {
				break
			}
			e := pack.Entry{Type: pack.BlobType(tc[0]), Compression: pack.Compression(tc[1])}
			if e.Type != pack.DataBlob && e.Type != pack.TreeBlob {
				d.fail("pack %s: blob type %d", p.ID.Short(), tc[0])
			}
			if e.Compression > pack.Zstd {
				d.fail("pack %s: compression %d", p.ID.Short(), tc[1])
			}
			e.Offset = uint32(d.uvarint(1<<32-1, "offset"))
			e.Length = uint32(d.uvarint(1<<32-1, "length"))
			e.RawLength = uint32(d.uvarint(pack.MaxBlobSize, "raw length"))
			copy(e.ID[:], d.bytes(32, "blob ID"))
			p.Entries = append(p.Entries, e)
		}
		f.Packs = append(f.Packs, p)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(d.b))
	}
	return f, nil
}
