package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
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
--keep-* flag says so explicitly with 0 (e.g. --keep-last 0).
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
	Key    groupKey       `json:"group_key"`
	Keep   []snapshotView `json:"keep"`
	Remove []snapshotView `json:"remove"`
	// Reasons maps kept snapshot IDs to why they are kept.
	Reasons map[string][]string `json:"reasons"`
}

func runForget(cmd *cobra.Command, g *globalOptions, o *forgetOptions, args []string) error {
	ctx := cmd.Context()
	pol, explicitZero, err := o.policy(cmd)
	if err != nil {
		return err
	}
	if pol.Empty() && len(args) == 0 && !explicitZero {
		return &exitError{code: exitFatal, err: errors.New("forget: no policy and no snapshots given; nothing would be kept"),
			hint: "give --keep-daily 7 etc., or snapshot IDs to remove"}
	}
	need := session{lock: repo.ExclusiveLock, index: o.prune, command: "forget"}
	return g.withSession(ctx, need, func(ctx context.Context, s *repo.Session) error {
		return forgetInSession(ctx, cmd, g, o, s, pol, explicitZero, args)
	})
}

func forgetInSession(ctx context.Context, cmd *cobra.Command, g *globalOptions, o *forgetOptions, s *repo.Session, pol snapshot.Policy, explicitZero bool, args []string) error {
	r := s.Repository()
	var remove []pack.ID
	var groups []forgetGroup
	if len(args) > 0 {
		for _, ref := range args {
			sn, err := snapshot.Find(ctx, r, ref, o.filter())
			if errors.Is(err, repo.ErrDamaged) && ref != "latest" {
				// An unreadable snapshot file can still be removed by its ID.
				id, ferr := r.FindID(ctx, backend.SnapshotFile, ref)
				if ferr != nil {
					return ferr
				}
				g.warnf("note: snapshot %s can't be read (%v); removing it\n", id.Short(), err)
				remove = append(remove, id)
				continue
			}
			if err != nil {
				return err
			}
			remove = append(remove, sn.ID())
		}
	} else {
		// A policy needs every snapshot: one that can't be read might be
		// one it keeps, so none is removed until it is named.
		all, err := snapshot.LoadAll(ctx, r)
		if err != nil {
			var ue *snapshot.UnreadableError
			if errors.As(err, &ue) {
				ids := make([]string, len(ue.IDs))
				for i, id := range ue.IDs {
					ids[i] = id.Short()
				}
				return &exitError{code: exitDamage, err: fmt.Errorf("forget: no policy applied, %d snapshots can't be read (%s): %w", len(ue.IDs), strings.Join(ids, ", "), err),
					hint: "run `cairn repair snapshots`, or remove the unreadable snapshots by ID with `cairn forget ID`"}
			}
			return err
		}
		var sns []*snapshot.Snapshot
		for _, sn := range all {
			if o.filter().Match(sn) {
				sns = append(sns, sn)
			}
		}
		grouped, err := groupSnapshotsRaw(sns, strings.Split(o.groupBy, ","))
		if err != nil {
			return err
		}
		for _, gr := range grouped {
			fg := forgetGroup{Key: gr.key, Keep: []snapshotView{}, Remove: []snapshotView{}, Reasons: map[string][]string{}}
			for _, d := range pol.Apply(gr.sns) {
				if d.Keep {
					fg.Keep = append(fg.Keep, viewOf(d.Snapshot))
					fg.Reasons[d.Snapshot.ID().String()] = d.Reasons
				} else {
					fg.Remove = append(fg.Remove, viewOf(d.Snapshot))
					remove = append(remove, d.Snapshot.ID())
				}
			}
			if len(fg.Keep) == 0 && len(fg.Remove) > 0 && !explicitZero {
				return &exitError{code: exitFatal, err: fmt.Errorf("forget: the policy would remove all %d snapshots of %s", len(fg.Remove), gr.key),
					hint: "say so explicitly with --keep-last 0, or adjust the policy"}
			}
			groups = append(groups, fg)
		}
	}
	if g.json {
		if err := jsonOut(g, groups); err != nil {
			return err
		}
	} else if !g.quiet {
		writeForget(g.env.Stdout, groups)
	}
	if o.dryRun {
		g.printf("dry run: would remove %d snapshots\n", len(remove))
		return nil
	}
	for _, id := range remove {
		if err := s.Check(ctx); err != nil {
			return err
		}
		if err := r.RemoveFile(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()}); err != nil {
			return fmt.Errorf("forget snapshot %s: %w", id.Short(), err)
		}
	}
	if !g.json {
		g.printf("removed %d snapshots\n", len(remove))
	}
	if o.prune {
		return runPruneLocked(ctx, cmd, g, s, o.pruneOpts)
	}
	return nil
}

type rawGroup struct {
	key groupKey
	sns []*snapshot.Snapshot
}

func groupSnapshotsRaw(sns []*snapshot.Snapshot, by []string) ([]rawGroup, error) {
	views, err := groupSnapshots(sns, by, 0)
	if err != nil {
		return nil, err
	}
	byID := map[string]*snapshot.Snapshot{}
	for _, sn := range sns {
		byID[sn.ID().String()] = sn
	}
	out := make([]rawGroup, len(views))
	for i, gr := range views {
		out[i].key = gr.Key
		for _, v := range gr.Snapshots {
			out[i].sns = append(out[i].sns, byID[v.ID])
		}
	}
	return out, nil
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
