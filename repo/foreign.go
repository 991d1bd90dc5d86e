package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// ErrResticRepository means the location holds a restic repository. Its
// layout is cairn's (config, keys/, data/, index/, snapshots/, locks/)
// but not its formats, so without this check a restic repository asks
// for the password and then fails as if it were wrong.
var ErrResticRepository = errors.New("this is a restic repository, not a cairn one")

// errResticKey marks a key file that is restic's. Not
// ErrResticRepository: one such file in a cairn repository is junk.
var errResticKey = errors.New("a restic key file, not a cairn one")

// resticError is ErrResticRepository at a location, with what to do.
type resticError struct{ location string }

func (e *resticError) Error() string {
	return fmt.Sprintf("open repository %s: %v", e.location, ErrResticRepository)
}

func (e *resticError) Is(target error) bool { return target == ErrResticRepository }

// Hint says what helps.
func (e *resticError) Hint() string {
	return "cairn does not read restic repositories: use restic with it, or give --repo / CAIRN_REPOSITORY a cairn repository (`cairn init` makes one elsewhere)"
}

// isResticKey reports whether b is a restic key file: JSON with the scrypt
// KDF and its parameters, where cairn's say argon2id (restic's
// internal/repository/key.go).
func isResticKey(b []byte) bool {
	var k struct {
		KDF  string `json:"kdf"`
		N    int    `json:"N"`
		R    int    `json:"r"`
		P    int    `json:"p"`
		Salt []byte `json:"salt"`
		Data []byte `json:"data"`
	}
	return json.Unmarshal(b, &k) == nil && k.KDF == "scrypt" && k.N > 0 && k.R > 0 && k.P > 0 && len(k.Salt) > 0 && len(k.Data) > 0
}

// CheckFormat tells whether the repository at be is restic's, before a
// password is asked or a key derived. hint is the key file that opened
// the repository last time: key files are named by their content's
// SHA-256, so when it is still there this is that cairn repository, and
// a Stat shows it. Otherwise it reads the key files (small and not
// sealed) until one is cairn's: a location whose key files are all
// restic's (at least one, and none of cairn's, so a key file planted in a
// cairn repository can't make it refuse) gives ErrResticRepository. That
// is one listing and one small read for a cairn repository. What can't
// be read is left to Open to report.
func CheckFormat(ctx context.Context, be backend.Backend, hint string) error {
	if id, err := pack.ParseID(hint); err == nil && id.String() == hint {
		if _, err := be.Stat(ctx, backend.Handle{Type: backend.KeyFile, Name: hint}); err == nil {
			return nil
		}
	}
	var names []string
	if err := be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		if len(names) < MaxKeyFilesTried {
			names = append(names, fi.Name)
		}
		return nil
	}); err != nil {
		return ctx.Err()
	}
	restic := false
	for _, name := range names {
		_, err := loadKeyFile(ctx, be, name)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errResticKey):
			restic = true
		case ctx.Err() != nil:
			return ctx.Err()
		}
	}
	if restic {
		return &resticError{location: be.Location()}
	}
	return nil
}
