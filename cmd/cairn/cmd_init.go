package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/crypto"
	"github.com/cairn-backup/cairn/repo/parity"
)

type initOptions struct {
	packSizeMiB     int
	newPasswordFile string
	copyChunker     bool
	from            repoSource
	parityData      int
	parityShards    int
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
	cmd.Flags().BoolVar(&o.copyChunker, "copy-chunker-params", false, "take the chunker parameters of --from-repo, so backups made here deduplicate against copies from it")
	cmd.Flags().StringVar(&o.from.location, "from-repo", "", "source repository `location` for --copy-chunker-params (default $CAIRN_FROM_REPOSITORY)")
	cmd.Flags().StringVar(&o.from.passwordFile, "from-password-file", "", "read the source password from `file` (default $CAIRN_FROM_PASSWORD_FILE)")
	cmd.Flags().StringVar(&o.from.passwordCommand, "from-password-command", "", "run `command` for the source password")
	cmd.Flags().IntVar(&o.parityData, "parity-data", 0, "enable parity with `K` data shards per file (see `cairn parity`)")
	cmd.Flags().IntVar(&o.parityShards, "parity-shards", 0, "parity shards per file (`M`, default 2 when --parity-data is given)")
	return cmd
}

func runInit(cmd *cobra.Command, g *globalOptions, o initOptions) error {
	ctx := cmd.Context()
	be, err := g.openBackend(ctx)
	if err != nil {
		return err
	}
	io := repo.InitOptions{PackSize: o.packSizeMiB << 20, Compression: g.compression, Now: g.env.Now(), KDF: defaultKDF()}
	if o.copyChunker {
		from, err := g.fromSource(o.from, "init --copy-chunker-params")
		if err != nil {
			return err
		}
		src, err := g.other(from).openRepo(ctx)
		if err != nil {
			return fmt.Errorf("source %s: %w", from.location, err)
		}
		cfg := src.Config()
		io.Chunker = &cfg
	} else if o.from.location != "" {
		return errors.New("init: --from-repo is only used with --copy-chunker-params")
	}
	var par parity.Params
	if o.parityData > 0 || o.parityShards > 0 {
		par = parity.Params{K: o.parityData, M: o.parityShards}
		if par.K == 0 {
			par.K = parity.Default.K
		}
		if par.M == 0 {
			par.M = parity.Default.M
		}
		if err := par.Validate(); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	pw, err := g.newPassword(o.newPasswordFile)
	if err != nil {
		return err
	}
	r, err := repo.Init(ctx, be, pw, io)
	if err != nil {
		return err
	}
	g.connector().SaveKeyHint(be.Location(), r.KeyID())
	if par.Enabled() {
		if err := r.UpdateConfig(ctx, func(c *repo.Config) error { c.Parity = par; return nil }); err != nil {
			return err
		}
	}
	if g.json {
		return json.NewEncoder(g.env.Stdout).Encode(map[string]string{
			"message_type": "initialized", "id": r.Config().ID, "repository": be.Location()})
	}
	g.printf("created cairn repository %s at %s\n", r.Config().ID[:10], be.Location())
	g.printf("Keep the password safe: without it the data in this repository can't be read.\n")
	return nil
}

// jsonOut prints v as one line of JSON on stdout.
func jsonOut(g *globalOptions, v any) error {
	if err := jsonEncoder(g.env.Stdout).Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// defaultKDF returns the KDF parameters for new keys.
func defaultKDF() crypto.KDFParams {
	return crypto.DefaultKDF
}
