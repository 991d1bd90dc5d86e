package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/parity"
)

// parityEnabled is the JSON shape of `parity enable`: the parameters and
// what `parity update` would add for the files written before.
type parityEnabled struct {
	Params           parity.Params `json:"params"`
	OverheadPct      float64       `json:"overhead_percent"`
	Unprotected      int           `json:"unprotected_files"`
	UnprotectedBytes int64         `json:"unprotected_bytes"`
	UpdateBytes      int64         `json:"update_parity_bytes"`
}

// newParityEnableCommand builds `parity enable`.
func newParityEnableCommand(g *globalOptions) *cobra.Command {
	var p parity.Params
	enable := &cobra.Command{
		Use:   "enable",
		Short: "Give every file written from now on a parity file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := p.Validate(); err != nil {
				return fmt.Errorf("parity enable: %w", err)
			}
			return g.withSession(ctx, exclusive("parity enable"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				st, err := r.Parity().State(ctx)
				if err != nil {
					return err
				}
				var need int64
				for _, m := range st.Missing {
					need += p.Size(m.Size)
				}
				g.printf("parity %s: each file gets a parity file of %.0f%% of its size (up to %d damaged shards of %d can be rebuilt)\n",
					p, 100*float64(p.M)/float64(p.K), p.M, p.K+p.M)
				if err := r.Parity().Enable(ctx, p); err != nil {
					return err
				}
				if g.json {
					return jsonOut(g, parityEnabled{Params: p, OverheadPct: 100 * float64(p.M) / float64(p.K),
						Unprotected: len(st.Missing), UnprotectedBytes: st.Bytes - sizeOfProtected(st), UpdateBytes: need})
				}
				g.printf("parity enabled: files written from now on get parity\n")
				if len(st.Missing) > 0 {
					g.printf("%d files (%s) were written before; `cairn parity update` protects them, adding %s (%.1f%% of the repository)\n",
						len(st.Missing), formatBytes(st.Bytes-sizeOfProtected(st)), formatBytes(need), 100*float64(need)/float64(max(1, st.Bytes)))
				}
				return nil
			})
		},
	}
	enable.Flags().IntVar(&p.K, "data", parity.Default.K, "data shards per file (`K`)")
	enable.Flags().IntVar(&p.M, "parity", parity.Default.M, "parity shards per file (`M`): damaged shards that can be rebuilt")
	return enable
}
