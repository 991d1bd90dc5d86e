// Package crypto owns the repository's cryptography: the master key, the
// sealing format every encrypted byte in a repository uses, keyed blob IDs,
// and the key file that wraps the master key under a password (DESIGN.md
// section 3). It imports no cairn package. It does not know file names,
// compression or storage, and seals under whatever type string it is given
// (only "key" is its own): the repo and pack packages decide what is sealed
// under which type and where it goes.
//
// # Master key
//
// A master key is two independent 32-byte random keys (crypto/rand):
// Encrypt, the XChaCha20-Poly1305 key every repository object is sealed
// with, and MAC, the HMAC-SHA256 key of blob IDs. One master key serves the
// whole repository; there are no per-file or per-type subkeys.
//
// # Sealing
//
// Seal(plaintext, ad) produces
//
//	nonce(24) ‖ ciphertext(len(plaintext)) ‖ tag(16)
//
// with XChaCha20-Poly1305 (golang.org/x/crypto/chacha20poly1305.NewX)
// under the 32-byte encryption key. The nonce is 24 fresh bytes from
// crypto/rand for every call (never a counter; Seal panics rather than
// continue if the source fails). The additional data is the object type as
// its ASCII bytes, with no length prefix or terminator; it is not stored,
// the reader supplies the type it expects. The Poly1305 tag authenticates
// the ciphertext and the additional data; the nonce is bound as well, since
// it determines the one-time Poly1305 key. A sealed object is Overhead = 40
// bytes longer than its plaintext. Open refuses anything shorter than 40 bytes and
// returns ErrUnauthenticated for every failure: damage, a truncation,
// another key and another type are not told apart.
//
// The types the repository seals under are:
//
//	"config"    the config file
//	"index"     an index file (its plaintext is a zstd frame)
//	"snapshot"  a snapshot file
//	"lock"      a lock file
//	"data"      a data blob in a pack, and the header of a data pack
//	"tree"      a tree blob in a pack, and the header of a tree pack
//	"key"       the master key inside a key file (under the password key)
//
// so an index cannot be passed off as a snapshot, nor a tree as data. What
// a seal does not cover is checked elsewhere: a file's name is the SHA-256
// of its stored bytes (pack.Hash, unkeyed, so integrity is checkable
// without the key); a blob's seal binds neither its ID, its position nor
// its compression flag, which come from the sealed pack header or the
// index, and its plaintext is checked against its ID after opening.
//
// # Blob IDs
//
// A blob's ID is HMAC-SHA256(MAC key, plaintext), 32 bytes, computed over
// the plaintext before compression. Being keyed, the same content has a
// different ID in every repository, and the storage cannot confirm that a
// known file is stored.
//
// # Key file
//
// A key file (keys/<id> in a repository; the repo package names and stores
// it) is JSON and is not sealed. The repo package writes it with
// json.MarshalIndent and a two-space indent, for example
//
//	{
//	  "created": "2026-11-25T18:40:48.070820206Z",
//	  "hostname": "vm",
//	  "username": "root",
//	  "kdf": "argon2id",
//	  "time": 3,
//	  "memory": 65536,
//	  "threads": 4,
//	  "salt": "<base64 of 32 bytes>",
//	  "data": "<base64 of the sealed master key>"
//	}
//
// created is encoding/json's time.Time (RFC 3339 with nanoseconds); hostname and username say who
// made the key (informational, `cairn key list`). kdf must be "argon2id".
// time, memory (in KiB) and threads are the Argon2id cost parameters
// (KDFParams, embedded, so they sit at the top level of the object);
// DefaultKDF is t = 3, m = 65536 KiB (64 MiB), p = 4. salt is 32 bytes from
// crypto/rand, standard base64 with padding; readers accept 16 bytes or
// more. data is standard base64 too.
//
// The wrapping key is Argon2id (golang.org/x/crypto/argon2.IDKey, version
// 0x13) of the password's bytes as given, with salt, time, memory and
// threads, output length 32. data is
//
//	Seal(master key JSON, "key") under the wrapping key
//	= nonce(24) ‖ ciphertext ‖ tag(16)
//
// and the master key JSON is encoding/json's form of Key:
//
//	{"encrypt":[b₀,b₁,…,b₃₁],"mac":[b₀,b₁,…,b₃₁]}
//
// each key an array of 32 decimal numbers 0-255 (Go encodes a [32]byte as
// an array, not base64), so the plaintext is 149 to 277 bytes and data 189
// to 317. A wrong password fails the tag: ErrWrongPassword.
//
// A key file comes from untrusted storage, so ParseKeyFile refuses it,
// before any derivation, unless kdf is "argon2id", data is at least 40
// bytes and the parameters lie within 1 ≤ t ≤ 10 (MaxKDFTime),
// 1 ≤ p ≤ 16 (MaxKDFThreads) and 8·p KiB ≤ m ≤ 1 GiB (MaxKDFMemory);
// the repo package reads at most MaxKeyFileSize (64 KiB) of it. Unknown
// JSON fields are ignored. An opened master key must have a non-zero MAC
// key.
package crypto
