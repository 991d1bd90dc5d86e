package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

type filterOptions struct {
	hosts, tags, paths []string
}

func (o *filterOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.hosts, "host", nil, "only snapshots of `host` (repeatable)")
	cmd.Flags().StringSliceVar(&o.tags, "tag", nil, "only snapshots with `tags` (comma-separated: all of them)")
	cmd.Flags().StringArrayVar(&o.paths, "path", nil, "only snapshots of exactly these `paths` (repeatable)")
}

func (o *filterOptions) filter() snapshot.Filter {
	return snapshot.Filter{Hosts: o.hosts, Tags: o.tags, Paths: o.paths}
}

type snapshotJSON struct {
	*snapshot.Snapshot
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
}

func newSnapshotsCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	cmd := &cobra.Command{
		Use:   "snapshots [ID...]",
		Short: "List snapshots",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo(ctx, false)
			if err != nil {
				return err
			}
			all, loadErr := snapshot.LoadAll(ctx, r)
			if all == nil && loadErr != nil {
				return loadErr
			}
			f := o.filter()
			var sns []*snapshot.Snapshot
			for _, sn := range all {
				if f.Match(sn) && matchIDs(sn, args) {
					sns = append(sns, sn)
				}
			}
			if g.json {
				out := make([]snapshotJSON, 0, len(sns))
				for _, sn := range sns {
					out = append(out, snapshotJSON{sn, sn.ID().String(), sn.ID().Short()})
				}
				if err := jsonOut(g, out); err != nil {
					return err
				}
			} else {
				printSnapshotTable(g, sns)
			}
			// Unreadable snapshot files are damage: reported after the
			// readable ones are listed.
			return loadErr
		},
	}
	o.addFlags(cmd)
	return cmd
}

func matchIDs(sn *snapshot.Snapshot, ids []string) bool {
	if len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		if strings.HasPrefix(sn.ID().String(), id) {
			return true
		}
	}
	return false
}

func printSnapshotTable(g *globalOptions, sns []*snapshot.Snapshot) {
	if g.quiet {
		return
	}
	tw := tabwriter.NewWriter(g.env.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTime\tHost\tKind\tTags\tPaths\tSize")
	fmt.Fprintln(tw, "--\t----\t----\t----\t----\t-----\t----")
	for _, sn := range sns {
		size := ""
		if sn.Summary != nil {
			size = formatBytes(sn.Summary.TotalBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sn.ID().Short(), sn.Time.Local().Format("2006-01-02 15:04:05"),
			sn.Hostname, sn.Kind, strings.Join(sn.Tags, ","), strings.Join(sn.Paths, ","), size)
	}
	tw.Flush()
	fmt.Fprintf(g.env.Stdout, "%d snapshots\n", len(sns))
}
