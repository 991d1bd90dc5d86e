package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
)

// newParityDisableCommand builds `parity disable`.
func newParityDisableCommand(g *globalOptions) *cobra.Command {
	disable := &cobra.Command{
		Use:   "disable",
		Short: "Switch parity off and remove every parity file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, exclusive("parity disable"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				n, err := r.Parity().Disable(ctx)
				if err != nil {
					return err
				}
				if g.json {
					return jsonOut(g, struct {
						Removed int `json:"parity_files_removed"`
					}{n})
				}
				g.printf("parity disabled; %d parity files removed\n", n)
				return nil
			})
		},
	}
	return disable
}
