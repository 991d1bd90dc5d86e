package repo

import (
	"fmt"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/crypto"
)

// PackVerifier checks a pack read front to back, once: it opens every
// blob, checks its plaintext against its ID and computes the SHA-256 of
// all the pack's bytes, its name. The hashing is crypto.PackHasher's:
// with SHA-NI every block goes in step with another stream's, so the
// stored bytes and the plaintext cost about one of them. A PackVerifier
// is not safe for concurrent use; keep one per worker.
type PackVerifier struct {
	codec *pack.Codec
	h     *crypto.PackHasher
}

// NewPackVerifier returns a PackVerifier for one goroutine.
func (r *Repository) NewPackVerifier() *PackVerifier {
	return &PackVerifier{codec: pack.NewCodec(r.key, r.level), h: r.key.NewPackHasher()}
}

// Reset starts the next pack.
func (v *PackVerifier) Reset() { v.h.Reset() }

// Write adds bytes of the pack that are no blob's, or a blob's that was
// not opened.
func (v *PackVerifier) Write(p []byte) (int, error) { return v.h.Write(p) }

// Blob adds the stored bytes of blob e, the next in the pack, and opens
// them. An error means they can't be opened (the bytes count for the
// pack's hash all the same); a plaintext that doesn't match the blob's ID
// is reported by Sum, which may be only after later blobs. stored may be
// overwritten (decrypted where it lies).
func (v *PackVerifier) Blob(stored []byte, e pack.Entry) error {
	var plain []byte
	var err error
	if e.Compression != pack.Uncompressed && v.h.Pending() >= len(stored) {
		// The stored bytes go in step with the plaintext still pending,
		// so they may be decrypted in place, without a second buffer.
		v.h.Write(stored)
		if plain, err = v.codec.DecodeInPlace(v.h.Buffer(), stored, e); err != nil {
			return err
		}
		v.h.Blob(nil, plain, e.ID)
		return nil
	}
	if plain, err = v.codec.Decode(v.h.Buffer(), stored, e); err != nil {
		v.h.Write(stored)
		return err
	}
	v.h.Blob(stored, plain, e.ID)
	return nil
}

// Sum finishes the pack: it returns the SHA-256 of its bytes and the
// blobs whose plaintext doesn't match their ID.
func (v *PackVerifier) Sum() (pack.ID, []pack.ID) {
	sum, bad := v.h.Sum()
	var ids []pack.ID
	for _, id := range bad {
		ids = append(ids, pack.ID(id))
	}
	return sum, ids
}

// errMismatch describes blobs of a pack whose plaintext doesn't match
// their ID.
func errMismatch(bad []pack.ID) error {
	if len(bad) == 1 {
		return fmt.Errorf("blob %s: content does not match its ID", bad[0].Short())
	}
	return fmt.Errorf("%d blobs (%s, …): content does not match their ID", len(bad), bad[0].Short())
}
