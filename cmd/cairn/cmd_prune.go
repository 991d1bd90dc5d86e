package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/pruner"
)

type pruneOptions struct {
	maxUnused          string
	maxRepackSize      string
	repackSmall        bool
	repackUncompressed bool
	grace              time.Duration
	dryRun             bool
}

func (o *pruneOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.maxUnused, "max-unused", "5%", "leave at most this `share` of unused data in kept packs (e.g. 5%, unlimited)")
	f.StringVar(&o.maxRepackSize, "max-repack-size", "", "repack at most `size` of packs")
	f.BoolVar(&o.repackSmall, "repack-small", false, "repack packs far below the target pack size")
	f.BoolVar(&o.repackUncompressed, "repack-uncompressed", false, "repack packs with uncompressed data, compressing it")
	f.DurationVar(&o.grace, "grace", time.Hour, "never delete or repack packs, nor delete temporary files, younger than `duration`")
}

func (o *pruneOptions) options() (pruner.Options, error) {
	po := pruner.Options{RepackSmall: o.repackSmall, RepackUncompressed: o.repackUncompressed, Grace: o.grace, DryRun: o.dryRun}
	switch s := strings.TrimSpace(o.maxUnused); {
	case s == "unlimited":
		po.MaxUnused = 1
	case strings.HasSuffix(s, "%"):
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || v < 0 || v > 100 {
			return po, fmt.Errorf("invalid --max-unused %q: want a percentage like 5%% or unlimited", o.maxUnused)
		}
		po.MaxUnused = v / 100
	default:
		return po, fmt.Errorf("invalid --max-unused %q: want a percentage like 5%% or unlimited", o.maxUnused)
	}
	if o.maxRepackSize != "" {
		n, err := job.ParseSize(o.maxRepackSize)
		if err != nil {
			return po, fmt.Errorf("--max-repack-size: %w", err)
		}
		po.MaxRepackSize = n
	}
	return po, nil
}

func newPruneCommand(g *globalOptions) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove data no snapshot needs",
		Long: `Delete packs no snapshot uses and repack partly used ones, writing the new
index before anything is deleted. Packs younger than --grace are left alone,
so a backup running on another host cannot lose data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, exclusive("prune").indexed(true), func(ctx context.Context, s *repo.Session) error {
				return runPruneLocked(ctx, cmd, g, s, o)
			})
		},
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be done, change nothing")
	return cmd
}

// runPruneLocked prunes in the exclusive session s (prune, forget --prune)
// and renders the plan.
func runPruneLocked(ctx context.Context, cmd *cobra.Command, g *globalOptions, s *repo.Session, o pruneOptions) error {
	plan, dryRun, err := pruneLocked(ctx, cmd, g, s, o)
	if err != nil {
		return err
	}
	if g.json {
		return jsonOut(g, plan)
	}
	if !g.quiet {
		writePrunePlan(g.env.Stdout, plan, dryRun)
	}
	return nil
}

// pruneLocked prunes in the exclusive session s and returns the plan and
// whether it was a dry run.
func pruneLocked(ctx context.Context, cmd *cobra.Command, g *globalOptions, s *repo.Session, o pruneOptions) (*pruner.Plan, bool, error) {
	r := s.Repository()
	if cmd.Flags().Lookup("dry-run") != nil {
		o.dryRun, _ = cmd.Flags().GetBool("dry-run")
	}
	po, err := o.options()
	if err != nil {
		return nil, false, err
	}
	po.Now = g.env.Now
	po.BeforeDelete = s.Check
	plan, err := pruner.Prune(ctx, r, po)
	if err != nil {
		return nil, false, err
	}
	if !o.dryRun {
		if err := r.PruneCache(ctx); err != nil {
			g.warnf("warning: cleaning the cache: %v\n", err)
		}
	}
	return plan, o.dryRun, nil
}

func writePrunePlan(w io.Writer, p *pruner.Plan, dryRun bool) {
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	fmt.Fprintf(w, "snapshots:        %d, using %d blobs (%d unused)\n", p.Snapshots, p.UsedBlobs, p.UnusedBlobs)
	fmt.Fprintf(w, "packs:            %d, %s (%s unused)\n", p.PacksTotal, formatBytes(p.SizeTotal), formatBytes(p.SizeUnused))
	fmt.Fprintf(w, "%-17s %d packs, %s\n", verb+":", p.PacksDelete, formatBytes(p.SizeDelete))
	if dryRun {
		fmt.Fprintf(w, "would repack:     %d packs, %s\n", p.PacksRepack, formatBytes(p.SizeRepack))
	} else {
		fmt.Fprintf(w, "repacked:         %d packs, %s\n", p.PacksRepack, formatBytes(p.SizeRepack))
	}
	if p.PacksYoung > 0 {
		fmt.Fprintf(w, "kept (too young): %d packs, inside the grace period\n", p.PacksYoung)
	}
	if p.PacksRetained > 0 {
		when := "from " + p.RetainedUntil.Local().Format(time.DateTime)
		if !p.RetainedNext.Equal(p.RetainedUntil) {
			when = "from " + p.RetainedNext.Local().Format(time.DateTime) + " (the first) to " + p.RetainedUntil.Local().Format(time.DateTime) + " (all)"
		}
		fmt.Fprintf(w, "kept (retained):  %d packs, %s, under the storage's retention (Object Lock); deletable %s\n",
			p.PacksRetained, formatBytes(p.SizeRetained), when)
	}
	if p.IndexRetained > 0 {
		fmt.Fprintf(w, "retained index:   %d superseded index files the storage keeps (ignored)\n", p.IndexRetained)
	}
	if p.OrphanPacks > 0 {
		fmt.Fprintf(w, "orphaned packs:   %d (not in the index, e.g. from an interrupted backup)\n", p.OrphanPacks)
	}
	if p.MissingPacks > 0 {
		fmt.Fprintf(w, "missing packs:    %d (in the index, not in the repository: run `cairn check`)\n", p.MissingPacks)
	}
	writePruneTemp(w, p.Temp, dryRun) // prune_temp.go
	fmt.Fprintf(w, "unused after:     %s\n", formatBytes(p.SizeUnusedAfter))
	fmt.Fprintf(w, "space freed:      %s\n", formatBytes(p.SizeFreed))
}
