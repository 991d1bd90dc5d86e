package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/mountfs"
)

func newMountCommand(g *globalOptions) *cobra.Command {
	var o mountfs.Options
	cmd := &cobra.Command{
		Use:   "mount DIR",
		Short: "Browse the snapshots as a read-only file system (FUSE, Linux)",
		Long: `Mount the repository read-only at DIR (FUSE; Linux, with fuse3 installed):

  DIR/snapshots/<time>/…         every snapshot by its time
  DIR/hosts/<host>/<time>/…      by host
  DIR/tags/<tag>/<time>/…        by tag
  DIR/ids/<short id>/…           by ID

Each of these directories has a latest symlink to its newest snapshot.
Files are read on demand, only the data a read touches; new snapshots
appear within a few seconds. The mount holds a shared lock, so prune and
forget wait until it ends. Ctrl-C or SIGTERM unmounts and exits 0; so does
` + "`fusermount3 -u DIR`" + ` from another shell.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			// Before the password is asked.
			if err := mountfs.Check(dir); err != nil {
				e := &exitError{code: exitFatal, err: fmt.Errorf("mount %s: %w", dir, err)}
				if errors.Is(err, mountfs.ErrNoFUSE) {
					e.hint = "install fuse3 (Debian: apt-get install fuse3) and make sure /dev/fuse exists (modprobe fuse)"
				}
				return e
			}
			o.OnError = func(err error) { g.warnf("warning: %v\n", err) }
			signalled := cmd.Context()
			return g.withSession(signalled, reading("mount"), func(ctx context.Context, s *repo.Session) error {
				return runMount(ctx, signalled, g, s, dir, o)
			})
		},
	}
	cmd.Flags().BoolVar(&o.AllowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf unless root)")
	cmd.Flags().BoolVar(&o.OwnerRoot, "owner-root", false, "show every file as owned by root")
	return cmd
}

// runMount mounts, then waits for an unmount from outside, a signal
// (unmount, exit 0, as serve does) or a lost lock (unmount, exit 11).
func runMount(ctx, signalled context.Context, g *globalOptions, s *repo.Session, dir string, o mountfs.Options) error {
	m, err := mountfs.Mount(ctx, s, dir, o)
	if err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	if g.json {
		g.stderrJSON(struct {
			MessageType string `json:"message_type"`
			Mountpoint  string `json:"mountpoint"`
		}{"mounted", dir})
	} else {
		g.warnf("mounted at %s: snapshots/, hosts/, tags/, ids/; Ctrl-C or `fusermount3 -u %s` unmounts\n", dir, dir)
	}
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	uerr := m.Unmount()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	if uerr != nil {
		return uerr
	}
	if signalled.Err() != nil {
		return nil
	}
	return s.Err(context.Cause(ctx))
}
