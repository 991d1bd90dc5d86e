package crypto

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

//go:generate go run sha256pair_gen.go

// StreamHash is the SHA-256 of a stream (a pack's stored bytes, say) that
// IDHasher.SumAlong can advance in step with a blob ID. Hashing two
// streams in step is about twice as fast on CPUs with SHA extensions,
// whose rounds are bound by latency; elsewhere it is crypto/sha256.
// A StreamHash is not safe for concurrent use.
type StreamHash struct {
	std hash.Hash // without SHA-NI
	d   digest
}

// NewStreamHash returns an empty StreamHash.
func NewStreamHash() *StreamHash {
	s := &StreamHash{}
	if haveSHANI {
		s.d.reset()
	} else {
		s.std = sha256.New()
	}
	return s
}

// Write adds p to the stream.
func (s *StreamHash) Write(p []byte) (int, error) {
	if s.std != nil {
		return s.std.Write(p)
	}
	s.d.write(p, nil, nil)
	return len(p), nil
}

// Sum appends the SHA-256 of the stream so far to b.
func (s *StreamHash) Sum(b []byte) []byte {
	if s.std != nil {
		return s.std.Sum(b)
	}
	sum := s.d.sum()
	return append(b, sum[:]...)
}

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// digest is a SHA-256 state over the SHA-NI block functions.
type digest struct {
	h   [8]uint32
	x   [64]byte
	nx  int
	len uint64
}

func (d *digest) reset() { *d = digest{h: sha256IV} }

// write adds p to d; with o not nil it adds q to o, hashing full blocks
// of both streams in step.
func (d *digest) write(p []byte, o *digest, q []byte) {
	p = d.fill(p)
	if o != nil {
		q = o.fill(q)
		if n := min(len(p), len(q)) / 64; n > 0 && d.nx == 0 && o.nx == 0 {
			blockPair(&d.h, &p[0], &o.h, &q[0], n)
			d.len += uint64(n * 64)
			o.len += uint64(n * 64)
			p, q = p[n*64:], q[n*64:]
		}
		o.write(q, nil, nil)
	}
	d.write1(p)
}

// fill tops up a partly filled block from p and returns the rest of p;
// d.nx is 0 afterwards unless p ran out.
func (d *digest) fill(p []byte) []byte {
	if d.nx == 0 {
		return p
	}
	n := copy(d.x[d.nx:], p)
	d.nx += n
	d.len += uint64(n)
	if d.nx == 64 {
		blockOne(&d.h, &d.x[0], 1)
		d.nx = 0
	}
	return p[n:]
}

func (d *digest) write1(p []byte) {
	p = d.fill(p)
	if n := len(p) / 64; n > 0 {
		blockOne(&d.h, &p[0], n)
		d.len += uint64(n * 64)
		p = p[n*64:]
	}
	if len(p) > 0 {
		d.nx = copy(d.x[:], p)
		d.len += uint64(d.nx)
	}
}

func (d *digest) sum() (out [32]byte) {
	c := *d
	var pad [72]byte
	pad[0] = 0x80
	n := 56 - int(c.len%64)
	if n <= 0 {
		n += 64
	}
	binary.BigEndian.PutUint64(pad[n:], c.len*8)
	c.write1(pad[:n+8])
	for i, v := range c.h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}
