package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/profile"
)

type runOptions struct {
	time  string
	level string
}

func newRunCommand(g *globalOptions) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run PROFILE",
		Short: "Run a profile's nightly job: hooks, backup, retention, prune, copies, checks",
		Long: `Run everything a profile of the configuration file asks for, under one run
ID, as cron or a systemd timer would (see "cairn schedule"):

  before hook → backup at the level the schedule gives (--level overrides)
  → verify a sample of the new snapshot against the source
  → retention (keep = …) on every run → prune when due (prune = "weekly")
  → copy new snapshots to the mirrors → check a rotating share of the
  repository (check-window) → after / on-success / on-failure hooks

A step's failure skips the steps that depend on it (verify needs the
backup; retention needs a backup; prune needs retention) but not the others.
The exit code is the worst step's. A JSON report is appended to
report-file (printed with --json), metrics are written to metrics-file,
and hooks get CAIRN_RUN_STATUS, CAIRN_EXIT_CODE, CAIRN_SNAPSHOT_ID,
CAIRN_RUN_ID, CAIRN_PROFILE, CAIRN_BACKUP_LEVEL and CAIRN_ERRORS; the last
4 KiB of a hook's output are in the report, and a failing hook's output goes
to stderr even with --quiet. The before hook runs only once the repository
is open. Two runs of one profile never overlap: the second exits with 11.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProfile(cmd.Context(), g, o, args[0])
		},
	}
	cmd.Flags().StringVar(&o.time, "time", "", "the run's reference `time` (backfills, tests): the snapshot's time, the schedule's and retention's now")
	cmd.Flags().StringVar(&o.level, "level", "", "override the schedule: full, differential or incremental")
	return cmd
}

// runProfile parses the run's options, takes the profile's run lock,
// opens the repository once (one key derivation for every step), runs
// the library's job and renders its report.
func runProfile(ctx context.Context, g *globalOptions, o runOptions, name string) error {
	f, p, err := g.loadProfile(name)
	if err != nil {
		return err
	}
	if o.level != "" && !slices.Contains([]string{"full", "differential", "incremental"}, o.level) {
		return fmt.Errorf("run: --level %q: want full, differential or incremental", o.level)
	}
	now := g.env.Now()
	if o.time != "" {
		if now, err = parseTime(o.time); err != nil {
			return err
		}
	}
	runID := job.NewRunID()
	dir, err := profile.StateDir(g.env.Getenv)
	if err != nil {
		return fmt.Errorf("run %s: %w", name, err)
	}
	key := profile.StateKey(f.Path, name)
	lock, err := profile.LockRun(dir, key, profile.Holder{RunID: runID, PID: os.Getpid(), Start: time.Now()})
	if err != nil {
		if errors.Is(err, profile.ErrRunning) {
			return &exitError{code: exitLocked, err: err, hint: "wait for that run to finish"}
		}
		return err
	}
	defer lock.Unlock()
	if err := profile.AdoptLegacyState(dir, name, key); err != nil {
		return err
	}
	st, err := profile.LoadState(dir, key)
	if err != nil {
		return err
	}
	// Every step sees the run's time.
	g.env.Now = func() time.Time { return now }
	if err := g.applyProfile(name); err != nil {
		return err
	}
	rn := g.newRun(ctx, p, now, profile.Level(o.level), st)
	rn.StateKey = key
	rep := rn.Execute(ctx, runID)
	for _, err := range rn.Record(ctx, dir) {
		g.warnf("warning: %v\n", err)
	}
	if g.json {
		if err := jsonOut(g, rep); err != nil {
			return err
		}
	} else if !g.quiet {
		g.printf("run %s of profile %s: %s (exit %d)\n", rep.RunID, name, rep.Status, rep.ExitCode)
	}
	if rep.ExitCode != 0 {
		return &exitError{code: rep.ExitCode, err: fmt.Errorf("run %s of profile %s: %s: %s", rep.RunID, name, rep.Status, strings.Join(rep.Errors, "; ")),
			hint: rn.Hint()}
	}
	return nil
}

// newRun opens the profile's repository and describes the run.
func (g *globalOptions) newRun(ctx context.Context, p *profile.Profile, now time.Time, level profile.Level, st *profile.State) *job.Run {
	rn := &job.Run{Profile: p, Now: now, Level: level, Host: hostname(), Program: "cairn " + version,
		RetryLock: g.retryLock, Environ: backend.ChildEnv(os.Environ()), State: st,
		Say: func(s string) {
			if !g.json {
				g.printf("%s\n", s)
			}
		},
		Warn: func(s string) {
			if g.json {
				// "  step: warning: text"
				step, msg, _ := strings.Cut(strings.TrimSpace(s), ": ")
				level, msg := splitLevel(msg)
				g.stderrJSON(jsonNotice{MessageType: level, Step: step, Message: msg})
				return
			}
			g.warnf("%s\n", s)
		},
		HookOutput: func(s string) {
			// A hook that succeeded: its output under its step, in the
			// text report on stdout (a failed one's goes to stderr).
			switch {
			case g.json:
				g.stderrJSON(jsonNotice{MessageType: "hook_output", Message: strings.TrimSpace(s)})
			default:
				g.printf("%s\n", s)
			}
		}}
	pw, err := g.password("enter password for repository: ")
	if err != nil {
		rn.PasswordErr = err
		return rn
	}
	if rn.Repo, rn.OpenErr = g.openRepo(ctx); rn.OpenErr != nil {
		rn.Repo = nil
	}
	rn.OpenMirror = func(ctx context.Context, loc string) (*repo.Repository, error) {
		// The mirrors' password source is the profile's, never one read
		// from the repository's config; by default the repository's own.
		src := repoSource{location: loc, passwordFile: p.MirrorPasswordFile, passwordCommand: p.MirrorPasswordCommand}
		if src.passwordFile == "" && src.passwordCommand == "" {
			src.password = pw
		}
		return g.other(src).openRepo(ctx)
	}
	return rn
}
