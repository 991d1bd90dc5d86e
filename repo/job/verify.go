package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// VerifyResult is what a verification read back.
type VerifyResult struct {
	Files          int   `json:"files"`
	Bytes          int64 `json:"bytes"`
	SkippedChanged int   `json:"skipped_changed"`
	Of             int   `json:"of"`
}

// DiffersError says a file in a snapshot is not the file it was made
// from: the repository returned other bytes than were backed up.
type DiffersError struct {
	Path     string
	Snapshot pack.ID
}

func (e *DiffersError) Error() string {
	return fmt.Sprintf("verify: %s in snapshot %s differs from the source", e.Path, e.Snapshot.Short())
}

// ExitStatus is ExitDamage.
func (e *DiffersError) ExitStatus() int { return ExitDamage }

// Verify reads back a share (0 to 1, at least one file) of the regular
// files of snapshot sn from r and compares them with the source files;
// files changed since the backup are passed over. The sample depends on
// the snapshot's ID: a different one each snapshot, the same on a rerun.
func Verify(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, share float64) (*VerifyResult, error) {
	type file struct {
		path string
		node *snapshot.Node
	}
	var files []file
	if err := snapshot.Walk(ctx, r, sn.Tree, "/", func(p string, n *snapshot.Node) error {
		if n.Type == snapshot.TypeFile {
			files = append(files, file{p, n})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	res := &VerifyResult{Of: len(files)}
	want := max(1, int(float64(len(files))*share+0.999999))
	for _, i := range sampleOrder(sn.ID(), len(files)) {
		if res.Files == want {
			break
		}
		f := files[i]
		fi, err := os.Lstat(f.path)
		if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != f.node.Size || !fi.ModTime().Equal(f.node.ModTime) {
			res.SkippedChanged++
			continue
		}
		same, n, err := sameContent(ctx, r, f.node, f.path)
		if err != nil {
			if errors.Is(err, repo.ErrDamaged) {
				return res, fmt.Errorf("verify %s: %w", f.path, err)
			}
			res.SkippedChanged++
			continue
		}
		if !same {
			return res, &DiffersError{Path: f.path, Snapshot: sn.ID()}
		}
		res.Files++
		res.Bytes += n
	}
	return res, nil
}

// sampleOrder is a permutation of 0..n-1 drawn from seed.
func sampleOrder(seed pack.ID, n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int((uint64(seed[i%32])<<8 | uint64(seed[(i*7)%32])) % uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	return order
}

// sameContent compares a file's content in the repository with the file.
func sameContent(ctx context.Context, r *repo.Repository, n *snapshot.Node, path string) (bool, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	var buf, disk []byte
	var total int64
	for _, id := range n.Content {
		buf, err = r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, buf[:0])
		if err != nil {
			return false, total, err
		}
		disk = slices.Grow(disk[:0], len(buf))[:len(buf)]
		if _, err := io.ReadFull(f, disk); err != nil {
			return false, total, nil
		}
		if !bytes.Equal(buf, disk) {
			return false, total, nil
		}
		total += int64(len(buf))
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k != 0 {
		return false, total, nil
	}
	return true, total, nil
}
