package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-backup/cairn/repo/backend"
)

// AddMirror lists m in the config as a copy target. self is this
// repository's own location. A location with a password in it is
// refused: the config is readable by every key holder, and a server's
// password belongs in the environment or a local file.
func (r *Repository) AddMirror(ctx context.Context, m Mirror, self string) error {
	if err := r.CheckMirror(m, self); err != nil {
		return err
	}
	return r.UpdateConfig(ctx, func(c *Config) error {
		c.Mirrors = append(c.Mirrors, m)
		return nil
	})
}

// CheckMirror says why m can't be added as a mirror, if it can't.
func (r *Repository) CheckMirror(m Mirror, self string) error {
	switch {
	case m.Location == self:
		return errors.New("mirror add: a repository can't be its own mirror")
	case backend.HasPassword(m.Location):
		return fmt.Errorf("mirror add: %s has a password in it, which would be stored in the repository's config: give the server's password through the environment (CAIRN_REST_PASSWORD) or an -o …password-file option instead", backend.Redact(m.Location))
	case slices.ContainsFunc(r.Config().Mirrors, func(x Mirror) bool { return x.Location == m.Location }):
		return fmt.Errorf("mirror add: %s is already a mirror", m.Location)
	}
	return nil
}
