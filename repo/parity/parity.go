// Package parity computes, checks and uses Reed-Solomon parity files for
// repository files (DESIGN.md §3, "Parity").
//
// A protected file of n bytes is cut into K data shards of
// ceil(n/K) bytes (the last one zero-padded) and M parity shards are
// computed over them. The parity file holds
//
//	magic "CAIRNPAR" ‖ version(1) ‖ K(1) ‖ M(1) ‖ 0(1) ‖
//	shard size(uint64 LE) ‖ file size(uint64 LE) ‖
//	SHA-256 of each of the K+M shards ‖ SHA-256 of all of the above ‖
//	the M parity shards
//
// The shard hashes say which shards of a damaged file are bad; up to M bad
// shards (data or parity) can be rebuilt. The package knows nothing of
// repositories: callers check a rebuilt file against its name.
package parity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/sha256-simd"
)

const (
	magic = "CAIRNPAR"
	// Version is the parity file format this package writes.
	Version = 1
	// MaxShards bounds K+M (Reed-Solomon over GF(2^8)).
	MaxShards = 256
	fixedLen  = len(magic) + 4 + 16
	// stripe is how many bytes of each shard are encoded at once, which
	// bounds the memory Encode needs besides its result.
	stripe = 256 << 10
	// maxFileSize guards the arithmetic on sizes read from a file.
	maxFileSize = 1 << 40
)

// ErrBadParity means a parity file is itself damaged or not a parity
// file, so it can't be used.
var ErrBadParity = errors.New("parity file damaged")

// ErrUnrepairable means more shards are damaged than there are parity
// shards.
var ErrUnrepairable = errors.New("too many damaged shards to rebuild")

// Params are the shard counts: K data shards and M parity shards.
type Params struct {
	K int `json:"data"`
	M int `json:"parity"`
}

// Default is 10 data shards and 2 parity shards (20 % overhead).
var Default = Params{K: 10, M: 2}

// Enabled reports whether p asks for parity.
func (p Params) Enabled() bool { return p.K > 0 && p.M > 0 }

// Validate checks the shard counts.
func (p Params) Validate() error {
	if p.K < 1 || p.M < 1 || p.K+p.M > MaxShards {
		return fmt.Errorf("invalid parity %d+%d: want at least 1 data and 1 parity shard, at most %d in all", p.K, p.M, MaxShards)
	}
	return nil
}

func (p Params) String() string { return fmt.Sprintf("%d+%d", p.K, p.M) }

// Size returns the size of the parity file for a file of size bytes.
func (p Params) Size(size int64) int64 {
	return int64(headerLen(p.K+p.M)) + int64(p.M)*shardSize(size, p.K)
}

func shardSize(size int64, k int) int64 {
	return max(1, (size+int64(k)-1)/int64(k))
}

func headerLen(shards int) int { return fixedLen + 32*shards + 32 }

// Header is the decoded head of a parity file.
type Header struct {
	Params
	ShardSize int64
	FileSize  int64
	// Hashes are the SHA-256 of the K data shards, then the M parity
	// shards.
	Hashes [][32]byte
}

// Len returns the encoded length of the header.
func (h *Header) Len() int { return headerLen(h.K + h.M) }

func (h *Header) marshal(dst []byte) {
	copy(dst, magic)
	dst[8], dst[9], dst[10], dst[11] = Version, byte(h.K), byte(h.M), 0
	binary.LittleEndian.PutUint64(dst[12:], uint64(h.ShardSize))
	binary.LittleEndian.PutUint64(dst[20:], uint64(h.FileSize))
	off := fixedLen
	for _, s := range h.Hashes {
		off += copy(dst[off:], s[:])
	}
	sum := sha256.Sum256(dst[:off])
	copy(dst[off:], sum[:])
}

