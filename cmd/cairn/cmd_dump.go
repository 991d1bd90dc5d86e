package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func newDumpCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	var archive string
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT PATH",
		Short: "Write a file, or a directory as an archive, to stdout",
		Long: `Write the file at PATH in SNAPSHOT to stdout, or the directory at PATH as a
tar (default) or zip stream:

  cairn dump latest /var/db/dump.sql | psql
  cairn dump latest /etc | tar -x`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if archive != restorer.FormatTar && archive != restorer.FormatZip {
				return fmt.Errorf("dump: invalid --archive %q: want tar or zip", archive)
			}
			return g.withSession(ctx, reading("dump"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				var err error
				sn, err := snapshot.Find(ctx, r, args[0], o.filter())
				if err != nil {
					return err
				}
				node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, args[1])
				if err != nil {
					return fmt.Errorf("dump: snapshot %s: %w", sn.ID().Short(), err)
				}
				out := bufio.NewWriterSize(g.env.Stdout, 1<<20)
				switch node.Type {
				case snapshot.TypeFile:
					err = restorer.WriteContent(ctx, r, node, out)
				case snapshot.TypeDir:
					name := path.Base(clean)
					if clean == "/" {
						name = ""
					}
					err = restorer.Dump(ctx, r, node, name, archive, out)
				default:
					err = errors.New("not a file or directory")
				}
				if err != nil {
					return fmt.Errorf("dump %s in snapshot %s: %w", clean, sn.ID().Short(), err)
				}
				return out.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&archive, "archive", "a", "tar", "archive `format` for directories: tar or zip")
	o.addFlags(cmd)
	return cmd
}
