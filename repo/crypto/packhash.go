package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// PackHasher hashes a pack read front to back: the SHA-256 of all its
// stored bytes (its name) and the HMAC-SHA256 of each blob's plaintext
// (its ID), which it compares with the ID the blob should have.
//
// With SHA-NI every block is hashed in step with a block of another
// stream, which costs about what one stream costs: a blob's stored bytes
// with its plaintext, and a plaintext longer than its stored bytes (a
// compressed blob) with the stored bytes and the plaintext of the blobs
// after it. So the ID of a blob may be finished only by a later call; the
// plaintext is held until then, in one of the two buffers Buffer hands
// out. Without SHA-NI it is crypto/sha256 and crypto/hmac, blob by blob.
//
// A PackHasher is not safe for concurrent use.
type PackHasher struct {
	std, mac hash.Hash // without SHA-NI

	inner, outer digest // the HMAC states after the padded key block
	pack         digest
	// pend is the ID being computed of a blob whose plaintext is not
	// hashed to its end: the rest is pendData, in bufs[pendBuf].
	pend     digest
	pendData []byte
	pendWant [32]byte
	pendBuf  int // -1: no blob pending
	bufs     [2][]byte
	cur      int // the buffer Buffer handed out last
	bad      [][32]byte
}

// NewPackHasher returns a PackHasher for blob IDs under k.
func (k *Key) NewPackHasher() *PackHasher { return k.newPackHasher(haveSHANI) }

func (k *Key) newPackHasher(shani bool) *PackHasher {
	h := &PackHasher{}
	if shani {
		ids := k.NewIDHasher()
		h.inner, h.outer = ids.inner, ids.outer
	} else {
		h.std, h.mac = sha256.New(), hmac.New(sha256.New, k.MAC[:])
	}
	h.Reset()
	return h
}

// Reset starts a new pack; the buffers are kept.
func (h *PackHasher) Reset() {
	if h.std != nil {
		h.std.Reset()
	} else {
		h.pack.reset()
	}
	h.pendData, h.pendBuf, h.bad = nil, -1, nil
}

// Buffer returns an empty buffer, which the hasher doesn't hold, to
// decode the next blob's plaintext into; Blob takes it over.
func (h *PackHasher) Buffer() []byte {
	h.cur = 0
	if h.pendBuf == 0 {
		h.cur = 1
	}
	return h.bufs[h.cur][:0]
}

// Pending returns how many bytes of a plaintext wait to be hashed in step
// with another stream: that many stored bytes passed to Write cost about
// nothing. Without SHA-NI it is 0.
func (h *PackHasher) Pending() int { return len(h.pendData) }

// Write adds stored bytes of the pack that are no blob's (or a blob's that
// could not be opened). They are hashed before Write returns.
func (h *PackHasher) Write(p []byte) (int, error) {
	if h.std != nil {
		return h.std.Write(p)
	}
	n := len(p)
	if h.pendBuf >= 0 {
		h.pendData, p = pairUp(&h.pend, h.pendData, &h.pack, p)
		if len(h.pendData) == 0 {
			h.finishPending()
		}
	}
	h.pack.write1(p)
	return n, nil
}

// Blob adds the stored bytes of a blob (nil when they were passed to Write
// already) and its plaintext, which should have the ID want. stored is
// hashed before Blob returns; plain is the plaintext decoded into Buffer()
// and may be held until a later call. A mismatch is reported by Sum.
func (h *PackHasher) Blob(stored, plain []byte, want [32]byte) {
	h.bufs[h.cur] = plain[:0]
	if h.std != nil {
		h.std.Write(stored)
		h.mac.Reset()
		h.mac.Write(plain)
		var id [32]byte
		if [32]byte(h.mac.Sum(id[:0])) != want {
			h.bad = append(h.bad, want)
		}
		return
	}
	// Three streams, each hashed in step with another until one is left:
	// the rest of a plaintext pending, the stored bytes, the plaintext.
	d := h.inner
	if h.pendBuf >= 0 {
		h.pendData, stored = pairUp(&h.pend, h.pendData, &h.pack, stored)
		if len(h.pendData) > 0 {
			h.pendData, plain = pairUp(&h.pend, h.pendData, &d, plain)
		}
		if len(h.pendData) == 0 {
			h.finishPending()
		}
	}
	stored, plain = pairUp(&h.pack, stored, &d, plain)
	h.pack.write1(stored) // more stored bytes than plaintext: rare
	switch {
	case len(plain) == 0:
		h.check(&d, want)
	case h.pendBuf < 0:
		h.pend, h.pendData, h.pendWant, h.pendBuf = d, plain, want, h.cur
	default:
		// Not reached: one of the streams runs out in each pairing.
		d.write1(plain)
		h.check(&d, want)
	}
}

// Sum finishes the pack: it returns the SHA-256 of its stored bytes and
// the IDs of the blobs whose plaintext did not match them.
func (h *PackHasher) Sum() (sum [32]byte, mismatched [][32]byte) {
	if h.std != nil {
		h.std.Sum(sum[:0])
		return sum, h.bad
	}
	if h.pendBuf >= 0 {
		h.pend.write1(h.pendData)
		h.finishPending()
	}
	return h.pack.sum(), h.bad
}

func (h *PackHasher) finishPending() {
	h.check(&h.pend, h.pendWant)
	h.pendData, h.pendBuf = nil, -1
}

// check completes the HMAC whose inner hash is d and compares it with want.
func (h *PackHasher) check(d *digest, want [32]byte) {
	id := d.sum()
	o := h.outer
	o.write1(id[:])
	if o.sum() != want {
		h.bad = append(h.bad, want)
	}
}

// pairUp hashes p into d and q into o, full blocks of both in step, until
// one of them runs out, and returns what is left of the other (at most one
// of the two is not empty). Less than a block left of both is buffered.
func pairUp(d *digest, p []byte, o *digest, q []byte) ([]byte, []byte) {
	p, q = d.fill(p), o.fill(q)
	if d.nx == 0 && o.nx == 0 {
		if n := min(len(p), len(q)) / 64; n > 0 {
			blockPair(&d.h, &p[0], &o.h, &q[0], n)
			d.len += uint64(n * 64)
			o.len += uint64(n * 64)
			p, q = p[n*64:], q[n*64:]
		}
	}
	// Both are longer only if a partial block could not be filled,
	// when one has run out.
	if len(p) < 64 {
		d.write1(p)
		p = nil
	}
	if len(q) < 64 {
		o.write1(q)
		q = nil
	}
	return p, q
}
