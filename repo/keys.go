package repo

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/crypto"
)

// KeyInfo describes a key file.
type KeyInfo struct {
	ID       string    `json:"id"`
	Current  bool      `json:"current"`
	Username string    `json:"username"`
	Hostname string    `json:"hostname"`
	Created  time.Time `json:"created"`
	// Error says why a key file can't be read (junk planted in keys/,
	// a file too large); it is listed, not fatal.
	Error string `json:"error,omitempty"`
}

// List returns the key files of the repository.
func (ks *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	r := ks.r
	var names []string
	if err := r.be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []KeyInfo
	for _, n := range names {
		kf, err := loadKeyFile(ctx, r.be, n)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			out = append(out, KeyInfo{ID: n, Error: err.Error()})
			continue
		}
		out = append(out, KeyInfo{ID: n, Current: n == r.keyID, Username: kf.Username, Hostname: kf.Hostname, Created: kf.Created})
	}
	return out, nil
}

// Add adds a key file for password and returns its ID.
func (ks *Keys) Add(ctx context.Context, password string, p crypto.KDFParams) (string, error) {
	r := ks.r
	if password == "" {
		return "", fmt.Errorf("add key: empty password")
	}
	if p == (crypto.KDFParams{}) {
		p = crypto.DefaultKDF
	}
	return r.saveKeyFile(ctx, password, p, r.Now())
}

// Remove removes the key file id. The key in use can't be removed.
func (ks *Keys) Remove(ctx context.Context, id string) error {
	r := ks.r
	if id == r.keyID {
		return fmt.Errorf("remove key %s: it is the key in use; open the repository with another password to remove it", shortName(id))
	}
	if _, err := loadKeyFile(ctx, r.be, id); err != nil {
		return fmt.Errorf("remove key: %w", err)
	}
	return r.be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: id})
}

// ChangePassword writes a key file for the new password, then removes the
// one in use, so a crash in between leaves both passwords working.
func (ks *Keys) ChangePassword(ctx context.Context, password string, p crypto.KDFParams) (string, error) {
	r := ks.r
	if err := r.requireRemovable("key passwd"); err != nil {
		return "", err
	}
	old := r.keyID
	id, err := r.Keys().Add(ctx, password, p)
	if err != nil {
		return "", err
	}
	r.keyID = id
	if err := r.be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: old}); err != nil {
		return id, fmt.Errorf("remove old key %s: %w", shortName(old), err)
	}
	return id, nil
}

// Find resolves a key ID prefix.
func (ks *Keys) Find(ctx context.Context, prefix string) (string, error) {
	r := ks.r
	id, err := r.FindID(ctx, backend.KeyFile, prefix)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

func shortName(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
