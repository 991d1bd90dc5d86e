//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/repo"
)

// TestExitCodeClasses: only damage is 13. A cancellation is 130 and a lost
// lock 11 whatever failed on the way (a cancelled tree load is wrapped in
// the error of the work it stopped), and a storage failure is 1.
func TestExitCodeClasses(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	storage := &fs.PathError{Op: "read", Path: "data/ab/abcd", Err: syscall.ECONNRESET}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"damage", context.Background(), fmt.Errorf("load tree 1a2b: %w: hash mismatch", repo.ErrDamaged), exitDamage},
		{"storage failure after retries", context.Background(), fmt.Errorf("load tree 1a2b: %w", storage), exitFatal},
		{"cancelled load", context.Background(), fmt.Errorf("load tree 1a2b: %w", context.Canceled), exitInterrupted},
		{"cancelled context, damage-looking error", cancelled, fmt.Errorf("walk: %w: short read", repo.ErrDamaged), exitInterrupted},
		{"lost lock, then cancelled", cancelled, errors.Join(fmt.Errorf("%w: not refreshed", repo.ErrLockLost), context.Canceled), exitLocked},
		{"lost lock wrapped in damage", context.Background(), fmt.Errorf("%w: %w", repo.ErrDamaged, repo.ErrLockLost), exitLocked},
		{"wrong password", context.Background(), fmt.Errorf("open: %w", repo.ErrWrongPassword), exitWrongPass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := exitCode(tt.ctx, tt.err); got != tt.want {
				t.Fatalf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
