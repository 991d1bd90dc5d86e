package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type forgetOptions struct {
	filterOptions
	last, hourly, daily, weekly, monthly, yearly        int
	within, wHourly, wDaily, wWeekly, wMonthly, wYearly string
	keepTags                                            []string
	groupBy                                             string
	dryRun                                              bool
	prune                                               bool
	pruneOpts                                           pruneOptions
}

var keepCountFlags = []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"}

func newForgetCommand(g *globalOptions) *cobra.Command {
	var o forgetOptions
	cmd := &cobra.Command{
		Use:   "forget [flags] [SNAPSHOT...]",
		Short: "Remove snapshots by a retention policy or by ID",
		Long: `Remove the given snapshots, or those a retention policy does not keep.

The policy is applied to each group of snapshots (--group-by, default
host,paths) on its own; the output says which snapshots are kept and why.
A policy that would remove every snapshot of a group is refused unless a
--keep-* flag says so explicitly with 0 (e.g. --keep-last 0). For the
--keep-within* windows a snapshot dated in the future (a clock set wrong,
backup --time) is as old as one made now and the windows end now at the
latest, so it can't push the present out of them.
Data is freed by prune (or --prune here).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runForget(cmd, g, &o, args)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.last, "keep-last", "l", 0, "keep the last `n` snapshots (-1: all)")
	f.IntVarP(&o.hourly, "keep-hourly", "H", 0, "keep the last `n` hourly snapshots")
	f.IntVarP(&o.daily, "keep-daily", "d", 0, "keep the last `n` daily snapshots")
	f.IntVarP(&o.weekly, "keep-weekly", "w", 0, "keep the last `n` weekly snapshots")
	f.IntVarP(&o.monthly, "keep-monthly", "m", 0, "keep the last `n` monthly snapshots")
	f.IntVarP(&o.yearly, "keep-yearly", "y", 0, "keep the last `n` yearly snapshots")
	f.StringVar(&o.within, "keep-within", "", "keep snapshots newer than `duration` (e.g. 1y5m7d2h) before the latest")
	f.StringVar(&o.wHourly, "keep-within-hourly", "", "keep hourly snapshots within `duration`")
	f.StringVar(&o.wDaily, "keep-within-daily", "", "keep daily snapshots within `duration`")
	f.StringVar(&o.wWeekly, "keep-within-weekly", "", "keep weekly snapshots within `duration`")
	f.StringVar(&o.wMonthly, "keep-within-monthly", "", "keep monthly snapshots within `duration`")
	f.StringVar(&o.wYearly, "keep-within-yearly", "", "keep yearly snapshots within `duration`")
	f.StringSliceVar(&o.keepTags, "keep-tag", nil, "keep snapshots with `tags`")
	f.StringVarP(&o.groupBy, "group-by", "g", "host,paths", "group by `fields` (host,paths,tags; empty: one group)")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be removed, remove nothing")
	f.BoolVar(&o.prune, "prune", false, "prune the repository afterwards")
	o.filterOptions.addFlags(cmd)
	o.pruneOpts.addFlags(cmd)
	return cmd
}

func (o *forgetOptions) policy(cmd *cobra.Command) (snapshot.Policy, bool, error) {
	p := snapshot.Policy{Last: o.last, Hourly: o.hourly, Daily: o.daily, Weekly: o.weekly, Monthly: o.monthly,
		Yearly: o.yearly, Tags: o.keepTags}
	for _, d := range []struct {
		flag, val string
		dst       *snapshot.Duration
	}{{"keep-within", o.within, &p.Within}, {"keep-within-hourly", o.wHourly, &p.WithinHourly},
		{"keep-within-daily", o.wDaily, &p.WithinDaily}, {"keep-within-weekly", o.wWeekly, &p.WithinWeekly},
		{"keep-within-monthly", o.wMonthly, &p.WithinMonthly}, {"keep-within-yearly", o.wYearly, &p.WithinYearly}} {
		if d.val == "" {
			continue
		}
		v, err := snapshot.ParseDuration(d.val)
		if err != nil {
			return p, false, fmt.Errorf("--%s: %w", d.flag, err)
		}
		*d.dst = v
	}
	for _, n := range []int{o.last, o.hourly, o.daily, o.weekly, o.monthly, o.yearly} {
		if n < -1 {
			return p, false, fmt.Errorf("forget: keep counts must be -1 (all) or more, got %d", n)
		}
	}
	explicitZero := false
	for _, name := range keepCountFlags {
		if cmd.Flags().Changed(name) {
			if v, _ := cmd.Flags().GetInt(name); v == 0 {
				explicitZero = true
			}
		}
	}
	return p, explicitZero, nil
}

type forgetGroup struct {
	Key    snapshot.GroupKey `json:"group_key"`
	Keep   []snapshotView    `json:"keep"`
	Remove []snapshotView    `json:"remove"`
	// Reasons maps kept snapshot IDs to why they are kept.
	Reasons map[string][]string `json:"reasons"`
}

func runForget(cmd *cobra.Command, g *globalOptions, o *forgetOptions, args []string) error {
	ctx := cmd.Context()
	pol, explicitZero, err := o.policy(cmd)
	if err != nil {
		return err
	}
	pol.Now = g.env.Now()
	if pol.Empty() && len(args) == 0 && !explicitZero {
		return &exitError{code: exitFatal, err: errors.New("forget: no policy and no snapshots given; nothing would be kept"),
			hint: "give --keep-daily 7 etc., or snapshot IDs to remove"}
	}
	req := job.ForgetRequest{Refs: args, Policy: pol, Filter: o.filter(), GroupBy: strings.Split(o.groupBy, ","),
		AllowEmpty: explicitZero, OnNote: func(s string) { g.warnf("note: %s\n", s) }}
	need := exclusive("forget").indexed(o.prune)
	return g.withSession(ctx, need, func(ctx context.Context, s *repo.Session) error {
		plan, err := job.PlanForget(ctx, s.Repository(), req)
		if err != nil {
			return err
		}
		groups := forgetGroups(plan)
		// With --prune the JSON is one object of both results, printed
		// once prune is done.
		if g.json && (!o.prune || o.dryRun) {
			if err := jsonOut(g, groups); err != nil {
				return err
			}
		} else if !g.json && !g.quiet {
			writeForget(g.env.Stdout, groups)
		}
		if o.dryRun {
			g.printf("dry run: would remove %d snapshots\n", len(plan.Remove))
			return nil
		}
		err = plan.Apply(ctx, s)
		for _, rs := range plan.Retained {
			g.warnf("snapshot %s kept: retained until %s (the storage's Object Lock)\n", rs.ID.Short(), rs.Until.Local().Format(time.DateTime))
		}
		if err != nil {
			return err
		}
		if !g.json {
			g.printf("removed %d snapshots\n", len(plan.Remove))
		}
		if !o.prune {
			return nil
		}
		if !g.json {
			return runPruneLocked(ctx, cmd, g, s, o.pruneOpts)
		}
		pp, _, err := pruneLocked(ctx, cmd, g, s, o.pruneOpts)
		if err != nil {
			return err
		}
		return jsonOut(g, struct {
			Forget []forgetGroup `json:"forget"`
			Prune  *pruner.Plan  `json:"prune"`
		}{groups, pp})
	})
}

// forgetGroups are the policy's decisions, as forget renders them (none
// when snapshots were named).
func forgetGroups(plan *job.ForgetPlan) []forgetGroup {
	groups := []forgetGroup{}
	for _, gr := range plan.Groups {
		fg := forgetGroup{Key: gr.Key, Keep: []snapshotView{}, Remove: []snapshotView{}, Reasons: map[string][]string{}}
		for _, d := range gr.Decisions {
			if d.Keep {
				fg.Keep = append(fg.Keep, viewOf(d.Snapshot))
				fg.Reasons[d.Snapshot.ID().String()] = d.Reasons
			} else {
				fg.Remove = append(fg.Remove, viewOf(d.Snapshot))
			}
		}
		groups = append(groups, fg)
	}
	return groups
}

func writeForget(w io.Writer, groups []forgetGroup) {
	for i, gr := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if k := gr.Key.String(); k != "" {
			fmt.Fprintf(w, "snapshots for %s:\n", k)
		}
		fmt.Fprintf(w, "keep %d snapshots:\n", len(gr.Keep))
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTime\tKind\tReasons")
		for _, v := range gr.Keep {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ShortID, v.Time.Local().Format("2006-01-02 15:04:05"), v.Kind, strings.Join(gr.Reasons[v.ID], ", "))
		}
		tw.Flush()
		if len(gr.Remove) > 0 {
			fmt.Fprintf(w, "remove %d snapshots:\n", len(gr.Remove))
			tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTime\tKind")
			for _, v := range gr.Remove {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", v.ShortID, v.Time.Local().Format("2006-01-02 15:04:05"), v.Kind)
			}
			tw.Flush()
		}
	}
}
