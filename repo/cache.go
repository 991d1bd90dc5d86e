package repo

import (
	"context"
	"errors"

	"github.com/cairn-backup/cairn/repo/backend/cache"
)

// SetCache puts the local cache d in front of the repository's storage
// (nil: no cache). It must be called before Begin: the session's guard
// wraps whatever backend is in place then.
func (r *Repository) SetCache(d *cache.Dir) error {
	if r.session != nil {
		return errors.New("set cache: a session has begun")
	}
	if d == nil {
		return nil
	}
	r.cache = d.Wrap(r.raw)
	r.raw = r.cache
	r.be = &guarded{Backend: r.raw}
	return nil
}

// PruneCache drops cached copies of files the repository no longer has
// (after prune or repair).
func (r *Repository) PruneCache(ctx context.Context) error {
	if r.cache == nil {
		return nil
	}
	return r.cache.Prune(ctx)
}
