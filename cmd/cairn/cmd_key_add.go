package main

import (
	"github.com/spf13/cobra"
)

// keyChange is the JSON shape of `key add`, `key passwd` and `key
// remove`: the full IDs of the key added and the key removed.
type keyChange struct {
	Added   string `json:"added,omitempty"`
	Removed string `json:"removed,omitempty"`
}

// newKeyAddCommand builds `key add`.
func newKeyAddCommand(g *globalOptions) *cobra.Command {
	var newPasswordFile string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a key (a new password) to the repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			pw, err := g.newPasswordNotCurrent(newPasswordFile)
			if err != nil {
				return err
			}
			id, err := r.Keys().Add(cmd.Context(), pw, defaultKDF())
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(g, keyChange{Added: id})
			}
			g.printf("saved new key %s\n", id[:8])
			return nil
		},
	}
	add.Flags().StringVar(&newPasswordFile, "new-password-file", "", "read the new password from `file`")
	return add
}
