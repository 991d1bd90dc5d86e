//go:build unix

package repo

import (
	"errors"
	"syscall"
)

// processExists reports whether process pid runs on this host (one we
// may not signal still exists).
func processExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
