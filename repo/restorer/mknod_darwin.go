package restorer

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mknodAt: macOS has no mknodat or mkfifoat, and a path-based mknod could
// be sent outside the target by a directory swapped meanwhile, so device
// nodes and FIFOs are reported, not restored.
func mknodAt(_ int, name string, mode uint32, _ uint64) error {
	return fmt.Errorf("%s: device nodes and FIFOs are not restored on macOS (no mknodat): %w", name, unix.ENOTSUP)
}
