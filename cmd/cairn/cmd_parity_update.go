package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
)

// newParityUpdateCommand builds `parity update`.
func newParityUpdateCommand(g *globalOptions) *cobra.Command {
	var noVerify bool
	update := &cobra.Command{
		Use:   "update",
		Short: "Add parity to files without it and rewrite damaged parity files",
		Long: `Write the parity files that are missing (files written before parity was
enabled, or whose parity was lost), read every existing parity file and
rewrite the damaged ones (unless --no-verify), and remove parity files
whose file is gone. Each file is done on its own: an interrupted update
resumes where it stopped. A damaged file gets no new parity (that would
protect the damage): repair it first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var res *repo.ParityUpdate
			err := g.withSession(ctx, writing("parity update").indexed(false), func(ctx context.Context, s *repo.Session) (err error) {
				res, err = s.Repository().Parity().Update(ctx, !noVerify, g.parityProgress())
				return err
			})
			g.clearProgress()
			if err != nil {
				return err
			}
			if g.json {
				if err := jsonOut(g, res); err != nil {
					return err
				}
			} else {
				g.printf("parity written for %d files (%s), %d damaged parity files rewritten, %d verified, %d orphaned removed\n",
					res.Written, formatBytes(res.Bytes), res.Replaced, res.Verified, res.Removed)
			}
			if len(res.Damaged) > 0 {
				for _, d := range res.Damaged {
					if g.json {
						break // in the JSON object
					}
					g.warnf("damage: %s does not match its name; it was not given new parity\n", d)
				}
				return &exitError{code: exitDamage, err: fmt.Errorf("parity update: %d damaged files: %w", len(res.Damaged), repo.ErrDamaged),
					hint: "run `cairn check --read-data`, then `cairn repair packs|index|snapshots`"}
			}
			return nil
		},
	}
	update.Flags().BoolVar(&noVerify, "no-verify", false, "only add missing parity; don't read the existing parity files")
	return update
}
