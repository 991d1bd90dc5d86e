package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/job"
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
				if err := job.ParseSubset(subset, &o); err != nil {
					return err
				}
			}
			var rep *checker.Report
			var lags []mirrorLag
			err := g.withSession(ctx, reading("check").keepingMissing(), func(ctx context.Context, s *repo.Session) (err error) {
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
