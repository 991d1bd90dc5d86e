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

// lsEntry is the documented JSON shape of one `ls` line (README).
type lsEntry struct {
	Path       string            `json:"path"`
	Name       string            `json:"name"`
	Type       snapshot.NodeType `json:"type"`
	Mode       string            `json:"mode"`
	Size       uint64            `json:"size"`
	UID        uint32            `json:"uid"`
	GID        uint32            `json:"gid"`
	User       string            `json:"user,omitempty"`
	Group      string            `json:"group,omitempty"`
	ModTime    time.Time         `json:"mtime"`
	LinkTarget string            `json:"link_target,omitempty"`
}

func lsView(p string, n *snapshot.Node) lsEntry {
	return lsEntry{Path: p, Name: n.Name, Type: n.Type, Mode: n.Mode.String(), Size: n.Size, UID: n.UID, GID: n.GID,
		User: n.User, Group: n.Group, ModTime: n.ModTime, LinkTarget: n.LinkTarget}
}

func newLsCommand(g *globalOptions) *cobra.Command {
	var long, recursive bool
	var o filterOptions
	cmd := &cobra.Command{
		Use:   "ls SNAPSHOT[:PATH]",
		Short: "List files in a snapshot",
		Long: `List the files of a snapshot below PATH. SNAPSHOT is an ID, an ID prefix or
latest (the newest matching --host/--tag/--path). Without PATH the whole
snapshot is listed; with PATH one level, or all below it with --recursive.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.withSession(ctx, reading("ls"), func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				var err error
				ref, p := snapshot.SplitRef(args[0])
				sn, err := snapshot.Find(ctx, r, ref, o.filter())
				if err != nil {
					return err
				}
				node, clean, err := snapshot.FindNode(ctx, r, sn.Tree, p)
				if err != nil {
					return fmt.Errorf("ls %s: %w", args[0], err)
				}
				var entries []lsEntry
				if node.Type != snapshot.TypeDir {
					entries = append(entries, lsView(clean, node))
				} else {
					rec := recursive || p == ""
					err = snapshot.Walk(ctx, r, *node.Subtree, clean, func(fp string, n *snapshot.Node) error {
						entries = append(entries, lsView(fp, n))
						if n.Type == snapshot.TypeDir && !rec {
							return snapshot.ErrSkipDir
						}
						return nil
					})
					if err != nil {
						return err
					}
				}
				if g.json {
					enc := jsonEncoder(g.env.Stdout)
					for _, e := range entries {
						if err := enc.Encode(e); err != nil {
							return err
						}
					}
					return nil
				}
				if !g.quiet {
					writeLs(g.env.Stdout, entries, long)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and mtime")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list subdirectories too")
	o.addFlags(cmd)
	return cmd
}

func writeLs(w io.Writer, entries []lsEntry, long bool) {
	for _, e := range entries {
		if !long {
			fmt.Fprintln(w, termsafe.Name(e.Path))
			continue
		}
		owner := termsafe.Name(e.User)
		if owner == "" {
			owner = fmt.Sprint(e.UID)
		}
		group := termsafe.Name(e.Group)
		if group == "" {
			group = fmt.Sprint(e.GID)
		}
		name := termsafe.Name(e.Path)
		if e.LinkTarget != "" {
			name += " -> " + termsafe.Name(e.LinkTarget)
		}
		fmt.Fprintf(w, "%s %-8s %-8s %10d %s %s\n", e.Mode, owner, group, e.Size, e.ModTime.Local().Format("2006-01-02 15:04:05"), name)
	}
}
