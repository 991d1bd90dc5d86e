package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// tagResult is the JSON shape of `tag`: the snapshots rewritten.
type tagResult struct {
	Changed   int        `json:"changed"`
	Snapshots []retagged `json:"snapshots"`
}

type retagged struct {
	Snapshot    string   `json:"snapshot"`
	NewSnapshot string   `json:"new_snapshot"`
	Tags        []string `json:"tags"`
}

func newTagCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	var set, add, remove []string
	cmd := &cobra.Command{
		Use:   "tag [--set T | --add T | --remove T] [SNAPSHOT...]",
		Short: "Change the tags of snapshots",
		Long: `Change the tags of the given snapshots (or of all that match the filters).
Each changed snapshot is rewritten: the new one records the original ID.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if set == nil && add == nil && remove == nil {
				return &exitError{code: exitFatal, err: errors.New("tag: nothing to do"), hint: "pass --set, --add or --remove"}
			}
			if cmd.Flags().Changed("set") && set == nil {
				set = []string{}
			}
			return g.withSession(ctx, exclusive("tag"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				sns, err := g.selectSnapshots(ctx, r, args, o.filter())
				if err != nil {
					return err
				}
				out := tagResult{Snapshots: []retagged{}}
				for _, sn := range sns {
					ns, ok, err := snapshot.Retag(ctx, r, sn, set, add, remove)
					if err != nil {
						return err
					}
					if ok {
						out.Changed++
						out.Snapshots = append(out.Snapshots, retagged{sn.ID().String(), ns.ID().String(), viewOf(ns).Tags})
						g.printf("snapshot %s is now %s\n", sn.ID().Short(), ns.ID().Short())
					}
				}
				if g.json {
					return jsonOut(g, out)
				}
				g.printf("changed tags of %d snapshots\n", out.Changed)
				return nil
			})
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringSliceVar(&set, "set", nil, "replace the tags with `tags`")
	cmd.Flags().StringSliceVar(&add, "add", nil, "add `tags`")
	cmd.Flags().StringSliceVar(&remove, "remove", nil, "remove `tags`")
	return cmd
}
