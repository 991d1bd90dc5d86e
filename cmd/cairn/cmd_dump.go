package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func newDumpCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	var archive string
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT:PATH | SNAPSHOT PATH",
		Short: "Write a file, or a directory as an archive, to stdout",
		Long: `Write the file at PATH in SNAPSHOT to stdout, or the directory at PATH as a
tar (default) or zip stream:

  cairn dump latest:/var/db/dump.sql | psql
  cairn dump latest /etc | tar -x

Stdout must be a file or a pipe: dump refuses to write to a terminal.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if archive != restorer.FormatTar && archive != restorer.FormatZip {
				return fmt.Errorf("dump: invalid --archive %q: want tar or zip", archive)
			}
			ref, p, err := dumpArgs(args)
			if err != nil {
				return err
			}
			// Checked before the password is asked: an archive or a
			// binary file would flood the terminal, and its escape
			// sequences could drive it.
			if g.env.StdoutIsTerminal != nil && g.env.StdoutIsTerminal() {
				return &exitError{code: exitFatal, err: errors.New("dump: stdout is a terminal, redirect it to a file or a pipe"),
					hint: "add `> FILE`, or pipe it on, e.g. `| tar -x`"}
			}
			return g.withSession(ctx, reading("dump"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				sn, err := snapshot.Find(ctx, r, ref, o.filter())
				if err != nil {
					return err
				}
				node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, p)
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

// dumpArgs splits dump's arguments, SNAPSHOT:PATH as for every command
// (snapshot.SplitRef; an empty PATH is the root) or SNAPSHOT PATH as
// restic takes them, into the snapshot reference and the path.
func dumpArgs(args []string) (ref, p string, err error) {
	hint := "give it as SNAPSHOT:PATH or SNAPSHOT PATH, e.g. `cairn dump latest:/etc/hosts`"
	withPath := strings.Contains(args[0], ":")
	ref, p = snapshot.SplitRef(args[0])
	switch {
	case len(args) == 2 && withPath:
		return "", "", &exitError{code: exitFatal, err: fmt.Errorf("dump %s %s: the path is given twice", args[0], args[1]), hint: hint}
	case len(args) == 2:
		return ref, args[1], nil
	case !withPath:
		return "", "", &exitError{code: exitFatal, err: fmt.Errorf("dump %s: no path given", args[0]), hint: hint}
	}
	return ref, p, nil
}
