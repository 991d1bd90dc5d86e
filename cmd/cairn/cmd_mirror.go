package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
)

func newMirrorCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Manage the mirror repositories that `copy --mirrors` keeps up to date",
		Long: `Mirrors are other repositories (another disk, another site, another
provider) listed in this repository's config. "cairn copy --mirrors" copies
new snapshots to each of them, "cairn check --mirrors" says which snapshots
each lacks. A mirror shares this repository's password unless
--mirror-password-file or --mirror-password-command (or the profile's
mirror-password-file / mirror-password-command) says otherwise. The config
stores a mirror's location only: where its password comes from is always
given on this machine, never read from a repository.`,
	}
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
			return g.withSession(ctx, session{lock: repo.ExclusiveLock, command: "mirror add"}, func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				loc, _ := g.repoLocation()
				if m.Location == loc {
					return errors.New("mirror add: a repository can't be its own mirror")
				}
				if slices.ContainsFunc(r.Config().Mirrors, func(x repo.Mirror) bool { return x.Location == m.Location }) {
					return fmt.Errorf("mirror add: %s is already a mirror", m.Location)
				}
				gm := g.other(g.mirrorSource(m))
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
					g.printf("created mirror repository %s at %s (with this repository's chunker parameters)\n", mr.Config().ID[:10], m.Location)
				case !add.noCheck:
					if _, err := gm.openRepo(ctx); err != nil {
						return fmt.Errorf("mirror add: open %s: %w", m.Location, err)
					}
				}
				if err := r.UpdateConfig(ctx, func(c *repo.Config) error {
					c.Mirrors = append(c.Mirrors, m)
					return nil
				}); err != nil {
					return err
				}
				g.printf("added mirror %s; `cairn copy --mirrors` brings it up to date\n", m.Location)
				return nil
			})
		},
	}
	addCmd.Flags().BoolVar(&add.init, "init", false, "create the mirror repository, with this repository's chunker parameters")
	addCmd.Flags().BoolVar(&add.noCheck, "no-check", false, "don't check that the mirror can be opened now")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the mirrors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			ms := r.Config().Mirrors
			if g.json {
				if ms == nil {
					ms = []repo.Mirror{}
				}
				return jsonOut(g, ms)
			}
			for _, m := range ms {
				note := ""
				if m.PasswordFile != "" || m.PasswordCommand != "" {
					note = "\t(a password source stored by an older version: ignored)"
				}
				fmt.Fprintf(g.env.Stdout, "%s%s\n", safeName(m.Location), note)
			}
			if len(ms) == 0 && !g.quiet {
				g.printf("no mirrors\n")
			}
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove LOCATION",
		Short: "Remove a mirror from the list (its repository is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, session{lock: repo.ExclusiveLock, command: "mirror remove"}, func(ctx context.Context, s *repo.Session) error {
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
				g.printf("removed mirror %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(addCmd, list, remove)
	return cmd
}
