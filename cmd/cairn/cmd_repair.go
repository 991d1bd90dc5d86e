package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/checker"
)

func newRepairCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Repair a damaged repository",
	}
	cmd.AddCommand(newRepairIndexCommand(g), newRepairSnapshotsCommand(g), newRepairPacksCommand(g))
	return cmd
}

func newRepairIndexCommand(g *globalOptions) *cobra.Command {
	var readAll bool
	indexCmd := &cobra.Command{
		Use:   "index",
		Short: "Rebuild damaged index files from parity, or the index from the pack headers",
		Long: `Damaged index files with parity are rebuilt from it first. If the index is
then whole (every index file intact and every pack indexed), nothing else
is done; otherwise (or with --read-all-packs) the index is rebuilt from the
headers of all packs, superseding every old index file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var res *checker.IndexRepair
			// The index is loaded by the repair, under the lock: it may be
			// what is damaged.
			err := g.withSession(ctx, exclusive("repair index"), func(ctx context.Context, s *repo.Session) (err error) {
				res, err = checker.RepairIndex(ctx, s.Repository(), readAll)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(g, res)
			}
			writeParityRepairs(g, res.Parity)
			for _, id := range res.MissingPacks {
				g.printf("removed the index entries of missing pack %s\n", id)
			}
			if !res.Rebuilt && len(res.MissingPacks) > 0 {
				g.printf("the index now names the %d packs there are (%d blobs)\n", res.Packs, res.Blobs)
				return nil
			}
			if !res.Rebuilt {
				g.printf("the index is whole (%d blobs in %d packs); no rebuild needed\n", res.Blobs, res.Packs)
				return nil
			}
			g.printf("indexed %d blobs in %d packs, replacing %d index files\n", res.Blobs, res.Packs, res.OldIndexFile)
			for _, u := range res.Unreadable {
				g.warnf("damage: pack %s\n", u)
			}
			if len(res.Unreadable) > 0 {
				return &exitError{code: exitDamage, err: errors.New("repair index: some pack headers are unreadable"),
					hint: "run `cairn check` to see which snapshots need them"}
			}
			return nil
		},
	}
	indexCmd.Flags().BoolVar(&readAll, "read-all-packs", false, "rebuild from the pack headers even if the index is whole")
	return indexCmd
}

func newRepairSnapshotsCommand(g *globalOptions) *cobra.Command {
	var forget bool
	snaps := &cobra.Command{
		Use:   "snapshots",
		Short: "Rewrite snapshots that reference missing data",
		Long: `Rewrite every snapshot whose trees reference missing blobs: a damaged file
keeps the blobs that exist (a truncated copy), a lost directory becomes
empty. The new snapshot lists the damaged paths in its summary, is tagged
"repaired" and records the original's ID; --forget removes the originals.
Run "repair packs" first for packs that check --read-data reports damaged.
Damaged snapshot files with parity are first rebuilt from it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var res []checker.SnapshotRepair
			var fixed []checker.FileRepair
			// The session drops the entries of missing packs: their blobs
			// count as lost.
			err := g.withSession(ctx, exclusive("repair snapshots").indexed(true), func(ctx context.Context, s *repo.Session) (err error) {
				r := s.Repository()
				if fixed, err = checker.RepairFromParity(ctx, r, backend.SnapshotFile, nil); err != nil {
					return err
				}
				writeParityRepairs(g, fixed)
				res, err = checker.RepairSnapshots(ctx, r, forget)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				if res == nil {
					res = []checker.SnapshotRepair{}
				}
				if err := jsonOut(g, res); err != nil {
					return err
				}
			} else {
				for _, s := range res {
					g.printf("snapshot %s -> %s (%d damaged paths)\n", s.Snapshot, s.NewSnapshot, len(s.Damaged))
					for _, d := range s.Damaged {
						g.printf("  %s\n", d)
					}
				}
				g.printf("%d snapshots repaired\n", len(res))
			}
			for _, f := range fixed {
				if !f.Rebuilt {
					return &exitError{code: exitDamage, err: fmt.Errorf("repair snapshots: %s is damaged and parity could not rebuild it: %w", f.File, repo.ErrDamaged),
						hint: "the data it references is intact; `cairn snapshots` lists the readable snapshots"}
				}
			}
			return nil
		},
	}
	snaps.Flags().BoolVar(&forget, "forget", false, "remove the original snapshots")
	return snaps
}

func newRepairPacksCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "packs ID...",
		Short: "Rebuild damaged packs from parity, or salvage their good blobs into new packs",
		Long: `A damaged or truncated pack with a parity file is rebuilt byte for byte
when at most M of its K+M shards are damaged; the result must match the
pack's name before it replaces anything. Otherwise the good blobs are
salvaged into new packs of the same generation and the pack is removed;
"repair snapshots" then cuts the lost blobs out of the snapshots.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var res []checker.PackRepair
			err := g.withSession(ctx, exclusive("repair packs").indexed(true), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				var ids []pack.ID
				for _, a := range args {
					id, err := r.FindID(ctx, backend.PackFile, a)
					if err != nil {
						return fmt.Errorf("repair packs: %w", err)
					}
					ids = append(ids, id)
				}
				var err error
				res, err = checker.RepairPacks(ctx, r, ids)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				if res == nil {
					res = []checker.PackRepair{}
				}
				return jsonOut(g, res)
			}
			lost := false
			for _, p := range res {
				if p.Rebuilt {
					g.printf("pack %s: rebuilt byte for byte from its parity file (%s)\n", p.Pack, p.Parity)
					continue
				}
				if p.Parity != "" {
					g.printf("pack %s: parity could not rebuild it: %s\n", p.Pack, p.Parity)
				}
				g.printf("pack %s: %d blobs saved, %d lost\n", p.Pack, p.Saved, p.Lost)
				lost = lost || p.Lost > 0
			}
			if lost {
				g.printf("next: run `cairn repair snapshots` for the snapshots that needed lost blobs\n")
			}
			return nil
		},
	}
}

// writeParityRepairs says which files parity rebuilt; under --json as
// notes on stderr (the JSON on stdout has no room for them).
func writeParityRepairs(g *globalOptions, fixed []checker.FileRepair) {
	for _, f := range fixed {
		if f.Rebuilt && g.json {
			g.warnf("note: %s: rebuilt byte for byte from its parity file (%s)\n", f.File, f.Damage)
		} else if f.Rebuilt {
			g.printf("%s: rebuilt byte for byte from its parity file (%s)\n", f.File, f.Damage)
		} else {
			g.warnf("%s is damaged; parity could not rebuild it: %s\n", f.File, f.Error)
		}
	}
}
