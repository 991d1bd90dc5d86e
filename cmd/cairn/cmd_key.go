package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/cairn-backup/cairn/repo"
	"github.com/spf13/cobra"
)

func newKeyCommand(g *globalOptions) *cobra.Command {
	var newPasswordFile string
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the keys (passwords) of a repository",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			keys, err := r.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
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
					fmt.Fprintf(tw, "!%s\tunreadable: %s\t\t\n", safeName(id), safeName(k.Error))
					continue
				}
				fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", mark, safeName(id), safeName(k.Username), safeName(k.Hostname), k.Created.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
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
			id, err := r.AddKey(cmd.Context(), pw, defaultKDF())
			if err != nil {
				return err
			}
			g.printf("saved new key %s\n", id[:8])
			return nil
		},
	}
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
			id, err := r.ChangePassword(cmd.Context(), pw, defaultKDF())
			if err != nil {
				return err
			}
			g.printf("saved new key %s, removed the old one\n", id[:8])
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key (not the one in use)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withSession(cmd.Context(), session{lock: repo.ExclusiveLock, command: "key remove"}, func(ctx context.Context, s *repo.Session) error {
				r := s.Repository()
				id, err := r.FindKey(ctx, args[0])
				if err != nil {
					return fmt.Errorf("remove key %s: %w", args[0], err)
				}
				if err := r.RemoveKey(ctx, id); err != nil {
					return err
				}
				g.printf("removed key %s\n", id[:8])
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{add, passwd} {
		c.Flags().StringVar(&newPasswordFile, "new-password-file", "", "read the new password from `file`")
	}
	cmd.AddCommand(list, add, passwd, remove)
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
