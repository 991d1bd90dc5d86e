//go:build !linux

package mountfs

import (
	"context"

	"github.com/cairn-backup/cairn/repo"
)

// Check reports that mounting is not supported here.
func Check(dir string) error {
	return ErrUnsupported
}

// Mount is supported on Linux only.
func Mount(ctx context.Context, s *repo.Session, dir string, o Options) (*Mounted, error) {
	return nil, Check(dir)
}

// Mounted is a mounted file system (never on this platform).
type Mounted struct{}

// Wait returns at once: nothing is mounted on this platform.
func (m *Mounted) Wait() {}

// Unmount does nothing on this platform.
func (m *Mounted) Unmount() error { return nil }
