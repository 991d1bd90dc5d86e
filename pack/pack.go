package pack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// Compression says how a blob's plaintext was transformed before sealing.
type Compression uint8

// Compression values; part of the pack and index formats.
const (
	Uncompressed Compression = 0
	Zstd         Compression = 1
)

// Sealer seals and opens byte strings with authenticated encryption. The ad
// string is the object type bound into the authentication tag.
type Sealer interface {
	// Seal appends the sealed form of plaintext to dst and returns it.
	Seal(dst, plaintext []byte, ad string) []byte
	// Open appends the plaintext of sealed to dst; an error means the
	// bytes were not produced by Seal with this key and ad.
	Open(dst, sealed []byte, ad string) ([]byte, error)
	// Overhead is the number of bytes Seal adds.
	Overhead() int
	// NonceSize is the length of the prefix SealInPlace fills.
	NonceSize() int
	// SealInPlace seals b[NonceSize():] where it lies, filling
	// b[:NonceSize()], and returns the sealed form: the same bytes Seal
	// would have appended.
	SealInPlace(b []byte, ad string) []byte
}

// Errors returned by the decoders in this package.
var (
	ErrTruncated = errors.New("pack: truncated")
	ErrCorrupt   = errors.New("pack: corrupt header")
	// ErrTooLarge means a blob is larger than MaxBlobSize: no reader
	// would accept it, so no writer stores it.
	ErrTooLarge = errors.New("blob larger than the limit of 128 MiB")
)

const (
	entrySize = 1 + 1 + 4 + 4 + 32
	genSize   = 16
	// MaxHeaderSize bounds the sealed header a reader accepts (about 400k blobs).
	MaxHeaderSize = 16 << 20
	// MaxBlobSize bounds the raw length of one blob a reader accepts.
	MaxBlobSize = 128 << 20
)

// Entry describes one blob in a pack.
type Entry struct {
	ID          ID
	Type        BlobType
	Compression Compression
	Offset      uint32 // of the stored bytes from the start of the pack
	Length      uint32 // stored (sealed) length
	RawLength   uint32 // plaintext length
}

// Handle returns the blob handle of e.
func (e Entry) Handle() BlobHandle { return BlobHandle{ID: e.ID, Type: e.Type} }

// Writer writes sealed blobs of one type into a pack, streaming them to an
// io.Writer (a temporary file or a buffer). A Writer that failed keeps
// returning its first error.
type Writer struct {
	gen     Generation
	typ     BlobType
	out     io.Writer
	size    int
	entries []Entry
	err     error
}

// NewWriter starts a pack of blobs of type typ in generation gen, written
// to out.
func NewWriter(gen Generation, typ BlobType, out io.Writer) *Writer {
	return &Writer{gen: gen, typ: typ, out: out}
}

// Generation returns the generation the pack belongs to.
func (w *Writer) Generation() Generation { return w.gen }

// Type returns the blob type of the pack.
func (w *Writer) Type() BlobType { return w.typ }

// Add appends a stored blob; e.Offset and e.Length are set by Add.
func (w *Writer) Add(e Entry, stored []byte) error {
	if w.err != nil {
		return w.err
	}
	if e.RawLength > MaxBlobSize || len(stored) > MaxBlobSize+1<<10 {
		return fmt.Errorf("add blob %s: %w", e.ID.Short(), ErrTooLarge)
	}
	e.Offset = uint32(w.size)
	e.Length = uint32(len(stored))
	if _, err := w.out.Write(stored); err != nil {
		w.err = fmt.Errorf("write pack: %w", err)
		return w.err
	}
	w.size += len(stored)
	w.entries = append(w.entries, e)
	return nil
}

// Size returns the number of blob bytes written so far.
func (w *Writer) Size() int { return w.size }

// Count returns the number of blobs in the pack.
func (w *Writer) Count() int { return len(w.entries) }

