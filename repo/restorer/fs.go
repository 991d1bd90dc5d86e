package restorer

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"sync"
	"unsafe"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// createSized creates (or truncates) a file and sets its final size, so
// pieces can be written at their offsets in any order; what is never
// written stays a hole. It returns the open file.
func (t *target) createSized(p string, size int64) (*os.File, error) {
	f, err := t.create(p)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openSized opens the existing regular file p for writing, as it is (a
// symlink in its place is not followed), and gives it size bytes.
func (t *target) openSized(p string, size int64) (*os.File, error) {
	f, err := t.openFile(p, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// writeWhole creates p with data (its whole content, of size bytes) and
// its metadata through one descriptor.
func (t *target) writeWhole(p string, data []byte, size int64, n *snapshot.Node, o *owners) error {
	f, err := t.create(p)
	if err != nil {
		return err
	}
	end, err := writeSparse(f, data, 0)
	if err == nil && end < size {
		// Trailing zeros were left out: the size makes them a hole.
		err = f.Truncate(size)
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := setFileMetadata(f, n, o); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	return f.Close()
}

const holeBlock = 4096

// writeSparse writes data at off, skipping aligned all-zero blocks, so
// they stay holes (the file is already that long, or is made so after).
// It returns the end of the last byte written (off if none).
func writeSparse(f *os.File, data []byte, off int64) (int64, error) {
	end := off
	start := -1 // start of the pending non-zero run
	for i := 0; i < len(data); i += holeBlock {
		stop := min(i+holeBlock, len(data))
		if isZero(data[i:stop]) {
			if start >= 0 {
				if _, err := f.WriteAt(data[start:i], off+int64(start)); err != nil {
					return end, err
				}
				end = off + int64(i)
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		if _, err := f.WriteAt(data[start:], off+int64(start)); err != nil {
			return end, err
		}
		end = off + int64(len(data))
	}
	return end, nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if *(*uint64)(unsafe.Pointer(&b[0])) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (t *target) pwriteFile(p string, data []byte, off int64, sparse bool) error {
	f, err := t.openFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if sparse {
		_, err = writeSparse(f, data, off)
	} else {
		_, err = f.WriteAt(data, off)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// owners maps recorded user and group names to this system's IDs (as
// restic and tar do), falling back to the recorded numbers.
type owners struct {
	numeric bool
	root    bool
	mu      sync.Mutex
	users   map[string]int
	groups  map[string]int
}

func newOwners(numeric bool) owners {
	return owners{numeric: numeric, root: os.Geteuid() == 0, users: map[string]int{}, groups: map[string]int{}}
}

func (o *owners) ids(n *snapshot.Node) (int, int) {
	uid, gid := int(n.UID), int(n.GID)
	if o.numeric {
		return uid, gid
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if n.User != "" {
		id, ok := o.users[n.User]
		if !ok {
			id = -1
			if u, err := user.Lookup(n.User); err == nil {
				id, _ = strconv.Atoi(u.Uid)
			}
			o.users[n.User] = id
		}
		if id >= 0 {
			uid = id
		}
	}
	if n.Group != "" {
		id, ok := o.groups[n.Group]
		if !ok {
			id = -1
			if g, err := user.LookupGroup(n.Group); err == nil {
				id, _ = strconv.Atoi(g.Gid)
			}
			o.groups[n.Group] = id
		}
		if id >= 0 {
			gid = id
		}
	}
	return uid, gid
}
