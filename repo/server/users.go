package server

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Users are the accounts of a server, read from an htpasswd file of
// bcrypt hashes (`htpasswd -B`). A password checked once is remembered
// as its SHA-256 for the life of the process, so a client's many
// requests cost one bcrypt comparison, not one each.
type Users struct {
	hashes map[string][]byte
	// dummy is compared for unknown users: a hash of the users' highest
	// cost, so timing doesn't tell which names exist.
	dummy      []byte
	appendOnly map[string]bool
	mu         sync.Mutex
	verified   map[string][32]byte
}

// ReadHtpasswd reads the users of an htpasswd file. Only bcrypt hashes
// ($2y$, $2a$, $2b$) are accepted: the older crypt, MD5 and SHA-1
// formats of htpasswd are too weak to keep.
func ReadHtpasswd(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	defer f.Close()
	u, err := ParseHtpasswd(f)
	if err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	return u, nil
}

// ParseHtpasswd reads htpasswd lines ("user:hash"; blank lines and
// lines starting with # are skipped).
func ParseHtpasswd(r io.Reader) (*Users, error) {
	u := &Users{hashes: map[string][]byte{}, appendOnly: map[string]bool{}, verified: map[string][32]byte{}}
	sc := bufio.NewScanner(r)
	line, maxCost := 0, 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, hash, ok := strings.Cut(l, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: want user:hash", line)
		}
		if !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
			return nil, fmt.Errorf("line %d: user %s: only bcrypt hashes are accepted (htpasswd -B)", line, name)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("line %d: user %s: %w", line, name, err)
		}
		maxCost = max(maxCost, cost)
		if _, dup := u.hashes[name]; dup {
			return nil, fmt.Errorf("line %d: user %s appears twice", line, name)
		}
		u.hashes[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	u.dummy = dummyHash
	if c, _ := bcrypt.Cost(dummyHash); maxCost > 0 && c != maxCost {
		d, err := bcrypt.GenerateFromPassword([]byte("cairn dummy password, never a real one"), maxCost)
		if err != nil {
			return nil, err
		}
		u.dummy = d
	}
	return u, nil
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.hashes) }

// SetAppendOnly makes user's access append-only.
func (u *Users) SetAppendOnly(user string) error {
	if _, ok := u.hashes[user]; !ok {
		return fmt.Errorf("append-only user %s is not in the htpasswd file", user)
	}
	u.appendOnly[user] = true
	return nil
}

// AppendOnly reports whether user's access is append-only.
func (u *Users) AppendOnly(user string) bool { return u.appendOnly[user] }

// Check reports whether pass is user's password.
func (u *Users) Check(user, pass string) bool {
	hash, ok := u.hashes[user]
	if !ok {
		// The same work as for a user that exists, so timing doesn't
		// tell which names do.
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(pass))
		return false
	}
	sum := sha256.Sum256([]byte(pass))
	u.mu.Lock()
	v, seen := u.verified[user]
	u.mu.Unlock()
	if seen && constantTimeEqual(v[:], sum[:]) {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return false
	}
	u.mu.Lock()
	u.verified[user] = sum
	u.mu.Unlock()
	return true
}

// dummyHash is a bcrypt hash of nothing anyone types, at the default cost.
var dummyHash = []byte("$2a$10$9kenI09OI8wsfB9Gi6QxaOfKMMrFgHFUHdiduXks5yzjq3Zquakmu")
