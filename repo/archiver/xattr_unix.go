//go:build unix

package archiver

import (
	"errors"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

// readXattrs returns the extended attributes of p (not following a
// symlink), sorted by name. A filesystem without xattr support has none.
func readXattrs(long string) ([]snapshot.Xattr, error) {
	p, done, err := shortPath(long)
	if err != nil {
		return nil, err
	}
	defer done()
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if err == nil || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, nil
		}
		return nil, err
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var out []snapshot.Xattr
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vsize, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			if errors.Is(err, errNoAttr) {
				continue // removed meanwhile
			}
			return nil, err
		}
		val := make([]byte, vsize)
		vn, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			return nil, err
		}
		out = append(out, snapshot.Xattr{Name: name, Value: val[:vn]})
	}
	slices.SortFunc(out, func(a, b snapshot.Xattr) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
