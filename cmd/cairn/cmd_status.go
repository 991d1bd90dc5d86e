package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/profile"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	var warnAge, maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "status [PROFILE]",
		Short: "Show each profile's last run, newest backups, mirror lag and verified share",
		Long: `For each profile of the configuration file (or the one given): the last run
and its result, the last snapshot of each level, the age of the newest
snapshot, snapshots dated in the future (a clock set wrong), how many
snapshots each mirror lacks, and the share of the repository read by the
rotating check in its window.

With --warn-age and/or --max-age the exit code is a monitoring plugin's
(Nagios, Icinga), the worst over the profiles:
  0  ok
  1  warning: the newest snapshot is older than --warn-age, or snapshots
     are dated in the future
  2  critical: the newest snapshot is older than --max-age, there is none,
     or the repository can't be read
and stderr says why, with the age (e.g. "newest snapshot is 1d 3h old").
A snapshot dated in the future doesn't count as the newest: it would hide
that backups stopped. With skip-if-unchanged, a last run that found
nothing changed since a snapshot counts as a backup made then.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := g.loadConfig()
			if err != nil {
				return err
			}
			names := f.Names()
			if len(args) == 1 {
				if _, err := f.Get(args[0]); err != nil {
					return err
				}
				names = args
			}
			out := []job.ProfileStatus{}
			var msgs []string
			health := job.HealthOK
			for _, n := range names {
				ps := g.profileStatus(ctx, f, n)
				out = append(out, ps)
				if level, msg := ps.Health(warnAge, maxAge); level != job.HealthOK {
					health = max(health, level)
					msgs = append(msgs, fmt.Sprintf("profile %s: %s", n, msg))
				}
			}
			if g.json {
				if err := jsonOut(g, out); err != nil {
					return err
				}
			} else {
				for _, ps := range out {
					writeStatus(g.env.Stdout, ps, g.env.Now())
				}
			}
			if health != job.HealthOK {
				return &exitError{code: health, err: fmt.Errorf("status: %s", joinSemi(msgs)), warning: health == job.HealthWarning}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&warnAge, "warn-age", 0, "exit 1 (warning) when the newest snapshot of a profile is older than `duration` (e.g. 25h)")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "exit 2 (critical) when the newest snapshot of a profile is older than `duration` (e.g. 49h), or there is none")
	return cmd
}

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

func (g *globalOptions) profileStatus(ctx context.Context, f *profile.File, name string) job.ProfileStatus {
	p, _ := f.Get(name)
	// State an older cairn kept under the name alone counts until this
	// configuration file's next run takes it over.
	var st *profile.State
	if dir, err := profile.StateDir(g.env.Getenv); err == nil {
		if st, err = profile.LoadState(dir, profile.StateKey(f.Path, name)); err == nil && st.LastRun == nil {
			st, _ = profile.LoadState(dir, name)
		}
	}
	// The repository, through the profile's password source.
	pg := g.other(repoSource{location: p.Repository, passwordFile: p.PasswordFile, passwordCommand: p.PasswordCommand, password: p.Password})
	pg.options = append(append([]string{}, p.Options...), g.options...)
	return job.Status(ctx, job.StatusRequest{Profile: p, State: st, Now: g.env.Now(), Host: hostname(),
		Open: pg.openRepo,
		OpenMirror: func(ctx context.Context, loc string) (*repo.Repository, error) {
			src := repoSource{location: loc, passwordFile: p.MirrorPasswordFile, passwordCommand: p.MirrorPasswordCommand}
			if src.passwordFile == "" && src.passwordCommand == "" {
				src.password = pg.pw
			}
			return pg.other(src).openRepo(ctx)
		}})
}

func writeStatus(w io.Writer, ps job.ProfileStatus, now time.Time) {
	ts := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
	fmt.Fprintf(w, "profile %s (%s)\n", ps.Profile, ps.Repository)
	if r := ps.LastRun; r != nil {
		fmt.Fprintf(w, "  last run:          %s  %s (exit %d, %s backup), run %s\n", ts(r.End), r.Status, r.ExitCode, r.Level, r.RunID)
	} else {
		fmt.Fprintf(w, "  last run:          never\n")
	}
	if ps.LastSuccess != nil {
		fmt.Fprintf(w, "  last success:      %s\n", ts(*ps.LastSuccess))
	}
	if ps.Error != "" {
		fmt.Fprintf(w, "  repository:        can't be read: %s\n", ps.Error)
	}
	if ps.Newest != nil {
		fmt.Fprintf(w, "  newest snapshot:   %s (%s old), %d snapshots\n", ts(*ps.Newest), job.FormatAge(now.Sub(*ps.Newest)), ps.Snapshots)
	} else if ps.Error == "" && ps.Future != nil {
		fmt.Fprintf(w, "  newest snapshot:   none dated before now, %d snapshots\n", ps.Snapshots)
	} else if ps.Error == "" {
		fmt.Fprintf(w, "  newest snapshot:   none\n")
	}
	if u := ps.Unchanged; u != nil {
		fmt.Fprintf(w, "  unchanged:         the last run, %s (%s ago), found nothing changed since snapshot %s\n", ts(u.Run), job.FormatAge(now.Sub(u.Run)), u.Since)
	}
	if f := ps.Future; f != nil {
		fmt.Fprintf(w, "  future snapshots:  %s (%s)\n", f, ts(f.Newest))
	}
	for _, k := range []string{"full", "differential", "incremental"} {
		if l := ps.Levels[k]; l != nil {
			fmt.Fprintf(w, "  last %-13s %s  %s\n", k+":", ts(l.Time), l.ID)
		}
	}
	for _, m := range ps.Mirrors {
		switch {
		case m.Error != "":
			fmt.Fprintf(w, "  mirror %s: can't be read: %s\n", m.Mirror, m.Error)
		case m.Missing == 0:
			fmt.Fprintf(w, "  mirror %s: up to date\n", m.Mirror)
		default:
			fmt.Fprintf(w, "  mirror %s: lacks %d snapshots\n", m.Mirror, m.Missing)
		}
	}
	if v := ps.Verified; v != nil {
		fmt.Fprintf(w, "  verified:          %d of %d parts in the last %d days (%.0f%%)\n", v.Parts, v.Of, v.Window, 100*float64(v.Parts)/float64(v.Of))
	}
}
