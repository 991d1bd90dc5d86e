package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
)

// newKeyRemoveCommand builds `key remove`.
func newKeyRemoveCommand(g *globalOptions) *cobra.Command {
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key (not the one in use)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withSession(cmd.Context(), exclusive("key remove"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				id, err := r.Keys().Find(ctx, args[0])
				if err != nil {
					return fmt.Errorf("remove key %s: %w", args[0], err)
				}
				if err := r.Keys().Remove(ctx, id); err != nil {
					return err
				}
				if g.json {
					return jsonOut(g, keyChange{Removed: id})
				}
				g.printf("removed key %s\n", id[:8])
				return nil
			})
		},
	}
	return remove
}
