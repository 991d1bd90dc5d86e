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
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "status [PROFILE]",
		Short: "Show each profile's last run, newest backups, mirror lag and verified share",
		Long: `For each profile of the configuration file (or the one given): the last run
and its result, the last snapshot of each level, the age of the newest
snapshot, how many snapshots each mirror lacks, and the share of the
repository read by the rotating check in its window. With --max-age the
command exits 1 when a profile's newest snapshot is older (for Nagios or
Icinga checks); the repository must then be readable.`,
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
			var stale []string
			for _, n := range names {
				ps := g.profileStatus(ctx, f, n)
				out = append(out, ps)
				if maxAge > 0 && (ps.AgeSeconds == nil || time.Duration(*ps.AgeSeconds*float64(time.Second)) > maxAge) {
					age := "no snapshot"
					if ps.AgeSeconds != nil {
						age = "newest snapshot is " + time.Duration(*ps.AgeSeconds*float64(time.Second)).Round(time.Minute).String() + " old"
					}
					if ps.Error != "" {
						age = "repository can't be read: " + ps.Error
					}
					stale = append(stale, fmt.Sprintf("profile %s: %s (limit %s)", n, age, maxAge))
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
			if len(stale) > 0 {
				return &exitError{code: exitFatal, err: fmt.Errorf("status: %s", joinSemi(stale))}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "exit 1 when the newest snapshot of a profile is older than `duration` (e.g. 26h)")
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
		fmt.Fprintf(w, "  newest snapshot:   %s (%s old), %d snapshots\n", ts(*ps.Newest), now.Sub(*ps.Newest).Round(time.Minute), ps.Snapshots)
	} else if ps.Error == "" {
		fmt.Fprintf(w, "  newest snapshot:   none\n")
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
