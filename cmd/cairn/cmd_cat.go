package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

func newCatCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cat config|index ID|snapshot ID|tree ID|blob ID|key ID",
		Short: "Print repository objects, for debugging",
		Long: `Print the decrypted content of a repository object:
config, index ID (as JSON), snapshot ID, tree ID (a tree blob, or
SNAPSHOT:PATH), blob ID (raw data blob bytes), key ID (the key file).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			what := args[0]
			if what != "config" && len(args) != 2 {
				return fmt.Errorf("cat %s: an ID is required", what)
			}
			need := session{command: "cat"}
			if what == "tree" || what == "blob" {
				need.lock, need.index = repo.SharedLock, true
			}
			return g.withSession(ctx, need, func(ctx context.Context, s *repo.Session) error {
				return catObject(ctx, g, s.Repository(), what, args)
			})
		},
	}
}

func catObject(ctx context.Context, g *globalOptions, r *repo.Repository, what string, args []string) error {
	switch what {
	case "config":
		return printJSON(g, r.Config())
	case "index":
		id, err := r.FindID(ctx, backend.IndexFile, args[1])
		if err != nil {
			return err
		}
		f, err := r.LoadIndexFile(ctx, id)
		if err != nil {
			return err
		}
		return printJSON(g, f)
	case "snapshot":
		sn, err := snapshot.Find(ctx, r, args[1], snapshot.Filter{})
		if err != nil {
			return err
		}
		return printJSON(g, viewOf(sn))
	case "key":
		id, err := r.FindID(ctx, backend.KeyFile, args[1])
		if err != nil {
			return err
		}
		b, err := r.LoadFile(ctx, backend.Handle{Type: backend.KeyFile, Name: id.String()})
		if err != nil {
			return err
		}
		_, err = g.env.Stdout.Write(b)
		return err
	case "tree":
		id, err := pack.ParseID(args[1])
		if err != nil {
			ref, p := snapshot.SplitRef(args[1])
			sn, ferr := snapshot.Find(ctx, r, ref, snapshot.Filter{})
			if ferr != nil {
				return ferr
			}
			node, _, ferr := snapshot.FindNode(ctx, r, sn.Tree, p)
			if ferr != nil {
				return ferr
			}
			if node.Subtree == nil {
				return fmt.Errorf("cat tree %s: not a directory", args[1])
			}
			id = *node.Subtree
		}
		t, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			return err
		}
		return printJSON(g, t)
	case "blob":
		id, err := pack.ParseID(args[1])
		if err != nil {
			return err
		}
		b, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
		if err != nil {
			return err
		}
		_, err = g.env.Stdout.Write(b)
		return err
	}
	return fmt.Errorf("cat: unknown object type %q: want config, index, snapshot, tree, blob or key", what)
}

func printJSON(g *globalOptions, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.env.Stdout, "%s\n", b)
	return err
}
