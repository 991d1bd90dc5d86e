package main

import (
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json {
				return jsonOut(g, map[string]string{"version": version, "go_version": runtime.Version(),
					"os": runtime.GOOS, "arch": runtime.GOARCH})
			}
			g.printf("cairn %s compiled with %s on %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
