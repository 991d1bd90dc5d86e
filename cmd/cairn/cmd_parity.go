package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/parity"
)

func newParityCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "parity",
		Short: "Protect the repository's files with Reed-Solomon parity",
		Long: `Parity protects each pack, index and snapshot file with a parity file: the
file is cut into K data shards and M parity shards are computed, so up to
M damaged shards (bit rot, a bad sector, a truncated upload) are rebuilt
byte for byte. "check --read-data" says which parts of a damaged file are
bad, "repair packs/index/snapshots" rebuild from parity first, and
restore reads through parity on the fly.

  cairn parity enable [--data 10 --parity 2]   new files get parity from now on
  cairn parity update                          add parity to older files (resumable)
  cairn parity status                          what is protected, and the space it takes
  cairn parity disable                         switch it off and remove all parity files`,
	}
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
			return g.withSession(ctx, session{lock: repo.ExclusiveLock, command: "parity enable"}, func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				st, err := r.ParityState(ctx)
				if err != nil {
					return err
				}
				var need int64
				for _, m := range st.Missing {
					need += p.Size(m.Size)
				}
				g.printf("parity %s: each file gets a parity file of %.0f%% of its size (up to %d damaged shards of %d can be rebuilt)\n",
					p, 100*float64(p.M)/float64(p.K), p.M, p.K+p.M)
				if err := r.UpdateConfig(ctx, func(c *repo.Config) error { c.Parity = p; return nil }); err != nil {
					return err
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
			err := g.withSession(ctx, session{lock: repo.SharedLock, command: "parity update"}, func(ctx context.Context, s *repo.Session) (err error) {
				res, err = s.Repository().UpdateParity(ctx, !noVerify, g.parityProgress())
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
					g.warnf("damage: %s does not match its name; it was not given new parity\n", d)
				}
				return &exitError{code: exitDamage, err: fmt.Errorf("parity update: %d damaged files: %w", len(res.Damaged), repo.ErrDamaged),
					hint: "run `cairn check --read-data`, then `cairn repair packs|index|snapshots`"}
			}
			return nil
		},
	}
	update.Flags().BoolVar(&noVerify, "no-verify", false, "only add missing parity; don't read the existing parity files")
	disable := &cobra.Command{
		Use:   "disable",
		Short: "Switch parity off and remove every parity file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, session{lock: repo.ExclusiveLock, command: "parity disable"}, func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				n, err := r.DisableParity(ctx)
				if err != nil {
					return err
				}
				g.printf("parity disabled; %d parity files removed\n", n)
				return nil
			})
		},
	}
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
			st, err := r.ParityState(ctx)
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
	cmd.AddCommand(enable, update, disable, status)
	return cmd
}

func sizeOfProtected(st *repo.ParityState) int64 {
	var n int64
	for name := range st.Present {
		n += st.Sizes[name]
	}
	return n
}

// parityStatus is the JSON shape of `parity status` and of the parity
// part of `stats`.
type parityStatus struct {
	Enabled     bool          `json:"enabled"`
	Params      parity.Params `json:"params"`
	Files       int           `json:"files"`
	Bytes       int64         `json:"bytes"`
	Protected   int           `json:"protected"`
	ParityFiles int           `json:"parity_files"`
	ParityBytes int64         `json:"parity_bytes"`
	Orphans     int           `json:"orphans"`
	OverheadPct float64       `json:"overhead_percent"`
}

func parityView(r *repo.Repository, st *repo.ParityState) parityStatus {
	return parityStatus{Enabled: r.Config().Parity.Enabled(), Params: r.Config().Parity, Files: st.Files, Bytes: st.Bytes,
		Protected: st.Protected, ParityFiles: st.ParityFiles, ParityBytes: st.ParityBytes, Orphans: len(st.Orphans),
		OverheadPct: 100 * float64(st.ParityBytes) / float64(max(1, st.Bytes))}
}

// parityProgress shows "parity update: n/m files" on a terminal.
func (g *globalOptions) parityProgress() repo.ParityProgress {
	if g.quiet || g.json || g.env.StdoutIsTerminal == nil || !g.env.StdoutIsTerminal() {
		return nil
	}
	var last time.Time
	return func(done, total int) {
		if now := time.Now(); done == total || now.Sub(last) > 200*time.Millisecond {
			last = now
			g.progress.mu.Lock()
			fmt.Fprintf(g.env.Stdout, "\r\x1b[Kparity update: %d/%d files", done, total)
			g.progress.shown = true
			g.progress.mu.Unlock()
		}
	}
}
