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

// visitor receives the parts of an index file as walk decodes them; nil
// functions are skipped.
type visitor struct {
	supersedes func(id pack.ID)
	pack       func(id pack.ID, gen pack.Generation, entries int)
	entry      func(e pack.Entry)
}

// walk decodes the binary form of an index file and hands its parts to v.
// Counts are checked against the remaining input before v sees them, so a
// caller may allocate what a count says. It returns the number of packs
// and entries.
func walk(b []byte, v visitor) (packs, entries int, err error) {
	d := &decoder{b: b}
	if m := d.bytes(len(magic), "magic"); d.err == nil && string(m) != string(magic) {
		return 0, 0, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if ver := d.bytes(1, "version"); d.err == nil && ver[0] != version {
		return 0, 0, fmt.Errorf("%w: unsupported version %d", ErrFormat, ver[0])
	}
	ns := d.uvarint(uint64(len(d.b)/32), "superseded count")
	for i := uint64(0); i < ns && d.err == nil; i++ {
		var id pack.ID
		copy(id[:], d.bytes(32, "superseded ID"))
		if d.err == nil && v.supersedes != nil {
			v.supersedes(id)
		}
	}
	np := d.uvarint(uint64(len(d.b)/(32+16+1)), "pack count")
	for i := uint64(0); i < np && d.err == nil; i++ {
		var id pack.ID
		var gen pack.Generation
		copy(id[:], d.bytes(32, "pack ID"))
		copy(gen[:], d.bytes(16, "generation"))
		ne := d.uvarint(uint64(len(d.b)/(2+3+32)), "entry count")
		if d.err != nil {
			break
		}
		packs++
		if v.pack != nil {
			v.pack(id, gen, int(ne))
		}
		for j := uint64(0); j < ne && d.err == nil; j++ {
			tc := d.bytes(2, "entry type")
			if d.err != nil {
				break
			}
			e := pack.Entry{Type: pack.BlobType(tc[0]), Compression: pack.Compression(tc[1])}
			if e.Type != pack.DataBlob && e.Type != pack.TreeBlob {
				d.fail("pack %s: blob type %d", id.Short(), tc[0])
			}
			if e.Compression > pack.Zstd {
				d.fail("pack %s: compression %d", id.Short(), tc[1])
			}
			e.Offset = uint32(d.uvarint(1<<32-1, "offset"))
			e.Length = uint32(d.uvarint(1<<32-1, "length"))
			e.RawLength = uint32(d.uvarint(pack.MaxBlobSize, "raw length"))
			copy(e.ID[:], d.bytes(32, "blob ID"))
			if d.err == nil {
				entries++
				if v.entry != nil {
					v.entry(e)
				}
			}
		}
	}
	if d.err != nil {
		return 0, 0, d.err
	}
	if len(d.b) != 0 {
		return 0, 0, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(d.b))
	}
	return packs, entries, nil
}

// Decode parses the binary form of an index file. Counts are checked
// against the remaining input before anything is allocated.
func Decode(b []byte) (*File, error) {
	f := &File{}
	var cur *Pack
	_, _, err := walk(b, visitor{
		supersedes: func(id pack.ID) { f.Supersedes = append(f.Supersedes, id) },
		pack: func(id pack.ID, gen pack.Generation, n int) {
			f.Packs = append(f.Packs, Pack{ID: id, Generation: gen, Entries: make([]pack.Entry, 0, n)})
			cur = &f.Packs[len(f.Packs)-1]
		},
		entry: func(e pack.Entry) { cur.Entries = append(cur.Entries, e) },
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}
