package archiver

import (
	"errors"
	"io/fs"
	"os"
)

// realPath puts p back into the path of an error about its short name.
func realPath(err error, p string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path != p {
		return &fs.PathError{Op: pe.Op, Path: p, Err: pe.Err}
	}
	return err
}

func lstat(p string) (fs.FileInfo, error) {
	sp, done, err := shortPath(p)
	if err != nil {
		return nil, err
	}
	defer done()
	fi, err := os.Lstat(sp)
	return fi, realPath(err, p)
}

func readlink(p string) (string, error) {
	sp, done, err := shortPath(p)
	if err != nil {
		return "", err
	}
	defer done()
	t, err := os.Readlink(sp)
	return t, realPath(err, p)
}
