package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/termsafe"
)

// newKeyListCommand builds `key list`.
func newKeyListCommand(g *globalOptions) *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			keys, err := r.Keys().List(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				if keys == nil {
					keys = []repo.KeyInfo{}
				}
				return jsonOut(g, keys)
			}
			tw := tabwriter.NewWriter(g.env.Stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, " ID\tUser\tHost\tCreated")
			for _, k := range keys {
				mark := " "
				if k.Current {
					mark = "*"
				}
				id := k.ID
				if len(id) > 8 {
					id = id[:8]
				}
				if k.Error != "" {
					fmt.Fprintf(tw, "!%s\tunreadable: %s\t\t\n", termsafe.Name(id), termsafe.Name(k.Error))
					continue
				}
				fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", mark, termsafe.Name(id), termsafe.Name(k.Username), termsafe.Name(k.Hostname), k.Created.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	return list
}
