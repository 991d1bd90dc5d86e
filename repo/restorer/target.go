package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// errOutside means a path is not below the target.
var errOutside = errors.New("not inside the restore target")

// rel returns p relative to the target ("" for the target itself).
func (t *target) rel(p string) (string, error) {
	if p == t.root {
		return "", nil
	}
	r, ok := strings.CutPrefix(p, t.root+string(filepath.Separator))
	if !ok || r == "" {
		return "", fmt.Errorf("%s: %w", p, errOutside)
	}
	return r, nil
}

// stat is what the restorer needs of an existing object.
type stat struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
	rdev  uint64
}

// unixMode is m as POSIX mode bits (permissions, setuid, setgid, sticky),
// for chmod and for tar headers.
func unixMode(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
