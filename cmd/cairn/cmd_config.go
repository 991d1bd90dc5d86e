package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/profile"
)

func newConfigCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Write or check the configuration file, show a profile's settings",
		Long: `The configuration file (TOML) is --config FILE, else $CAIRN_CONFIG, else
$XDG_CONFIG_HOME/cairn/cairn.toml (~/.config/cairn/cairn.toml), else
/etc/cairn/cairn.toml. It holds [profile.NAME] tables; see README.`,
	}
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a configuration file",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.configPath = args[0]
			}
			f, err := g.loadConfig()
			if err != nil {
				return err
			}
			for _, w := range f.Warnings {
				g.warnf("warning: %s\n", w)
			}
			if g.json {
				names := f.Names()
				if names == nil {
					names = []string{}
				}
				return jsonOut(g, struct {
					Path     string   `json:"path"`
					Profiles []string `json:"profiles"`
				}{f.Path, names})
			}
			g.printf("%s: %d profiles (%s): ok\n", f.Path, len(f.Profiles), strings.Join(f.Names(), ", "))
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show PROFILE",
		Short: "Print a profile's effective settings and where each comes from",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, p, err := g.loadProfile(args[0])
			if err != nil {
				return err
			}
			if g.json {
				type setting struct {
					Key    string `json:"key"`
					Value  any    `json:"value"`
					Origin string `json:"origin"`
				}
				out := []setting{}
				for _, s := range profile.Settings(p) {
					v := s.Value
					if l, ok := v.([]string); ok && l == nil {
						v = []string{}
					}
					out = append(out, setting{s.Key, v, f.Origin(p, s.Key)})
				}
				return jsonOut(g, out)
			}
			writeSettings(g, f, p)
			return nil
		},
	}
	initCmd := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented sample configuration file",
		Long: `Write a sample configuration with one profile and every key, commented,
to FILE (default: --config, else $CAIRN_CONFIG, else
$XDG_CONFIG_HOME/cairn/cairn.toml or ~/.config/cairn/cairn.toml), mode 0600.
An existing file is never overwritten.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.configPath
			if len(args) == 1 {
				path = args[0]
			}
			if path == "" {
				var err error
				if path, err = profile.DefaultPath(g.env.Getenv); err != nil {
					return err
				}
			}
			if err := profile.WriteSample(path); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return &exitError{code: exitFatal, err: err,
						hint: fmt.Sprintf("it was left alone: edit it and run `cairn config check %s`, or give another FILE", path)}
				}
				return err
			}
			g.printf("wrote %s: edit it, then run `cairn config check %s`\n", path, path)
			return nil
		},
	}
	cmd.AddCommand(check, show, initCmd)
	return cmd
}

func writeSettings(g *globalOptions, f *profile.File, p *profile.Profile) {
	fmt.Fprintf(g.env.Stdout, "# profile %s from %s\n", p.Name, f.Path)
	for _, s := range profile.Settings(p) {
		v := profile.FormatSetting(s.Value)
		if v == "" {
			continue
		}
		fmt.Fprintf(g.env.Stdout, "%-20s = %-40s # %s\n", s.Key, v, f.Origin(p, s.Key))
	}
}
