package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/termsafe"
)

// newMirrorListCommand builds `mirror list`.
func newMirrorListCommand(g *globalOptions) *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the mirrors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			ms := r.Config().Mirrors
			if g.json {
				if ms == nil {
					ms = []repo.Mirror{}
				}
				return jsonOut(g, ms)
			}
			for _, m := range ms {
				note := ""
				if m.PasswordFile != "" || m.PasswordCommand != "" {
					note = "\t(a password source stored by an older version: ignored)"
				}
				fmt.Fprintf(g.env.Stdout, "%s%s\n", termsafe.Name(m.Location), note)
			}
			if len(ms) == 0 && !g.quiet {
				g.printf("no mirrors\n")
			}
			return nil
		},
	}
	return list
}
