//go:build unix

package backend

import (
	"errors"
	"syscall"
)

// diskFull reports a full, over-quota or read-only disk.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT)
}