// Finalize writes the sealed header and its length and returns the entries
// and the pack's total size. The Writer must not be used afterwards.
func (w *Writer) Finalize(s Sealer) ([]Entry, int64, error) {
	if w.err != nil {
		return nil, 0, w.err
	}
	hdr := make([]byte, 0, genSize+len(w.entries)*entrySize)
	hdr = append(hdr, w.gen[:]...)
	for _, e := range w.entries {
		hdr = append(hdr, byte(e.Type), byte(e.Compression))
		hdr = binary.LittleEndian.AppendUint32(hdr, e.Length)
		hdr = binary.LittleEndian.AppendUint32(hdr, e.RawLength)
		hdr = append(hdr, e.ID[:]...)
	}
	sealed := s.Seal(nil, hdr, headerAD(w.typ))
	sealed = binary.LittleEndian.AppendUint32(sealed, uint32(len(sealed)))
	if _, err := w.out.Write(sealed); err != nil {
		w.err = fmt.Errorf("write pack header: %w", err)
		return nil, 0, w.err
	}
	return w.entries, int64(w.size + len(sealed)), nil
}

// headerAD is the additional data of a pack header: the blob type of the
// pack, so a tree pack's header cannot be passed off as a data pack's.
func headerAD(t BlobType) string { return t.String() }

// HeaderLength returns the length of the sealed header given the last four
// bytes of a pack of the given size.
func HeaderLength(tail4 []byte, size int64) (int, error) {
	if len(tail4) < 4 || size < 4 {
		return 0, ErrTruncated
	}
	n := int64(binary.LittleEndian.Uint32(tail4[len(tail4)-4:]))
	if n > size-4 || n > MaxHeaderSize {
		return 0, fmt.Errorf("%w: header length %d in pack of %d bytes", ErrCorrupt, n, size)
	}
	return int(n), nil
}

// ParseHeader opens a sealed header (without the trailing length) of a pack of
// size bytes and returns its generation and entries with offsets. It tries
// both pack types, so callers need not know which one the pack holds.
func ParseHeader(s Sealer, sealed []byte, size int64) (Generation, []Entry, error) {
	var gen Generation
	var hdr []byte
	var err error
	for _, t := range []BlobType{DataBlob, TreeBlob} {
		hdr, err = s.Open(nil, sealed, headerAD(t))
		if err == nil {
			break
		}
	}
	if err != nil {
		return gen, nil, fmt.Errorf("open pack header: %w", err)
	}
	if len(hdr) < genSize || (len(hdr)-genSize)%entrySize != 0 {
		return gen, nil, fmt.Errorf("%w: header length %d", ErrCorrupt, len(hdr))
	}
	copy(gen[:], hdr)
	hdr = hdr[genSize:]
	dataEnd := size - 4 - int64(len(sealed))
	entries := make([]Entry, 0, len(hdr)/entrySize)
	var off int64
	for len(hdr) > 0 {
		e := Entry{
			Type:        BlobType(hdr[0]),
			Compression: Compression(hdr[1]),
			Length:      binary.LittleEndian.Uint32(hdr[2:]),
			RawLength:   binary.LittleEndian.Uint32(hdr[6:]),
			Offset:      uint32(off),
		}
		copy(e.ID[:], hdr[10:42])
		hdr = hdr[entrySize:]
		if e.Type != DataBlob && e.Type != TreeBlob {
			return gen, nil, fmt.Errorf("%w: blob %s has type %d", ErrCorrupt, e.ID.Short(), e.Type)
		}
		if e.Compression > Zstd {
			return gen, nil, fmt.Errorf("%w: blob %s has compression %d", ErrCorrupt, e.ID.Short(), e.Compression)
		}
		if e.RawLength > MaxBlobSize || int(e.Length) < s.Overhead() {
			return gen, nil, fmt.Errorf("%w: blob %s has length %d/%d", ErrCorrupt, e.ID.Short(), e.Length, e.RawLength)
		}
		off += int64(e.Length)
		if off > dataEnd {
			return gen, nil, fmt.Errorf("%w: blobs extend past the header", ErrCorrupt)
		}
		entries = append(entries, e)
	}
	if off != dataEnd {
		return gen, nil, fmt.Errorf("%w: blobs cover %d of %d bytes", ErrCorrupt, off, dataEnd)
	}
	return gen, entries, nil
}

