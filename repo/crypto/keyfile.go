package crypto

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// ErrWrongPassword means no key file opened with the given password.
var ErrWrongPassword = errors.New("crypto: wrong password or no key found")

// KDFParams are the Argon2id cost parameters.
type KDFParams struct {
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory"` // KiB
	Threads uint8  `json:"threads"`
}

// DefaultKDF is the design's default: t=3, m=64 MiB, p=4.
var DefaultKDF = KDFParams{Time: 3, Memory: 64 << 10, Threads: 4}

// KeyFile is the JSON stored under keys/<id>; it is not sealed. Data holds
// the master key sealed under the key derived from the password.
type KeyFile struct {
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username"`
	KDF      string    `json:"kdf"`
	KDFParams
	Salt []byte `json:"salt"`
	Data []byte `json:"data"`
}

const keyAD = "key"

// Limits on what a key file may ask of the KDF, so a planted key file
// can't make every client allocate gigabytes or spin: at most t = 10,
// m = 1 GiB, p = 16 (the default is t = 3, m = 64 MiB, p = 4, about 0.15 s),
// and at least what Argon2id itself needs (t = 1, 8 KiB per thread).
const (
	MaxKDFMemory  = 1 << 20 // KiB: 1 GiB
	MaxKDFTime    = 10
	MaxKDFThreads = 16
	// MaxKeyFileSize bounds a key file; a larger one is never read.
	MaxKeyFileSize = 64 << 10
)

// Check reports whether p lies within the bounds above.
func (p KDFParams) Check() error {
	if p.Time == 0 || p.Time > MaxKDFTime || p.Threads == 0 || p.Threads > MaxKDFThreads || p.Memory < 8*uint32(p.Threads) || p.Memory > MaxKDFMemory {
		return fmt.Errorf("key file: kdf parameters out of range (t=%d m=%d KiB p=%d; allowed t 1-%d, m 8 KiB per thread to %d KiB, p 1-%d)",
			p.Time, p.Memory, p.Threads, MaxKDFTime, MaxKDFMemory, MaxKDFThreads)
	}
	return nil
}

// NewKeyFile seals master under password.
func NewKeyFile(master *Key, password string, p KDFParams, host, user string, now time.Time) (*KeyFile, error) {
	kf := &KeyFile{Created: now, Hostname: host, Username: user, KDF: "argon2id", KDFParams: p, Salt: make([]byte, 32)}
	if _, err := rand.Read(kf.Salt); err != nil {
		return nil, fmt.Errorf("generate salt: %w", err)
	}
	wrap, err := kf.derive(password)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(master)
	if err != nil {
		return nil, err
	}
	kf.Data = wrap.Seal(nil, plain, keyAD)
	return kf, nil
}

func (kf *KeyFile) derive(password string) (*Key, error) {
	if kf.KDF != "argon2id" {
		return nil, fmt.Errorf("key file: unsupported kdf %q", kf.KDF)
	}
	if err := kf.KDFParams.Check(); err != nil {
		return nil, err
	}
	if len(kf.Salt) < 16 {
		return nil, errors.New("key file: salt too short")
	}
	k := &Key{}
	copy(k.Encrypt[:], argon2.IDKey([]byte(password), kf.Salt, kf.Time, kf.Memory, kf.Threads, 32))
	return k, k.init(nil)
}

// Open derives the wrapping key from password and returns the master key.
func (kf *KeyFile) Open(password string) (*Key, error) {
	wrap, err := kf.derive(password)
	if err != nil {
		return nil, err
	}
	plain, err := wrap.Open(nil, kf.Data, keyAD)
	if err != nil {
		return nil, ErrWrongPassword
	}
	return ParseMasterKey(plain)
}

// ParseMasterKey decodes the JSON form of a master key.
func ParseMasterKey(plain []byte) (*Key, error) {
	var m Key
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("key file: decode master key: %w", err)
	}
	if err := m.init(nil); err != nil {
		return nil, err
	}
	if !m.Valid() {
		return nil, errors.New("key file: master key is empty")
	}
	return &m, nil
}

// ParseKeyFile decodes a key file.
func ParseKeyFile(b []byte) (*KeyFile, error) {
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if kf.KDF != "argon2id" {
		return nil, fmt.Errorf("key file: unsupported kdf %q", kf.KDF)
	}
	if len(kf.Data) < Overhead {
		return nil, errors.New("key file: sealed key too short")
	}
	if err := kf.KDFParams.Check(); err != nil {
		return nil, err
	}
	return &kf, nil
}
