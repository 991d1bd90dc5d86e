package main

import (
	"context"
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
	var readData, mirrors bool
	var subset string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository",
		Long: `Verify the repository: file names against the SHA-256 of their bytes, the
index against the packs, and every snapshot's trees and blobs. With
--read-data every pack is downloaded and every blob authenticated,
decompressed and checked against its ID; --read-data-subset n/m, P% or SIZE
reads a share (n/m for m runs that together read every pack once).
With parity on, files without parity are reported, parity files are
read and checked with the packs, and the parity of a damaged file says
which parts are bad and whether "repair" can rebuild it.
--mirrors also says, for each mirror, which snapshots it lacks.
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
			var lags []mirrorLag
			err := g.withSession(ctx, session{lock: repo.SharedLock, index: true, keepMissing: true, command: "check"}, func(ctx context.Context, s *repo.Session) (err error) {
				r := s.Repository()
				rep, err = checker.Check(ctx, r, o)
				if err == nil && mirrors {
					lags, err = checkMirrors(ctx, g, r)
				}
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				var out any = rep
				if mirrors {
					out = struct {
						*checker.Report
						Mirrors []mirrorLag `json:"mirrors"`
					}{rep, lags}
				}
				if err := jsonOut(g, out); err != nil {
					return err
				}
			} else {
				writeCheck(g.env.Stdout, g.env.Stderr, rep, g.quiet)
				writeMirrorLags(g, lags)
			}
			if !rep.Damaged() {
				for _, l := range lags {
					if l.Error != "" {
						return fmt.Errorf("check --mirrors: mirror %s can't be read: %s", l.Mirror, l.Error)
					}
				}
			}
			if rep.Damaged() {
				return &exitError{code: exitDamage, err: fmt.Errorf("check: %d problems found: %w", len(rep.Errors), checker.ErrDamage),
					hint: "`cairn repair index` rebuilds a lost or damaged index; `cairn repair packs ID…` rebuilds packs from parity or, without it, `cairn repair snapshots` then cuts out damaged data"}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "read and verify every blob of every pack")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "read only a `subset` of the packs: n/m, P% or SIZE")
	cmd.Flags().BoolVar(&mirrors, "mirrors", false, "also say which snapshots each mirror lacks")
	return cmd
}

func writeMirrorLags(g *globalOptions, lags []mirrorLag) {
	for _, l := range lags {
		switch {
		case l.Error != "":
			g.warnf("error: mirror %s can't be read: %s\n", l.Mirror, l.Error)
		case len(l.Missing) == 0:
			g.printf("mirror %s: up to date (%d snapshots)\n", l.Mirror, l.Snapshots)
		default:
			g.printf("mirror %s lacks %d snapshots: %s; `cairn copy --mirrors` copies them\n", l.Mirror, len(l.Missing), strings.Join(l.Missing, " "))
		}
	}
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
			err := g.withSession(ctx, session{lock: repo.ExclusiveLock, command: "repair index"}, func(ctx context.Context, s *repo.Session) (err error) {
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
	cmd.AddCommand(indexCmd)
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
			err := g.withSession(ctx, session{lock: repo.ExclusiveLock, index: true, command: "repair snapshots"}, func(ctx context.Context, s *repo.Session) (err error) {
				r := s.Repository()
				if fixed, err = checker.RepairFromParity(ctx, r, backend.SnapshotFile, nil); err != nil {
					return err
				}
				if !g.json {
					writeParityRepairs(g, fixed)
				}
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
	packs := &cobra.Command{
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
			err := g.withSession(ctx, session{lock: repo.ExclusiveLock, index: true, command: "repair packs"}, func(ctx context.Context, s *repo.Session) error {
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
	cmd.AddCommand(snaps, packs)
	return cmd
}

func writeParityRepairs(g *globalOptions, fixed []checker.FileRepair) {
	for _, f := range fixed {
		if f.Rebuilt {
			g.printf("%s: rebuilt byte for byte from its parity file (%s)\n", f.File, f.Damage)
		} else {
			g.warnf("%s is damaged; parity could not rebuild it: %s\n", f.File, f.Error)
		}
	}
}
