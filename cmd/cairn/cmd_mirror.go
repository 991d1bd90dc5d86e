package main

import (
	"github.com/spf13/cobra"
)

func newMirrorCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Manage the mirror repositories that `copy --mirrors` keeps up to date",
		Long: `Mirrors are other repositories (another disk, another site, another
provider) listed in this repository's config. "cairn copy --mirrors" copies
new snapshots to each of them, "cairn check --mirrors" says which snapshots
each lacks. A mirror shares this repository's password unless
--mirror-password-file or --mirror-password-command (or the profile's
mirror-password-file / mirror-password-command) says otherwise. The config
stores a mirror's location only: where its password comes from is always
given on this machine, never read from a repository.`,
	}
	cmd.AddCommand(newMirrorAddCommand(g), newMirrorListCommand(g), newMirrorRemoveCommand(g))
	return cmd
}
