package main

import (
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
	cmd.AddCommand(newParityEnableCommand(g), newParityUpdateCommand(g), newParityDisableCommand(g), newParityStatusCommand(g))
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
