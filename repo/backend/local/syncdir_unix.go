//go:build unix

package local

import (
	"errors"
	"os"
)

// syncDir makes the names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some filesystems don't support syncing a directory.
	if errors.Is(err, os.ErrInvalid) {
		return nil
	}
	return err
}
