package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
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
			need := unlocked("cat")
			if job.CatNeedsIndex(what) {
				need = reading("cat")
			}
			return g.withSession(ctx, need, func(ctx context.Context, s *repo.Session) error {
				return catObject(ctx, g, s.Repository(), what, args)
			})
		},
	}
}

func catObject(ctx context.Context, g *globalOptions, r *repo.Repository, what string, args []string) error {
	ref := ""
	if len(args) > 1 {
		ref = args[1]
	}
	v, raw, err := job.Cat(ctx, r, what, ref)
	switch {
	case err != nil:
		return err
	case v == nil:
		_, err = g.env.Stdout.Write(raw)
		return err
	}
	if sn, ok := v.(*snapshot.Snapshot); ok {
		v = viewOf(sn)
	}
	return printJSON(g, v)
}

func printJSON(g *globalOptions, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.env.Stdout, "%s\n", b)
	return err
}
