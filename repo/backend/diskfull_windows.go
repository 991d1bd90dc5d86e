package backend

import (
	"errors"

	"golang.org/x/sys/windows"
)

// diskFull reports a full, over-quota or read-only disk.
func diskFull(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) ||
		errors.Is(err, windows.ERROR_DISK_QUOTA_EXCEEDED) || errors.Is(err, windows.ERROR_WRITE_PROTECT)
}
