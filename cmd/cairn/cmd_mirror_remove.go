package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
)

// newMirrorRemoveCommand builds `mirror remove`.
func newMirrorRemoveCommand(g *globalOptions) *cobra.Command {
	remove := &cobra.Command{
		Use:   "remove LOCATION",
		Short: "Remove a mirror from the list (its repository is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, exclusive("mirror remove"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				i := slices.IndexFunc(r.Config().Mirrors, func(x repo.Mirror) bool { return x.Location == args[0] })
				if i < 0 {
					return fmt.Errorf("mirror remove: %s is not a mirror (see `cairn mirror list`)", args[0])
				}
				if err := r.UpdateConfig(ctx, func(c *repo.Config) error {
					c.Mirrors = slices.Delete(c.Mirrors, i, i+1)
					return nil
				}); err != nil {
					return err
				}
				if g.json {
					return jsonOut(g, mirrorChange{Removed: args[0]})
				}
				g.printf("removed mirror %s\n", args[0])
				return nil
			})
		},
	}
	return remove
}