// ParseHeader decodes and checks the header at the start of a parity file.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < fixedLen || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a parity file", ErrBadParity)
	}
	if b[8] != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBadParity, b[8])
	}
	h := &Header{Params: Params{K: int(b[9]), M: int(b[10])}}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadParity, err)
	}
	ss, fsz := binary.LittleEndian.Uint64(b[12:]), binary.LittleEndian.Uint64(b[20:])
	if fsz > maxFileSize || ss != uint64(shardSize(int64(fsz), h.K)) {
		return nil, fmt.Errorf("%w: shard size %d does not fit file size %d", ErrBadParity, ss, fsz)
	}
	h.ShardSize, h.FileSize = int64(ss), int64(fsz)
	n := h.Len()
	if len(b) < n {
		return nil, fmt.Errorf("%w: header truncated", ErrBadParity)
	}
	if sum := sha256.Sum256(b[:n-32]); !bytes.Equal(sum[:], b[n-32:n]) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrBadParity)
	}
	// The body is exactly the M parity shards: a parity file's claimed
	// sizes must never make a caller allocate more than it holds.
	if want := int64(n) + int64(h.M)*h.ShardSize; int64(len(b)) != want {
		return nil, fmt.Errorf("%w: %d bytes, want %d for %d parity shards of %d bytes", ErrBadParity, len(b), want, h.M, h.ShardSize)
	}
	h.Hashes = make([][32]byte, h.K+h.M)
	for i := range h.Hashes {
		copy(h.Hashes[i][:], b[fixedLen+32*i:])
	}
	return h, nil
}

// Encode reads the size bytes of a file from r and returns its parity
// file. Memory use is the result plus K+M stripes of 256 KiB.
func Encode(r io.ReaderAt, size int64, p Params) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if size < 0 || size > maxFileSize {
		return nil, fmt.Errorf("parity: file size %d out of range", size)
	}
	enc, err := reedsolomon.New(p.K, p.M)
	if err != nil {
		return nil, err
	}
	h := &Header{Params: p, ShardSize: shardSize(size, p.K), FileSize: size, Hashes: make([][32]byte, p.K+p.M)}
	hl := h.Len()
	out := make([]byte, p.Size(size))
	par := out[hl:]
	n := min(stripe, h.ShardSize)
	data := make([]byte, int64(p.K)*n)
	hashers := make([]hash.Hash, p.K+p.M)
	for i := range hashers {
		hashers[i] = sha256.New()
	}
	shards := make([][]byte, p.K+p.M)
	for off := int64(0); off < h.ShardSize; off += n {
		l := min(n, h.ShardSize-off)
		for i := 0; i < p.K; i++ {
			d := data[int64(i)*n : int64(i)*n+l]
			clear(d)
			if start := int64(i)*h.ShardSize + off; start < size {
				want := min(l, size-start)
				if got, err := r.ReadAt(d[:want], start); int64(got) != want {
					return nil, fmt.Errorf("parity: read at %d: %w", start, orEOF(err))
				}
			}
			shards[i] = d
		}
		for j := 0; j < p.M; j++ {
			base := int64(j)*h.ShardSize + off
			shards[p.K+j] = par[base : base+l]
		}
		if err := enc.Encode(shards); err != nil {
			return nil, fmt.Errorf("parity: %w", err)
		}
		for i, s := range shards {
			hashers[i].Write(s)
		}
	}
	for i, hs := range hashers {
		hs.Sum(h.Hashes[i][:0])
	}
	h.marshal(out[:hl])
	return out, nil
}

