package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type restoreOptions struct {
	filterOptions
	target             string
	include, exclude   []string
	iinclude, iexclude []string
	overwrite          string
	delete             bool
	dryRun             bool
	verify             bool
	numericOwner       bool
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT[:PATH] --target DIR",
		Short: "Restore a snapshot or a part of it",
		Long: `Restore a snapshot, or the subtree at PATH, into DIR.

With --include, only the matching paths are restored, with the
directories that lead to them (and their metadata); no other directory.

Into a non-empty target, --overwrite decides what happens to files that
exist: always (default), if-changed (keep files whose size and content
already match, and in a file of several chunks write only the chunks that
differ: an interrupted restore run again resumes, inside large files too),
if-newer, never.
Files left in place are counted as unchanged when they match the
snapshot, as kept when they differ. --delete removes what the target
holds but the snapshot does not.

Exit code 3 means some files could not be restored (each is reported on
stderr); 13 means the repository is damaged.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.target, "target", "t", "", "restore into `directory`")
	f.StringArrayVarP(&o.include, "include", "i", nil, "restore only paths matching `pattern` (repeatable)")
	f.StringArrayVarP(&o.exclude, "exclude", "e", nil, "don't restore paths matching `pattern` (repeatable)")
	f.StringArrayVar(&o.iinclude, "iinclude", nil, "like --include, ignoring case")
	f.StringArrayVar(&o.iexclude, "iexclude", nil, "like --exclude, ignoring case")
	f.StringVar(&o.overwrite, "overwrite", "always", "for existing files: always, if-changed, if-newer or never")
	f.BoolVar(&o.delete, "delete", false, "delete files in the target that are not in the snapshot")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "list what would be done, change nothing")
	f.BoolVar(&o.verify, "verify", false, "read every restored file back and check it against the snapshot")
	f.BoolVar(&o.numericOwner, "numeric-owner", false, "restore uid/gid numbers instead of mapping user and group names")
	o.filterOptions.addFlags(cmd)
	return cmd
}

func combineMatchers(pats, ipats []string) (*snapshot.Matcher, error) {
	if len(pats) > 0 && len(ipats) > 0 {
		return nil, errors.New("use a pattern flag or its case-insensitive form, not both")
	}
	if len(ipats) > 0 {
		return snapshot.NewMatcher(ipats, true)
	}
	return snapshot.NewMatcher(pats, false)
}

func runRestore(cmd *cobra.Command, g *globalOptions, o restoreOptions, arg string) error {
	ctx := cmd.Context()
	if o.target == "" {
		return &exitError{code: exitFatal, err: errors.New("restore: no target directory given"), hint: "pass --target DIR"}
	}
	inc, err := combineMatchers(o.include, o.iinclude)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	exc, err := combineMatchers(o.exclude, o.iexclude)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ow, err := restorer.ParseOverwrite(o.overwrite)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The session reads from packs that exist: copies of a blob in a lost
	// pack are skipped for others (e.g. stored again by a later backup).
	return g.withSession(ctx, reading("restore"), func(ctx context.Context, s *repo.Session) error {
		return restoreInSession(ctx, g, o, s.Repository(), arg, inc, exc, ow)
	})
}

func restoreInSession(ctx context.Context, g *globalOptions, o restoreOptions, r *repo.Repository, arg string, inc, exc *snapshot.Matcher, ow restorer.Overwrite) error {
	ref, p := snapshot.SplitRef(arg)
	sn, err := snapshot.Find(ctx, r, ref, o.filter())
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var damaged bool
	opts := restorer.Options{Include: inc, Exclude: exc, Overwrite: ow, Delete: o.delete, DryRun: o.dryRun,
		Verify: o.verify, NumericOwner: o.numericOwner,
		OnError: func(p string, err error) {
			mu.Lock()
			defer mu.Unlock()
			damaged = damaged || errors.Is(err, repo.ErrDamaged)
			g.clearProgress()
			if g.json {
				g.stderrJSON(backupError{MessageType: "error", Error: jsonMessage{err.Error()}, During: "restore", Item: p})
				return
			}
			g.warnf("error: restore %s: %v\n", p, err)
		}}
	if o.dryRun || g.verbose > 1 {
		opts.OnAction = func(action, p string) {
			if action == "verified" && !o.dryRun {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if g.json {
				_ = jsonOut(g, map[string]string{"message_type": "action", "action": action, "path": p})
			} else {
				g.printf("%-8s %s\n", action, p)
			}
		}
	}
	stop := g.startRestoreProgress(&opts)
	st, err := restorer.Restore(ctx, r, sn, p, o.target, opts)
	stop()
	if err != nil && !errors.Is(err, restorer.ErrPartial) {
		return err
	}
	if g.json {
		if jerr := jsonOut(g, map[string]any{"message_type": "summary", "files_restored": st.Files,
			"dirs_restored": st.Dirs, "bytes_restored": st.Bytes, "files_skipped": st.Skipped,
			"files_kept": st.Kept, "files_deleted": st.Deleted, "files_verified": st.Verified, "errors": st.Errors, "dry_run": o.dryRun}); jerr != nil {
			return jerr
		}
	} else {
		verb := "restored"
		if o.dryRun {
			verb = "would restore"
		}
		g.printf("%s %d files, %d dirs, %s from snapshot %s to %s", verb, st.Files, st.Dirs, formatBytes(st.Bytes), sn.ID().Short(), o.target)
		if st.Skipped > 0 {
			g.printf(", %d unchanged skipped", st.Skipped)
		}
		if st.Kept > 0 {
			g.printf(", %d kept (they differ, not overwritten)", st.Kept)
		}
		if st.Deleted > 0 {
			g.printf(", %d deleted", st.Deleted)
		}
		if o.verify {
			g.printf(", %d verified", st.Verified)
		}
		g.printf("\n")
	}
	if err != nil {
		if damaged {
			return &exitError{code: exitDamage, err: fmt.Errorf("restore: %w: some data is damaged", err),
				hint: "run `cairn check --read-data` to see what is damaged, then `cairn repair packs ID…` and `cairn repair snapshots`"}
		}
		return err
	}
	return nil
}

// startRestoreProgress shows a progress line on a terminal while a restore
// runs; it returns the function that stops it.
func (g *globalOptions) startRestoreProgress(opts *restorer.Options) func() {
	terminal := g.env.StdoutIsTerminal != nil && g.env.StdoutIsTerminal()
	if g.quiet || g.json || !terminal || opts.DryRun {
		return func() {}
	}
	p := &restorer.Progress{}
	opts.Progress = p
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			s := archiver.Status{Elapsed: time.Since(start), FilesDone: p.FilesDone.Load(), BytesDone: p.BytesDone.Load(),
				TotalFiles: p.TotalFiles.Load(), TotalBytes: p.TotalBytes.Load(), ScanDone: true}
			if s.TotalBytes > 0 {
				s.PercentDone = min(1, float64(s.BytesDone)/float64(s.TotalBytes))
				if s.BytesDone > 0 && s.PercentDone < 1 {
					s.ETA = time.Duration(float64(s.TotalBytes-s.BytesDone) / (float64(s.BytesDone) / s.Elapsed.Seconds()) * float64(time.Second))
				}
			}
			select {
			case <-done:
				g.showProgress(s, true)
				return
			case <-t.C:
				g.showProgress(s, false)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
