package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/checker"
)

func newCheckCommand(g *globalOptions) *cobra.Command {
	var readData bool
	var subset string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository",
		Long: `Verify the repository: file names against the SHA-256 of their bytes, the
index against the packs, and every snapshot's trees and blobs. With
--read-data every pack is downloaded and every blob authenticated,
decompressed and checked against its ID; --read-data-subset n/m, P% or SIZE
reads a share (n/m for m runs that together read every pack once).
Damage is reported with what depends on it, and gives exit code 13.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o := checker.Options{ReadData: readData || subset != "", Now: g.env.Now}
			if subset != "" {
				if err := parseSubset(subset, &o); err != nil {
					return err
				}
			}
			var rep *checker.Report
			err := g.withLockedRepo(ctx, true, false, "check", func(r *repo.Repository) (err error) {
				rep, err = checker.Check(ctx, r, o)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				if err := jsonOut(g, rep); err != nil {
					return err
				}
			} else {
				writeCheck(g.env.Stdout, g.env.Stderr, rep, g.quiet)
			}
			if rep.Damaged() {
				return &exitError{code: exitDamage, err: fmt.Errorf("check: %d problems found: %w", len(rep.Errors), checker.ErrDamage),
					hint: "`cairn repair index` rebuilds a lost or damaged index; `cairn repair packs ID…` then `cairn repair snapshots` cut out damaged data"}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "read and verify every blob of every pack")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "read only a `subset` of the packs: n/m, P% or SIZE")
	return cmd
}

func parseSubset(s string, o *checker.Options) error {
	bad := fmt.Errorf("invalid --read-data-subset %q: want n/m (e.g. 3/30), P%% (e.g. 5%%) or a size (e.g. 10G)", s)
	switch {
	case strings.Contains(s, "/"):
		a, b, _ := strings.Cut(s, "/")
		n, err1 := strconv.Atoi(a)
		m, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || m < 1 || n < 1 || n > m {
			return bad
		}
		o.Part, o.Of = n, m
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return bad
		}
		o.Fraction = p / 100
	default:
		n, err := parseSize(s)
		if err != nil || n <= 0 {
			return bad
		}
		o.Bytes = n
	}
	return nil
}

func writeCheck(out, errw io.Writer, rep *checker.Report, quiet bool) {
	if !quiet {
		fmt.Fprintf(out, "checked %d snapshots, %d packs", rep.Snapshots, rep.Packs)
		if rep.PacksRead > 0 {
			fmt.Fprintf(out, ", read %d packs (%d blobs)", rep.PacksRead, rep.BlobsChecked)
		}
		fmt.Fprintln(out)
		for _, w := range rep.Warnings {
			fmt.Fprintf(out, "note: %s\n", w)
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(errw, "damage: %s\n", e)
	}
	if !quiet && len(rep.Errors) == 0 {
		fmt.Fprintln(out, "no errors were found")
	}
}

func newRepairCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Repair a damaged repository",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the pack headers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var res *checker.IndexRepair
			err := g.withLockedRepo(ctx, false, true, "repair index", func(r *repo.Repository) (err error) {
				res, err = checker.RepairIndex(ctx, r)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(g, res)
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
	})
	var forget bool
	snaps := &cobra.Command{
		Use:   "snapshots",
		Short: "Rewrite snapshots that reference missing data",
		Long: `Rewrite every snapshot whose trees reference missing blobs: a damaged file
keeps the blobs that exist (a truncated copy), a lost directory becomes
empty. The new snapshot lists the damaged paths in its summary, is tagged
"repaired" and records the original's ID; --forget removes the originals.
Run "repair packs" first for packs that check --read-data reports damaged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var res []checker.SnapshotRepair
			err := g.withLockedRepo(ctx, true, true, "repair snapshots", func(r *repo.Repository) (err error) {
				if _, err := r.DropMissingPacks(ctx); err != nil {
					return err
				}
				res, err = checker.RepairSnapshots(ctx, r, forget)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(g, res)
			}
			for _, s := range res {
				g.printf("snapshot %s -> %s (%d damaged paths)\n", s.Snapshot, s.NewSnapshot, len(s.Damaged))
				for _, d := range s.Damaged {
					g.printf("  %s\n", d)
				}
			}
			g.printf("%d snapshots repaired\n", len(res))
			return nil
		},
	}
	snaps.Flags().BoolVar(&forget, "forget", false, "remove the original snapshots")
	packs := &cobra.Command{
		Use:   "packs ID...",
		Short: "Salvage the good blobs of damaged packs into new packs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var res []checker.PackRepair
			err := g.withLockedRepo(ctx, true, true, "repair packs", func(r *repo.Repository) error {
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
				return jsonOut(g, res)
			}
			for _, p := range res {
				g.printf("pack %s: %d blobs saved, %d lost\n", p.Pack, p.Saved, p.Lost)
			}
			g.printf("next: run `cairn repair snapshots` for the snapshots that needed lost blobs\n")
			return nil
		},
	}
	cmd.AddCommand(snaps, packs)
	return cmd
}