func orEOF(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Report says which shards of a protected file are damaged.
type Report struct {
	Header *Header
	// Bad lists the damaged shards: 0…K-1 are data shards, K…K+M-1
	// parity shards.
	Bad []int
	// SizeMismatch is set when the file is not FileSize bytes long.
	SizeMismatch bool
}

// Damaged reports whether anything is wrong.
func (r *Report) Damaged() bool { return len(r.Bad) > 0 || r.SizeMismatch }

// Repairable reports whether the file can be rebuilt.
func (r *Report) Repairable() bool { return len(r.Bad) <= r.Header.M }

// BadData returns the byte ranges [start, end) of the file that lie in
// damaged data shards.
func (r *Report) BadData() [][2]int64 {
	var out [][2]int64
	for _, i := range r.Bad {
		if i >= r.Header.K {
			continue
		}
		s := int64(i) * r.Header.ShardSize
		e := min(s+r.Header.ShardSize, r.Header.FileSize)
		if s < e {
			out = append(out, [2]int64{s, e})
		}
	}
	return out
}

// String describes the damage in one line.
func (r *Report) String() string {
	h := r.Header
	if !r.Damaged() {
		return fmt.Sprintf("all %d shards intact", h.K+h.M)
	}
	var data, par []int
	for _, i := range r.Bad {
		if i < h.K {
			data = append(data, i)
		} else {
			par = append(par, i-h.K)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d of %d shards damaged", len(r.Bad), h.K+h.M)
	if len(data) > 0 {
		fmt.Fprintf(&b, "; data shards %v of %d bytes (bytes", data, h.ShardSize)
		for _, rg := range r.BadData() {
			fmt.Fprintf(&b, " %d-%d", rg[0], rg[1]-1)
		}
		b.WriteString(")")
	}
	if len(par) > 0 {
		fmt.Fprintf(&b, "; parity shards %v", par)
	}
	if r.SizeMismatch {
		b.WriteString("; file size differs")
	}
	if r.Repairable() {
		b.WriteString("; repairable from parity")
	} else {
		fmt.Fprintf(&b, "; more than %d: not repairable from parity", h.M)
	}
	return b.String()
}

// shardsOf returns the K+M shards of file and par as slices, copying data
// shards that need padding; missing parts are zero.
func shardsOf(h *Header, file, par []byte) [][]byte {
	shards := make([][]byte, h.K+h.M)
	for i := 0; i < h.K; i++ {
		s := int64(i) * h.ShardSize
		e := s + h.ShardSize
		switch {
		case e <= int64(len(file)) && e <= h.FileSize:
			shards[i] = file[s:e]
		default:
			d := make([]byte, h.ShardSize)
			if s < int64(len(file)) {
				copy(d, file[s:min(e, int64(len(file)), h.FileSize)])
			}
			shards[i] = d
		}
	}
	body := par[h.Len():]
	for j := 0; j < h.M; j++ {
		s := int64(j) * h.ShardSize
		d := make([]byte, h.ShardSize)
		if s < int64(len(body)) {
			copy(d, body[s:min(s+h.ShardSize, int64(len(body)))])
		}
		shards[h.K+j] = d
	}
	return shards
}

// Check compares a file (possibly damaged or truncated) with its parity
// file. The error is ErrBadParity when the parity file's header is
// unusable.
func Check(file, par []byte) (*Report, error) {
	h, err := ParseHeader(par)
	if err != nil {
		return nil, err
	}
	shards := shardsOf(h, file, par)
	rep := &Report{Header: h, SizeMismatch: int64(len(file)) != h.FileSize}
	for i, s := range shards {
		if sha256.Sum256(s) != h.Hashes[i] {
			rep.Bad = append(rep.Bad, i)
		}
	}
	return rep, nil
}

// CheckParity checks a parity file on its own: its header and each parity
// shard against the header's hashes. It needs no protected file.
func CheckParity(par []byte) (*Report, error) {
	h, err := ParseHeader(par)
	if err != nil {
		return nil, err
	}
	rep := &Report{Header: h}
	body := par[h.Len():]
	if int64(len(body)) != int64(h.M)*h.ShardSize {
		rep.SizeMismatch = true
	}
	for j := 0; j < h.M; j++ {
		s := int64(j) * h.ShardSize
		var sum [32]byte
		if s+h.ShardSize <= int64(len(body)) {
			sum = sha256.Sum256(body[s : s+h.ShardSize])
		}
		if sum != h.Hashes[h.K+j] {
			rep.Bad = append(rep.Bad, h.K+j)
		}
	}
	return rep, nil
}

// Repair rebuilds a damaged file from its parity file. It returns the
// file's original FileSize bytes and the damage it found; the caller must
// still check the result against the file's name. A file with more than M
// damaged shards returns ErrUnrepairable with the report.
func Repair(file, par []byte) ([]byte, *Report, error) {
	rep, err := Check(file, par)
	if err != nil {
		return nil, nil, err
	}
	h := rep.Header
	if !rep.Repairable() {
		return nil, rep, fmt.Errorf("%w: %s", ErrUnrepairable, rep)
	}
	shards := shardsOf(h, file, par)
	for _, i := range rep.Bad {
		shards[i] = nil
	}
	if len(rep.Bad) > 0 {
		enc, err := reedsolomon.New(h.K, h.M)
		if err != nil {
			return nil, rep, err
		}
		if err := enc.ReconstructData(shards); err != nil {
			return nil, rep, fmt.Errorf("parity: rebuild: %w", err)
		}
		for _, i := range rep.Bad {
			if i < h.K && sha256.Sum256(shards[i]) != h.Hashes[i] {
				return nil, rep, fmt.Errorf("%w: rebuilt shard %d does not match its hash", ErrUnrepairable, i)
			}
		}
	}
	out := make([]byte, 0, int64(h.K)*h.ShardSize)
	for i := 0; i < h.K; i++ {
		out = append(out, shards[i]...)
	}
	return out[:h.FileSize], rep, nil
}