// ReadHeader reads and parses the header of the pack in r of the given size.
func ReadHeader(r io.ReaderAt, size int64, s Sealer) (Generation, []Entry, error) {
	if size < 4 {
		return Generation{}, nil, ErrTruncated
	}
	// Read a tail that usually holds the whole header in one request.
	tailLen := min(size, 64<<10)
	tail := make([]byte, tailLen)
	if _, err := r.ReadAt(tail, size-tailLen); err != nil {
		return Generation{}, nil, fmt.Errorf("read pack tail: %w", err)
	}
	n, err := HeaderLength(tail, size)
	if err != nil {
		return Generation{}, nil, err
	}
	var sealed []byte
	if int64(n)+4 <= tailLen {
		sealed = tail[tailLen-4-int64(n) : tailLen-4]
	} else {
		sealed = make([]byte, n)
		if _, err := r.ReadAt(sealed, size-4-int64(n)); err != nil {
			return Generation{}, nil, fmt.Errorf("read pack header: %w", err)
		}
	}
	return ParseHeader(s, sealed, size)
}

// Codec compresses, seals, opens and decompresses blobs. It holds one zstd
// encoder and decoder and is not safe for concurrent use: keep one per worker.
type Codec struct {
	s     Sealer
	level zstd.EncoderLevel
	enc   *zstd.Encoder
	retry *zstd.Encoder // SpeedDefault, for what SpeedFastest can't compress
	dec   *zstd.Decoder
	tmp   []byte
}

// NewCodec returns a Codec sealing with s. level 0 disables compression.
func NewCodec(s Sealer, level zstd.EncoderLevel) *Codec {
	return &Codec{s: s, level: level}
}

// Encode appends the stored form of plaintext to dst and returns it with the
// entry describing it (ID and offset are left to the caller). The
// compressed form is written straight into dst and sealed there, so a
// blob takes no buffer besides dst.
func (c *Codec) Encode(dst, plaintext []byte, t BlobType) ([]byte, Entry) {
	e := Entry{Type: t, RawLength: uint32(len(plaintext))}
	start := len(dst)
	body := start + c.s.NonceSize()
	dst = growCap(dst, c.s.NonceSize()+len(plaintext)+c.s.Overhead())[:body]
	if c.level != 0 && len(plaintext) > 64 {
		if c.enc == nil {
			c.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(c.level),
				zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(2<<20),
				zstd.WithEncoderCRC(false))
		}
		dst = c.enc.EncodeAll(plaintext, dst)
		if c.level == zstd.SpeedFastest && len(dst)-body >= len(plaintext)-len(plaintext)/32 && lowEntropy(plaintext) {
			// SpeedFastest finds no matches in data of a small alphabet
			// without repeats (hex, 4-bit samples) and stores it as it
			// is; SpeedDefault's entropy coding takes a third off. Random
			// data, the usual incompressible blob, doesn't get here.
			if c.retry == nil {
				c.retry, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
					zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(2<<20),
					zstd.WithEncoderCRC(false))
			}
			dst = c.retry.EncodeAll(plaintext, dst[:body])
		}
		// Keep the compressed form whenever it is smaller.
		if len(dst)-body < len(plaintext) {
			e.Compression = Zstd
		} else {
			dst = dst[:body]
		}
	}
	if e.Compression == Uncompressed {
		dst = append(dst, plaintext...)
	}
	dst = growCap(dst, c.s.Overhead()-c.s.NonceSize())
	sealed := c.s.SealInPlace(dst[start:], t.String())
	if len(sealed) <= cap(dst)-start && &dst[start:cap(dst)][0] == &sealed[0] {
		dst = dst[:start+len(sealed)]
	} else {
		dst = append(dst[:start], sealed...)
	}
	e.Length = uint32(len(dst) - start)
	return dst, e
}

