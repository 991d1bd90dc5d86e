package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/snapshot"
	"github.com/cairn-backup/cairn/repo/termsafe"
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

// snapshotView is the documented JSON shape of a snapshot (README).
type snapshotView struct {
	ID         string            `json:"id"`
	ShortID    string            `json:"short_id"`
	Time       time.Time         `json:"time"`
	Hostname   string            `json:"hostname"`
	Username   string            `json:"username"`
	Paths      []string          `json:"paths"`
	Tags       []string          `json:"tags"`
	Kind       snapshot.Kind     `json:"kind"`
	Parent     *string           `json:"parent"`
	Generation string            `json:"generation"`
	Tree       string            `json:"tree"`
	Original   *string           `json:"original,omitempty"`
	Summary    *snapshot.Summary `json:"summary"`
}

func viewOf(sn *snapshot.Snapshot) snapshotView {
	v := snapshotView{ID: sn.ID().String(), ShortID: sn.ID().Short(), Time: sn.Time, Hostname: sn.Hostname,
		Username: sn.Username, Paths: sn.Paths, Tags: sn.Tags, Kind: sn.Kind, Generation: sn.Generation.String(),
		Tree: sn.Tree.String(), Summary: sn.Summary}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if sn.Parent != nil {
		p := sn.Parent.String()
		v.Parent = &p
	}
	if sn.Original != nil {
		o := sn.Original.String()
		v.Original = &o
	}
	return v
}

type snapshotGroup struct {
	Key       snapshot.GroupKey `json:"group_key"`
	Snapshots []snapshotView    `json:"snapshots"`
}

// groupSnapshots groups sns (oldest first) by the fields in by ("host",
// "paths", "tags"); keeps the newest latest of each group when latest > 0.
func groupSnapshots(sns []*snapshot.Snapshot, by []string, latest int) ([]snapshotGroup, error) {
	grouped, err := snapshot.GroupBy(sns, by)
	if err != nil {
		return nil, err
	}
	groups := make([]snapshotGroup, len(grouped))
	for i, gr := range grouped {
		groups[i].Key = gr.Key
		if latest > 0 && len(gr.Snapshots) > latest {
			gr.Snapshots = gr.Snapshots[len(gr.Snapshots)-latest:]
		}
		for _, sn := range gr.Snapshots {
			groups[i].Snapshots = append(groups[i].Snapshots, viewOf(sn))
		}
	}
	return groups, nil
}

func newSnapshotsCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	var groupBy string
	var latest int
	cmd := &cobra.Command{
		Use:   "snapshots [ID...]",
		Short: "List snapshots",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo(ctx)
			if err != nil {
				return err
			}
			// The readable snapshots are listed; those that can't be read
			// are named and give the exit code.
			all, bad, err := snapshot.LoadReadable(ctx, r)
			if err != nil {
				return err
			}
			var loadErr error
			if bad != nil {
				loadErr = bad
			}
			f := o.filter()
			var sns []*snapshot.Snapshot
			for _, sn := range all {
				if f.Match(sn) && matchIDs(sn, args) {
					sns = append(sns, sn)
				}
			}
			by := strings.Split(groupBy, ",")
			if groupBy == "" && latest > 0 {
				by = []string{"host", "paths"}
			}
			groups, err := groupSnapshots(sns, by, latest)
			if err != nil {
				return err
			}
			if g.json {
				if groupBy != "" {
					err = jsonOut(g, groups)
				} else {
					var flat []snapshotView
					for _, gr := range groups {
						flat = append(flat, gr.Snapshots...)
					}
					if flat == nil {
						flat = []snapshotView{}
					}
					err = jsonOut(g, flat)
				}
			} else if !g.quiet {
				for i, gr := range groups {
					if groupBy != "" {
						if i > 0 {
							fmt.Fprintln(g.env.Stdout)
						}
						fmt.Fprintf(g.env.Stdout, "snapshots for %s:\n", termsafe.Name(fmt.Sprint(gr.Key)))
					}
					writeSnapshotTable(g.env.Stdout, gr.Snapshots)
				}
				if len(groups) == 0 {
					writeSnapshotTable(g.env.Stdout, nil)
				}
			}
			if err != nil {
				return err
			}
			// Unreadable snapshot files are damage: reported after the
			// readable ones are listed.
			return loadErr
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&groupBy, "group-by", "", "group by `fields` (host,paths,tags)")
	cmd.Flags().IntVar(&latest, "latest", 0, "only the newest `n` snapshots of each group (default group: host,paths)")
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

// writeSnapshotTable renders snapshots as the `snapshots` table.
func writeSnapshotTable(w io.Writer, sns []snapshotView) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTime\tHost\tKind\tGeneration\tTags\tPaths\tAdded")
	fmt.Fprintln(tw, "--\t----\t----\t----\t----------\t----\t-----\t-----")
	for _, sn := range sns {
		added := ""
		if sn.Summary != nil {
			added = formatBytes(sn.Summary.BytesAdded)
		}
		gen := sn.Generation
		if len(gen) > 8 {
			gen = gen[:8]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sn.ShortID, sn.Time.Local().Format("2006-01-02 15:04:05"),
			termsafe.Name(sn.Hostname), termsafe.Name(string(sn.Kind)), termsafe.Name(gen), termsafe.Name(strings.Join(sn.Tags, ",")), termsafe.Name(strings.Join(sn.Paths, ",")), added)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d snapshots\n", len(sns))
}
