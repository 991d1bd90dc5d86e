package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func newLsCommand(g *globalOptions) *cobra.Command {
	var long, recursive bool
	cmd := &cobra.Command{
		Use:   "ls SNAPSHOT[:PATH]",
		Short: "List files in a snapshot",
		Long:  "List the files of a snapshot below PATH (default: all of it). SNAPSHOT is an ID, an ID prefix or latest.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo(ctx, true)
			if err != nil {
				return err
			}
			ref, p := snapshot.SplitRef(args[0])
			sn, err := snapshot.Find(ctx, r, ref, snapshot.Filter{})
			if err != nil {
				return err
			}
			node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, p)
			if err != nil {
				return fmt.Errorf("ls %s: %w", args[0], err)
			}
			enc := json.NewEncoder(g.env.Stdout)
			emit := func(full string, n *snapshot.Node) error {
				if g.json {
					return enc.Encode(struct {
						Path string `json:"path"`
						*snapshot.Node
					}{full, n})
				}
				if long {
					g.printf("%s %8d %s %s\n", n.Mode, n.Size, n.ModTime.Local().Format("2006-01-02 15:04:05"), full)
				} else {
					g.printf("%s\n", full)
				}
				return nil
			}
			if node.Type != snapshot.TypeDir {
				return emit(clean, node)
			}
			// Without --recursive a path lists one level, as ls does; the
			// whole snapshot (no path) is listed recursively, as restic does.
			rec := recursive || p == ""
			return walkTree(ctx, r, *node.Subtree, clean, rec, emit)
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, size and mtime")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list subdirectories too")
	return cmd
}

func walkTree(ctx context.Context, r *repo.Repository, id pack.ID, dir string, recursive bool, fn func(string, *snapshot.Node) error) error {
	t, err := snapshot.LoadTree(ctx, r, id)
	if err != nil {
		return err
	}
	for _, n := range t.Nodes {
		full := path.Join(dir, n.Name)
		if err := fn(full, n); err != nil {
			return err
		}
		if recursive && n.Type == snapshot.TypeDir {
			if err := walkTree(ctx, r, *n.Subtree, full, true, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
