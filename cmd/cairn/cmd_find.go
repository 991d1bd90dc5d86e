package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
	"github.com/cairn-backup/cairn/repo/termsafe"
)

type findMatch struct {
	Snapshot string         `json:"snapshot"`
	Path     string         `json:"path"`
	Node     *snapshot.Node `json:"node"`
}

func newFindCommand(g *globalOptions) *cobra.Command {
	var o filterOptions
	var snaps []string
	var newest, oldest string
	var ignoreCase bool
	cmd := &cobra.Command{
		Use:   "find [flags] PATTERN...",
		Short: "Find files and directories in snapshots",
		Long: `Find paths matching any PATTERN in every snapshot (or those given with
--snapshot). A pattern without / matches names at any depth ("*.conf"); one
with / matches paths ("/etc/**/*.conf"), as exclude patterns do.
--newest and --oldest limit the search by file modification time.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			m, err := snapshot.NewMatcher(args, ignoreCase)
			if err != nil {
				return fmt.Errorf("find: %w", err)
			}
			var after, before time.Time
			if oldest != "" {
				if after, err = parseTime(oldest); err != nil {
					return err
				}
			}
			if newest != "" {
				if before, err = parseTime(newest); err != nil {
					return err
				}
			}
			return g.withSession(ctx, reading("find"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				var err error
				sns, err := g.selectSnapshots(ctx, r, snaps, o.filter())
				if err != nil {
					return err
				}
				var matches []findMatch
				for _, sn := range sns {
					err := snapshot.Walk(ctx, r, sn.Tree, "/", func(p string, n *snapshot.Node) error {
						if !m.MatchName(p) {
							return nil
						}
						if (!after.IsZero() && n.ModTime.Before(after)) || (!before.IsZero() && n.ModTime.After(before)) {
							return nil
						}
						matches = append(matches, findMatch{sn.ID().Short(), p, n})
						return nil
					})
					if err != nil {
						return err
					}
				}
				if g.json {
					if matches == nil {
						matches = []findMatch{}
					}
					return jsonOut(g, matches)
				}
				if !g.quiet {
					writeFind(g.env.Stdout, matches)
				}
				return nil
			})
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringArrayVarP(&snaps, "snapshot", "s", nil, "search only snapshot `ID` (repeatable)")
	cmd.Flags().StringVar(&newest, "newest", "", "only files modified at or before `time`")
	cmd.Flags().StringVar(&oldest, "oldest", "", "only files modified at or after `time`")
	cmd.Flags().BoolVarP(&ignoreCase, "ignore-case", "i", false, "match patterns ignoring case")
	return cmd
}

func writeFind(w io.Writer, matches []findMatch) {
	last := ""
	for _, m := range matches {
		if m.Snapshot != last {
			if last != "" {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "found in snapshot %s:\n", m.Snapshot)
			last = m.Snapshot
		}
		fmt.Fprintf(w, "  %s %10d %s %s\n", m.Node.Mode, m.Node.Size, m.Node.ModTime.Local().Format("2006-01-02 15:04:05"), termsafe.Name(m.Path))
	}
	if len(matches) == 0 {
		fmt.Fprintln(w, "no matches")
	}
}
