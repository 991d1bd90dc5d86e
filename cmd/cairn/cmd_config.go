package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/profile"
)

func newConfigCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration file, show a profile's settings",
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
				var out []setting
				for _, s := range settings(p) {
					out = append(out, setting{s.key, s.value, f.Origin(p, s.key)})
				}
				return jsonOut(g, out)
			}
			writeSettings(g, f, p)
			return nil
		},
	}
	cmd.AddCommand(check, show)
	return cmd
}

type setting struct {
	key   string
	value any
}

// settings lists a profile's keys in the documented order.
func settings(p *profile.Profile) []setting {
	pw := ""
	if p.Password != "" {
		pw = "********"
	}
	return []setting{
		{"repository", p.Repository}, {"password-file", p.PasswordFile}, {"password-command", p.PasswordCommand},
		{"password", pw}, {"options", p.Options}, {"compression", p.Compression},
		{"sources", p.Sources}, {"exclude", p.Exclude}, {"exclude-file", p.ExcludeFile},
		{"exclude-caches", p.ExcludeCaches}, {"exclude-if-present", p.ExcludeIfPresent},
		{"exclude-larger-than", p.ExcludeLargerThan}, {"tags", p.Tags}, {"host", p.Host},
		{"full", p.Full}, {"differential", p.Differential}, {"keep", rawValue(keepString(p.Keep))}, {"prune", p.Prune},
		{"mirrors", p.Mirrors}, {"check-window", p.CheckWindow}, {"verify-sample", p.VerifySample},
		{"metrics-file", p.MetricsFile}, {"report-file", p.ReportFile}, {"run-at", p.RunAt},
		{"hooks.before", p.Hooks.Before}, {"hooks.after", p.Hooks.After},
		{"hooks.on-success", p.Hooks.OnSuccess}, {"hooks.on-failure", p.Hooks.OnFailure},
	}
}

func writeSettings(g *globalOptions, f *profile.File, p *profile.Profile) {
	fmt.Fprintf(g.env.Stdout, "# profile %s from %s\n", p.Name, f.Path)
	for _, s := range settings(p) {
		v := formatSetting(s.value)
		if v == "" {
			continue
		}
		fmt.Fprintf(g.env.Stdout, "%-20s = %-40s # %s\n", s.key, v, f.Origin(p, s.key))
	}
}

// rawValue is a setting already written as TOML.
type rawValue string

func formatSetting(v any) string {
	switch x := v.(type) {
	case rawValue:
		return string(x)
	case string:
		if x == "" {
			return ""
		}
		return strconv.Quote(x)
	case bool:
		if !x {
			return ""
		}
		return "true"
	case []string:
		if len(x) == 0 {
			return ""
		}
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// keepString writes a retention policy as the TOML inline table.
func keepString(k profile.Keep) string {
	var parts []string
	for _, f := range []struct {
		name string
		n    int
	}{{"last", k.Last}, {"hourly", k.Hourly}, {"daily", k.Daily}, {"weekly", k.Weekly}, {"monthly", k.Monthly}, {"yearly", k.Yearly}} {
		if f.n != 0 {
			parts = append(parts, fmt.Sprintf("%s = %d", f.name, f.n))
		}
	}
	if k.Within != "" {
		parts = append(parts, "within = "+strconv.Quote(k.Within))
	}
	if len(k.Tags) > 0 {
		parts = append(parts, "tags = "+formatSetting(k.Tags))
	}
	if len(parts) == 0 {
		return ""
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}
