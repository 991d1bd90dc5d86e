//go:build unix

package profile

import (
	"os"
	"syscall"
)

// tryLockFile takes an exclusive lock on f without waiting; the kernel
// releases it when the process ends, however it ends.
func tryLockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
