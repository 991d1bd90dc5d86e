package archiver

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// cacheTagSignature starts a valid CACHEDIR.TAG (bford.info/cachedir).
const cacheTagSignature = "Signature: 8a477f597d28d172789f06886806bc55"

// markerNames returns, for a directory whose listing contains a cache tag
// (with ExcludeCaches) or a name given to ExcludeIfPresent, the marker
// files to keep; the rest of the directory is excluded, as restic does.
// It returns nil when the directory is backed up normally.
func (o *Options) markerNames(dir string, names []string) []string {
	var keep []string
	if o.ExcludeCaches && slices.Contains(names, "CACHEDIR.TAG") && validCacheTag(filepath.Join(dir, "CACHEDIR.TAG")) {
		keep = append(keep, "CACHEDIR.TAG")
	}
	for _, m := range o.ExcludeIfPresent {
		if slices.Contains(names, m) && !slices.Contains(keep, m) {
			keep = append(keep, m)
		}
	}
	return keep
}

func validCacheTag(p string) bool {
	f, err := openFile(p, os.O_RDONLY)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(cacheTagSignature))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	return bytes.Equal(buf, []byte(cacheTagSignature))
}

// listDir returns the sorted names of directory p to back up, after the
// marker rules; excludes by pattern are applied by the caller.
func (o *Options) listDir(p string) ([]string, error) {
	f, err := openFile(p, os.O_RDONLY|oDirectory)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if keep := o.markerNames(p, names); keep != nil {
		names = keep
	}
	slices.Sort(names)
	return names, err
}
