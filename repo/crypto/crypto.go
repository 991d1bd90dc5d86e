package crypto

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"hash"
	"io"

	sha256 "github.com/minio/sha256-simd"
	"golang.org/x/crypto/chacha20poly1305"
)

// ErrUnauthenticated means sealed bytes failed authentication: they were
// damaged, or sealed under another key or object type.
var ErrUnauthenticated = errors.New("crypto: ciphertext authentication failed")

// Overhead is the number of bytes a sealed object is longer than its plaintext.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// Key is a repository master key: one part encrypts, the other keys blob IDs.
type Key struct {
	Encrypt [32]byte `json:"encrypt"`
	MAC     [32]byte `json:"mac"`

	aead  cipher.AEAD
	nonce io.Reader
}

// NewRandomKey returns a fresh master key.
func NewRandomKey() (*Key, error) {
	k := &Key{}
	if _, err := rand.Read(k.Encrypt[:]); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if _, err := rand.Read(k.MAC[:]); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, k.init(nil)
}

// init prepares the AEAD. nonces, when not nil, replaces crypto/rand (tests).
func (k *Key) init(nonces io.Reader) error {
	aead, err := chacha20poly1305.NewX(k.Encrypt[:])
	if err != nil {
		return fmt.Errorf("init key: %w", err)
	}
	k.aead = aead
	k.nonce = nonces
	if k.nonce == nil {
		k.nonce = rand.Reader
	}
	return nil
}

// WithNonceSource returns a copy of k drawing nonces from r, for
// deterministic tests.
func (k *Key) WithNonceSource(r io.Reader) *Key {
	c := &Key{Encrypt: k.Encrypt, MAC: k.MAC}
	_ = c.init(r)
	return c
}

// Valid reports whether the key material is usable.
func (k *Key) Valid() bool { return k.aead != nil && k.MAC != [32]byte{} }

// Seal appends nonce ‖ ciphertext ‖ tag of plaintext to dst, binding ad.
func (k *Key) Seal(dst, plaintext []byte, ad string) []byte {
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := io.ReadFull(k.nonce, nonce[:]); err != nil {
		// crypto/rand never fails on supported platforms; a nonce
		// reused by accident would be far worse than stopping.
		panic("crypto: nonce source failed: " + err.Error())
	}
	dst = append(dst, nonce[:]...)
	return k.aead.Seal(dst, nonce[:], plaintext, []byte(ad))
}

// NonceSize is the length of the nonce that starts a sealed object.
func (k *Key) NonceSize() int { return chacha20poly1305.NonceSizeX }

// SealInPlace seals b[NonceSize():] where it lies: it writes the nonce
// over b[:NonceSize()] and appends the tag, so the sealed object takes no
// second buffer when b has room for the tag.
func (k *Key) SealInPlace(b []byte, ad string) []byte {
	n := chacha20poly1305.NonceSizeX
	if len(b) < n {
		panic("crypto: SealInPlace: no room for the nonce")
	}
	if _, err := io.ReadFull(k.nonce, b[:n]); err != nil {
		panic("crypto: nonce source failed: " + err.Error())
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	copy(nonce[:], b[:n])
	return k.aead.Seal(b[:n], nonce[:], b[n:], []byte(ad))
}

// Open appends the plaintext of sealed to dst.
func (k *Key) Open(dst, sealed []byte, ad string) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrUnauthenticated, len(sealed))
	}
	n := chacha20poly1305.NonceSizeX
	out, err := k.aead.Open(dst, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, ErrUnauthenticated
	}
	return out, nil
}

// Overhead returns the bytes Seal adds.
func (k *Key) Overhead() int { return Overhead }

// IDHasher computes keyed blob IDs. It is not safe for concurrent use; keep
// one per worker.
type IDHasher struct {
	h hash.Hash // without SHA-NI
	// inner and outer are the HMAC states after the padded key block.
	inner, outer, d digest
}

// NewIDHasher returns a hasher for blob IDs under k.
func (k *Key) NewIDHasher() *IDHasher {
	if !haveSHANI {
		return &IDHasher{h: hmac.New(sha256.New, k.MAC[:])}
	}
	var ipad, opad [64]byte
	for i := range ipad {
		ipad[i], opad[i] = 0x36, 0x5c
	}
	for i, b := range k.MAC { // a key of 32 bytes is used as it is
		ipad[i] ^= b
		opad[i] ^= b
	}
	h := &IDHasher{}
	h.inner.reset()
	h.inner.write1(ipad[:])
	h.outer.reset()
	h.outer.write1(opad[:])
	return h
}

// Sum returns HMAC-SHA256(mac key, data).
func (h *IDHasher) Sum(data []byte) [32]byte {
	return h.SumAlong(data, nil, nil)
}

// SumPair returns the IDs of a and b, HMAC-SHA256(mac key, ·) of each,
// hashing the two in step (with SHA-NI two independent streams cost
// little more than one): two blobs read one after the other.
func (h *IDHasher) SumPair(a, b []byte) (ida, idb [32]byte) {
	if h.h != nil {
		return h.Sum(a), h.Sum(b)
	}
	da, db := h.inner, h.inner
	da.write(a, &db, b)
	ia, ib := da.sum(), db.sum()
	da, db = h.outer, h.outer
	da.write(ia[:], &db, ib[:])
	return da.sum(), db.sum()
}

// SumAlong returns HMAC-SHA256(mac key, data) and writes other to s (when
// not nil), hashing both in step: the ID of a blob and the pack it came in.
func (h *IDHasher) SumAlong(data []byte, s *StreamHash, other []byte) [32]byte {
	var id [32]byte
	if h.h != nil {
		h.h.Reset()
		h.h.Write(data)
		h.h.Sum(id[:0])
		if s != nil {
			s.Write(other)
		}
		return id
	}
	h.d = h.inner
	if s != nil && s.std == nil {
		h.d.write(data, &s.d, other)
	} else {
		h.d.write1(data)
		if s != nil {
			s.Write(other)
		}
	}
	id = h.d.sum()
	h.d = h.outer
	h.d.write1(id[:])
	return h.d.sum()
}
