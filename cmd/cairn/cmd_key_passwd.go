package main

import (
	"github.com/spf13/cobra"
)

// newKeyPasswdCommand builds `key passwd`.
func newKeyPasswdCommand(g *globalOptions) *cobra.Command {
	var newPasswordFile string
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the password of the key in use",
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
			old := r.KeyID()
			id, err := r.Keys().ChangePassword(cmd.Context(), pw, defaultKDF())
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(g, keyChange{Added: id, Removed: old})
			}
			g.printf("saved new key %s, removed the old one\n", id[:8])
			return nil
		},
	}
	passwd.Flags().StringVar(&newPasswordFile, "new-password-file", "", "read the new password from `file`")
	return passwd
}
