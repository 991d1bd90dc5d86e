package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newKeyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the keys (passwords) of a repository",
	}
	cmd.AddCommand(newKeyListCommand(g), newKeyAddCommand(g), newKeyPasswdCommand(g), newKeyRemoveCommand(g))
	return cmd
}

// newPasswordNotCurrent asks for a new password; unlike init, the
// current-password sources can't supply it, so it must come from
// --new-password-file or a terminal.
func (g *globalOptions) newPasswordNotCurrent(file string) (string, error) {
	if file == "" && !g.env.IsTerminal() {
		return "", &exitError{code: exitFatal, err: fmt.Errorf("no new password given"),
			hint: "pass --new-password-file FILE"}
	}
	if file != "" {
		return g.newPassword(file)
	}
	a, err := g.env.ReadPassword("enter new password: ")
	if err != nil {
		return "", err
	}
	b, err := g.env.ReadPassword("enter new password again: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", fmt.Errorf("passwords do not match")
	}
	if a == "" {
		return "", fmt.Errorf("empty password")
	}
	return a, nil
}
