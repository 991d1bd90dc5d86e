package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
)

// session says what a command needs of the repository. Commands make
// one with reading, writing, exclusive or unlocked, the only ways a
// command opens a repository for a session, and pass it to withSession.
type session struct {
	lock repo.LockMode
	// index loads the index (after the lock); keepMissing keeps the
	// entries of packs that are gone, for the commands that report them.
	index, keepMissing bool
	dryRun             bool
	command            string
}

// reading is a session for a command that only reads: a shared lock and
// the index.
func reading(command string) session {
	return session{lock: repo.SharedLock, index: true, command: command}
}

// writing is a session for a command that adds files and removes none
// (backup, parity update): a shared lock and the index.
func writing(command string) session {
	return session{lock: repo.SharedLock, index: true, command: command}
}

// exclusive is a session for a command that removes or replaces files:
// the exclusive lock, without the index unless indexed asks for it.
func exclusive(command string) session {
	return session{lock: repo.ExclusiveLock, command: command}
}

// unlocked is a session without a lock or index, for reading files that
// are never removed while in use (config, keys, locks, a snapshot file).
func unlocked(command string) session { return session{command: command} }

// indexed sets whether the index is loaded.
func (s session) indexed(on bool) session { s.index = on; return s }

// keepingMissing keeps the index entries of packs that are gone.
func (s session) keepingMissing() session { s.keepMissing = true; return s }

// dryRunning opens the blob store in dry-run mode when on.
func (s session) dryRunning(on bool) session { s.dryRun = on; return s }

// withSession opens the repository and runs fn in a library session: the
// lock first (waiting up to --retry-lock), then the index. fn runs under
// the session's context, which is cancelled when the lock is lost; the
// lock is released after.
func (g *globalOptions) withSession(ctx context.Context, need session, fn func(ctx context.Context, s *repo.Session) error) error {
	r, err := g.openRepoWith(ctx, need.dryRun)
	if err != nil {
		return err
	}
	return g.inSession(ctx, r, need, fn)
}

// inSession runs fn in a session on the opened repository r.
func (g *globalOptions) inSession(ctx context.Context, r *repo.Repository, need session, fn func(ctx context.Context, s *repo.Session) error) error {
	return g.sessions().Do(ctx, r, need.lock, need.index, need.keepMissing, need.command, fn)
}

// sessions are the library's sessions with --retry-lock and the
// warnings of this command.
func (g *globalOptions) sessions() job.Sessions {
	return job.Sessions{Retry: g.retryLock,
		OnNotice: func(s string) { g.warnf("notice: %s\n", s) },
		OnMissingPacks: func(ids []pack.ID) {
			g.warnf("warning: %d packs named by the index are missing (%s%s); their blobs count as absent (run `cairn check`, then `cairn repair index`)\n",
				len(ids), ids[0].Short(), moreThanOne(len(ids)))
		}}
}

func moreThanOne(n int) string {
	if n > 1 {
		return fmt.Sprintf(" and %d more", n-1)
	}
	return ""
}

// unlockResult is the JSON shape of `unlock`.
type unlockResult struct {
	Removed []lockView `json:"removed"`
	Kept    []lockView `json:"kept"`
}

// lockView is a lock as `unlock --json` shows it.
type lockView struct {
	repo.LockInfo
	File       string  `json:"file"`
	Unreadable string  `json:"unreadable,omitempty"`
	AgeSeconds float64 `json:"age_seconds"`
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
			r, err := g.openRepo(ctx)
			if err != nil {
				return err
			}
			out := unlockResult{Removed: []lockView{}, Kept: []lockView{}}
			view := func(l repo.LockInfo) lockView {
				return lockView{LockInfo: l, File: l.File, Unreadable: l.Unreadable, AgeSeconds: r.Now().Sub(l.Time).Round(time.Second).Seconds()}
			}
			err = r.Locks().Unlock(ctx, all, hostname(),
				func(l repo.LockInfo) { out.Removed = append(out.Removed, view(l)); g.printf("removed %s\n", l) },
				func(l repo.LockInfo) {
					out.Kept = append(out.Kept, view(l))
					g.printf("kept %s, %s old\n", l, r.Now().Sub(l.Time).Round(time.Second))
				})
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(g, out)
			}
			g.printf("%d locks removed\n", len(out.Removed))
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "remove-all", false, "remove every lock, stale or not")
	return cmd
}
