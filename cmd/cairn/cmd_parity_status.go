package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newParityStatusCommand builds `parity status`.
func newParityStatusCommand(g *globalOptions) *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the parity settings, what is protected and the space it takes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo(ctx)
			if err != nil {
				return err
			}
			st, err := r.Parity().State(ctx)
			if err != nil {
				return err
			}
			v := parityView(r, st)
			if g.json {
				return jsonOut(g, v)
			}
			w := g.env.Stdout
			if v.Enabled {
				fmt.Fprintf(w, "parity:            %s (%d data + %d parity shards per file)\n", v.Params, v.Params.K, v.Params.M)
			} else {
				fmt.Fprintf(w, "parity:            off\n")
			}
			fmt.Fprintf(w, "protected files:   %d of %d\n", v.Protected, v.Files)
			fmt.Fprintf(w, "parity files:      %d, %s (%.1f%% of %s)\n", v.ParityFiles, formatBytes(v.ParityBytes), v.OverheadPct, formatBytes(v.Bytes))
			if v.Orphans > 0 {
				fmt.Fprintf(w, "orphaned parity:   %d (removed by `cairn parity update`)\n", v.Orphans)
			}
			if v.Enabled && v.Protected < v.Files {
				fmt.Fprintf(w, "run `cairn parity update` to protect the other %d files\n", v.Files-v.Protected)
			}
			return nil
		},
	}
	return status
}
