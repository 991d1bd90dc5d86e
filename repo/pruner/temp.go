package pruner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/cairn-backup/cairn/repo/backend"
)

// TempFiles is what a prune did (or, with DryRun, would do) with the
// temporary files that interrupted writes (a killed backup) left in the
// repository.
type TempFiles struct {
	Removed      int   `json:"removed"`
	RemovedBytes int64 `json:"removed_bytes"`
	// Young files were written inside the grace period: they may belong
	// to a write in progress on a host whose lock we can't see.
	Young      int   `json:"young_kept"`
	YoungBytes int64 `json:"young_kept_bytes"`
}

// removeTemp removes the temporary files last written before the grace
// period, the way stale orphaned packs are removed, after o.BeforeDelete
// (the lock check) allows it. A file gone meanwhile (renamed into place by
// its writer, or removed by another prune) is not counted.
func removeTemp(ctx context.Context, be backend.Backend, o Options) (TempFiles, error) {
	var res TempFiles
	var old []backend.TempFile
	now := o.Now()
	err := backend.ListTemp(ctx, be, func(f backend.TempFile) error {
		if o.Grace > 0 && !f.ModTime.IsZero() && now.Sub(f.ModTime) < o.Grace {
			res.Young++
			res.YoungBytes += f.Size
			return nil
		}
		old = append(old, f)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	if o.DryRun {
		for _, f := range old {
			res.Removed++
			res.RemovedBytes += f.Size
		}
		return res, nil
	}
	if len(old) > 0 && o.BeforeDelete != nil {
		if err := o.BeforeDelete(ctx); err != nil {
			return res, err
		}
	}
	for _, f := range old {
		err := backend.RemoveTemp(ctx, be, f.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		res.Removed++
		res.RemovedBytes += f.Size
	}
	return res, nil
}
