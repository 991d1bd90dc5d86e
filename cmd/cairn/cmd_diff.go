package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
	"github.com/cairn-backup/cairn/repo/termsafe"
)

func newDiffCommand(g *globalOptions) *cobra.Command {
	var metadata bool
	var o filterOptions
	cmd := &cobra.Command{
		Use:   "diff SNAPSHOT1[:PATH] SNAPSHOT2[:PATH]",
		Short: "Show what changed between two snapshots",
		Long: `Show the paths that differ between two snapshots:
  +  added        -  removed        M  content modified
  U  metadata only (mode, owner, mtime)               T  type changed
then totals. --json prints one object per change and a summary object.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, reading("diff"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				var err error
				var ids [2]snapshotRoot
				for i, a := range args {
					if ids[i], err = resolveRoot(ctx, r, a, o.filter()); err != nil {
						return err
					}
				}
				var changes []snapshot.Change
				st, err := snapshot.Diff(ctx, r, ids[0].tree, ids[1].tree, func(c snapshot.Change) error {
					if c.Kind == snapshot.Metadata && !metadata {
						return nil
					}
					changes = append(changes, c)
					return nil
				})
				if err != nil {
					return err
				}
				if g.json {
					return writeDiffJSON(g.env.Stdout, ids[0].ref, ids[1].ref, changes, st)
				}
				if !g.quiet {
					writeDiff(g.env.Stdout, ids[0].ref, ids[1].ref, changes, st)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&metadata, "metadata", true, "list paths whose metadata alone changed (U)")
	o.addFlags(cmd)
	return cmd
}

func writeDiff(w io.Writer, a, b string, changes []snapshot.Change, st snapshot.DiffStats) {
	fmt.Fprintf(w, "comparing snapshot %s to %s:\n\n", a, b)
	for _, c := range changes {
		fmt.Fprintf(w, "%-2s %s\n", c.Kind, termsafe.Name(c.Path))
	}
	fmt.Fprintf(w, "\nAdded:         %d (%s)\n", st.Added, formatBytes(st.AddedBytes))
	fmt.Fprintf(w, "Removed:       %d (%s)\n", st.Removed, formatBytes(st.RemovedBytes))
	fmt.Fprintf(w, "Modified:      %d\n", st.Modified)
	fmt.Fprintf(w, "Metadata only: %d\n", st.MetadataOnly)
	fmt.Fprintf(w, "Type changed:  %d\n", st.TypeChanged)
}

func writeDiffJSON(w io.Writer, a, b string, changes []snapshot.Change, st snapshot.DiffStats) error {
	enc := jsonEncoder(w)
	for _, c := range changes {
		if err := enc.Encode(struct {
			MessageType string `json:"message_type"`
			snapshot.Change
		}{"change", c}); err != nil {
			return err
		}
	}
	return enc.Encode(struct {
		MessageType string `json:"message_type"`
		SourceSnap  string `json:"source_snapshot"`
		TargetSnap  string `json:"target_snapshot"`
		snapshot.DiffStats
	}{"statistics", a, b, st})
}