// Decode opens and decompresses the stored bytes of blob e, appending the
// plaintext to dst.
func (c *Codec) Decode(dst, stored []byte, e Entry) ([]byte, error) {
	return c.decode(dst, stored, e, false)
}

// DecodeInPlace is Decode for stored bytes the caller no longer needs: it
// decrypts a compressed blob where it lies instead of into a buffer of
// its own, and stored is garbage afterwards.
func (c *Codec) DecodeInPlace(dst, stored []byte, e Entry) ([]byte, error) {
	return c.decode(dst, stored, e, true)
}

func (c *Codec) decode(dst, stored []byte, e Entry, inPlace bool) ([]byte, error) {
	if uint32(len(stored)) != e.Length {
		return nil, fmt.Errorf("blob %s: %w: %d of %d bytes", e.ID.Short(), ErrTruncated, len(stored), e.Length)
	}
	var err error
	switch e.Compression {
	case Uncompressed:
		start := len(dst)
		dst, err = c.s.Open(dst, stored, e.Type.String())
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", e.ID.Short(), err)
		}
		if uint32(len(dst)-start) != e.RawLength {
			return nil, fmt.Errorf("blob %s: %w: length %d, want %d", e.ID.Short(), ErrCorrupt, len(dst)-start, e.RawLength)
		}
		return dst, nil
	case Zstd:
		var plain []byte
		if inPlace && len(stored) >= c.s.NonceSize() {
			n := c.s.NonceSize()
			plain, err = c.s.Open(stored[n:n], stored, e.Type.String())
		} else {
			c.tmp, err = c.s.Open(c.tmp[:0], stored, e.Type.String())
			plain = c.tmp
		}
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", e.ID.Short(), err)
		}
		if c.dec == nil {
			c.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxBlobSize))
		}
		if e.RawLength > MaxBlobSize {
			return nil, fmt.Errorf("blob %s: %w: raw length %d", e.ID.Short(), ErrCorrupt, e.RawLength)
		}
		start := len(dst)
		dst = growCap(dst, int(e.RawLength))
		dst, err = c.dec.DecodeAll(plain, dst)
		if err != nil {
			return nil, fmt.Errorf("blob %s: decompress: %w", e.ID.Short(), err)
		}
		if uint32(len(dst)-start) != e.RawLength {
			return nil, fmt.Errorf("blob %s: %w: length %d, want %d", e.ID.Short(), ErrCorrupt, len(dst)-start, e.RawLength)
		}
		return dst, nil
	}
	return nil, fmt.Errorf("blob %s: %w: compression %d", e.ID.Short(), ErrCorrupt, e.Compression)
}

// lowEntropy reports whether p's bytes, order aside, would take well
// under 8 bits each (7 or less): a byte histogram of p, or of 16 pieces
// of 4 KiB spread over it.
func lowEntropy(p []byte) bool {
	var hist [256]int
	n := 0
	count := func(b []byte) {
		for _, c := range b {
			hist[c]++
		}
		n += len(b)
	}
	const piece, pieces = 4 << 10, 16
	if len(p) <= piece*pieces {
		count(p)
	} else {
		step := (len(p) - piece) / (pieces - 1)
		for i := range pieces {
			count(p[i*step:][:piece])
		}
	}
	if n == 0 {
		return false
	}
	bits := 0.0
	for _, h := range hist {
		if h > 0 {
			f := float64(h) / float64(n)
			bits -= f * math.Log2(f)
		}
	}
	return bits <= 7
}

func growCap(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
