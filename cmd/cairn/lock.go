package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
)

// lockRepo takes a shared or exclusive lock for the command, waiting up to
// --retry-lock. The returned function releases it.
func (g *globalOptions) lockRepo(ctx context.Context, r *repo.Repository, exclusive bool, command string) (*repo.Locker, func(), error) {
	lk, err := r.Lock(ctx, repo.LockOptions{Exclusive: exclusive, Retry: g.retryLock, Command: command,
		OnNotice: func(s string) { g.warnf("notice: %s\n", s) }})
	if err != nil {
		var le *repo.LockedError
		if errors.As(err, &le) {
			return nil, nil, &exitError{code: exitLocked, err: err,
				hint: "wait for it (--retry-lock 10m), or run `cairn unlock` if no other cairn process is running"}
		}
		return nil, nil, err
	}
	return lk, func() { _ = lk.Unlock(context.WithoutCancel(ctx)) }, nil
}

func newUnlockCommand(g *globalOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove stale locks (--remove-all: every lock)",
		Long: `Remove locks that are stale: not refreshed for 30 minutes, or held on this
host by a process that is gone. --remove-all removes every lock; use it only
when no other cairn process can be running on any host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo(ctx, false)
			if err != nil {
				return err
			}
			locks, err := r.Locks(ctx)
			if err != nil {
				return err
			}
			host := hostname()
			removed := 0
			for _, l := range locks {
				if !all && !l.Stale(r.Now(), host) {
					g.printf("kept %s, %s old\n", l, r.Now().Sub(l.Time).Round(time.Second))
					continue
				}
				if err := r.RemoveLock(ctx, l.ID); err != nil {
					return err
				}
				removed++
				g.printf("removed %s\n", l)
			}
			g.printf("%d locks removed\n", removed)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "remove-all", false, "remove every lock, stale or not")
	return cmd
}
