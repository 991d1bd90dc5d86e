package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func newStatsCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	cmd := &cobra.Command{
		Use:   "stats [SNAPSHOT...]",
		Short: "Show sizes: restore size, unique stored data, dedup ratio, generations",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, reading("stats"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				var err error
				sns, err := g.selectSnapshots(ctx, r, args, o.filter())
				if err != nil {
					return err
				}
				st, err := snapshot.ComputeStats(ctx, r, sns)
				if err != nil {
					return err
				}
				// Parity space, when there is parity.
				var ps *parityStatus
				if pst, err := r.Parity().State(ctx); err != nil {
					return err
				} else if r.Config().Parity.Enabled() || pst.ParityFiles > 0 {
					v := parityView(r, pst)
					ps = &v
				}
				if g.json {
					return jsonOut(g, struct {
						snapshot.Stats
						Parity *parityStatus `json:"parity,omitempty"`
					}{st, ps})
				}
				if !g.quiet {
					writeStats(g.env.Stdout, st)
					if ps != nil {
						fmt.Fprintf(g.env.Stdout, "Parity:             %s in %d files (%.1f%% of %s), %d of %d files protected\n",
							formatBytes(ps.ParityBytes), ps.ParityFiles, ps.OverheadPct, formatBytes(ps.Bytes), ps.Protected, ps.Files)
					}
				}
				return nil
			})
		},
	}
	o.addFlags(cmd)
	return cmd
}

func writeStats(w io.Writer, st snapshot.Stats) {
	fmt.Fprintf(w, "Snapshots:          %d\n", st.Snapshots)
	fmt.Fprintf(w, "Files:              %d\n", st.TotalFiles)
	fmt.Fprintf(w, "Restore size:       %s\n", formatBytes(st.RestoreSize))
	fmt.Fprintf(w, "Unique data:        %s in %d data and %d tree blobs\n", formatBytes(st.UniqueSize), st.DataBlobs, st.TreeBlobs)
	fmt.Fprintf(w, "Stored size:        %s\n", formatBytes(st.StoredSize))
	fmt.Fprintf(w, "Dedup ratio:        %.2fx\n", st.DedupRatio)
	fmt.Fprintf(w, "Compression ratio:  %.2fx\n", st.Compression)
	fmt.Fprintf(w, "Generations:\n")
	for _, gs := range st.Generations {
		fmt.Fprintf(w, "  %s  %3d snapshots  %5d packs  %7d blobs  %s\n", gs.Generation.Short(), gs.Snapshots, gs.Packs, gs.Blobs, formatBytes(gs.StoredSize))
	}
}
