package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/crypto"
)

type initOptions struct {
	packSizeMiB     int
	newPasswordFile string
}

func newInitCommand(g *globalOptions) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd, g, o)
		},
	}
	cmd.Flags().IntVar(&o.packSizeMiB, "pack-size", 16, "target pack size in `MiB`")
	cmd.Flags().StringVar(&o.newPasswordFile, "new-password-file", "", "read the password of the new repository from `file`")
	return cmd
}

func runInit(cmd *cobra.Command, g *globalOptions, o initOptions) error {
	ctx := cmd.Context()
	be, err := g.openBackend(ctx)
	if err != nil {
		return err
	}
	pw, err := g.newPassword(o.newPasswordFile)
	if err != nil {
		return err
	}
	r, err := repo.Init(ctx, be, pw, repo.InitOptions{
		PackSize: o.packSizeMiB << 20, Compression: g.compression, Now: g.env.Now(), KDF: defaultKDF(),
	})
	if err != nil {
		return err
	}
	if g.json {
		return json.NewEncoder(g.env.Stdout).Encode(map[string]string{
			"message_type": "initialized", "id": r.Config().ID, "repository": be.Location()})
	}
	g.printf("created cairn repository %s at %s\n", r.Config().ID[:10], be.Location())
	g.printf("Keep the password safe: without it the data in this repository can't be read.\n")
	return nil
}

func jsonOut(g *globalOptions, v any) error {
	enc := json.NewEncoder(g.env.Stdout)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// defaultKDF returns the KDF parameters for new keys.
func defaultKDF() crypto.KDFParams {
	return crypto.DefaultKDF
}
