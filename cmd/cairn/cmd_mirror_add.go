package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/job"
)

// mirrorChange is the JSON shape of `mirror add` and `mirror remove`.
type mirrorChange struct {
	Added   string `json:"added,omitempty"`
	Removed string `json:"removed,omitempty"`
	// Initialized is the ID of the repository `mirror add --init` created.
	Initialized string `json:"initialized,omitempty"`
}

// newMirrorAddCommand builds `mirror add`.
func newMirrorAddCommand(g *globalOptions) *cobra.Command {
	var add struct {
		init, noCheck bool
	}
	addCmd := &cobra.Command{
		Use:   "add LOCATION",
		Short: "Add a mirror repository",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			m := repo.Mirror{Location: args[0]}
			// cron runs elsewhere: keep local paths absolute.
			if location.Split(m.Location) == "local" {
				m.Location, _ = filepath.Abs(strings.TrimPrefix(m.Location, "local:"))
			}
			return g.withSession(ctx, exclusive("mirror add"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				self, _ := g.repoLocation()
				if err := r.CheckMirror(m, self); err != nil {
					return err
				}
				gm := g.other(g.mirrorSource(m))
				out := mirrorChange{Added: m.Location}
				switch {
				case add.init:
					be, err := gm.openBackend(ctx)
					if err != nil {
						return err
					}
					pw, err := gm.password("enter password for the new mirror: ")
					if err != nil {
						return err
					}
					cfg := r.Config()
					mr, err := repo.Init(ctx, be, pw, repo.InitOptions{Chunker: &cfg, PackSize: cfg.PackSize,
						Compression: cfg.Compression, Now: g.env.Now(), KDF: defaultKDF()})
					if err != nil {
						return fmt.Errorf("mirror add --init: %w", err)
					}
					out.Initialized = mr.Config().ID
					g.printf("created mirror repository %s at %s (with this repository's chunker parameters)\n", mr.Config().ID[:10], m.Location)
				case !add.noCheck:
					if _, err := gm.openRepo(ctx); err != nil {
						return fmt.Errorf("mirror add: open %s: %w", m.Location, job.MirrorOpenError(m.Location, err))
					}
				}
				if err := r.AddMirror(ctx, m, self); err != nil {
					return err
				}
				if g.json {
					return jsonOut(g, out)
				}
				g.printf("added mirror %s; `cairn copy --mirrors` brings it up to date\n", m.Location)
				return nil
			})
		},
	}
	addCmd.Flags().BoolVar(&add.init, "init", false, "create the mirror repository, with this repository's chunker parameters")
	addCmd.Flags().BoolVar(&add.noCheck, "no-check", false, "don't check that the mirror can be opened now")
	return addCmd
}
