package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newScheduleCommand(g *globalOptions) *cobra.Command {
	var cron, systemd, install bool
	var unitDir string
	cmd := &cobra.Command{
		Use:   "schedule PROFILE (--cron | --systemd [--install])",
		Short: "Print a crontab line or systemd units that run a profile nightly",
		Long: `--cron prints a crontab line running "cairn run PROFILE" at the profile's
run-at time (default 02:00). --systemd prints a service and a timer unit:
the timer is Persistent (a run missed while the machine was off happens at
boot) with a randomized delay of up to 30 minutes; the service runs with
Nice=10 and IOSchedulingClass=idle. --install writes them to
/etc/systemd/system (as root) or the user's unit directory (--unit-dir
overrides) and prints the command that enables the timer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cron == systemd {
				return errors.New("schedule: give exactly one of --cron and --systemd")
			}
			if install && !systemd {
				return errors.New("schedule: --install writes systemd units; add --systemd")
			}
			f, p, err := g.loadProfile(args[0])
			if err != nil {
				return err
			}
			at, _ := time.Parse("15:04", p.RunAt)
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cfg, _ := filepath.Abs(f.Path)
			command := fmt.Sprintf("%s --config %s run %s --quiet", exe, shellQuote(cfg), shellQuote(p.Name))
			if cron {
				fmt.Fprintln(g.env.Stdout, cronLine(at, command))
				return nil
			}
			service, timer := systemdUnits(p.Name, command, at)
			if !install {
				fmt.Fprintf(g.env.Stdout, "# cairn-%s.service\n%s\n# cairn-%s.timer\n%s", p.Name, service, p.Name, timer)
				return nil
			}
			user := os.Getuid() != 0
			dir := unitDir
			if dir == "" {
				if !user {
					dir = "/etc/systemd/system"
				} else {
					base := g.env.Getenv("XDG_CONFIG_HOME")
					if base == "" {
						base = filepath.Join(g.env.Getenv("HOME"), ".config")
					}
					dir = filepath.Join(base, "systemd", "user")
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("schedule --install: %w", err)
			}
			for name, content := range map[string]string{"cairn-" + p.Name + ".service": service, "cairn-" + p.Name + ".timer": timer} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					return fmt.Errorf("schedule --install: %w", err)
				}
				g.printf("wrote %s\n", filepath.Join(dir, name))
			}
			flag := ""
			if user {
				flag = " --user"
			}
			g.printf("enable it with: systemctl%s daemon-reload && systemctl%s enable --now cairn-%s.timer\n", flag, flag, p.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&cron, "cron", false, "print a crontab line")
	cmd.Flags().BoolVar(&systemd, "systemd", false, "print a systemd service and timer")
	cmd.Flags().BoolVar(&install, "install", false, "write the systemd units instead of printing them")
	cmd.Flags().StringVar(&unitDir, "unit-dir", "", "write the units to `dir` (default /etc/systemd/system, or ~/.config/systemd/user)")
	return cmd
}

// cronLine is a crontab line running command daily at the time of at.
func cronLine(at time.Time, command string) string {
	return fmt.Sprintf("%d %d * * * %s", at.Minute(), at.Hour(), command)
}

func systemdUnits(name, command string, at time.Time) (service, timer string) {
	service = fmt.Sprintf(`[Unit]
Description=cairn backup run of profile %[1]s
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=%[2]s
Nice=10
IOSchedulingClass=idle
`, name, command)
	timer = fmt.Sprintf(`[Unit]
Description=nightly cairn run of profile %[1]s

[Timer]
OnCalendar=*-*-* %02[2]d:%02[3]d:00
Persistent=true
RandomizedDelaySec=30m

[Install]
WantedBy=timers.target
`, name, at.Hour(), at.Minute())
	return service, timer
}

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
