package checker

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
)

// tempFiles warns of each temporary file in the repository: left by an
// interrupted write (a killed backup), or belonging to a write in progress.
// Either way no index or snapshot refers to it, so it is not damage; prune
// removes it once it is older than the grace period.
func (c *checker) tempFiles(ctx context.Context) error {
	now := c.o.Now()
	err := backend.ListTemp(ctx, c.r.Backend(), func(f backend.TempFile) error {
		age := "at an unknown time"
		if !f.ModTime.IsZero() {
			age = max(now.Sub(f.ModTime), 0).Truncate(time.Second).String() + " ago"
		}
		c.warn("temp", f.Path, fmt.Sprintf("%d bytes, last written %s by an interrupted write or one still running; nothing refers to it, and `cairn prune` removes it once it is older than --grace", f.Size, age))
		return nil
	})
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	return nil
}
