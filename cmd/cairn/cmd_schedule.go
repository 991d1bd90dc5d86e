package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/profile"
)

// unitFile is a systemd unit as `schedule --systemd --json` prints it.
type unitFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func newScheduleCommand(g *globalOptions) *cobra.Command {
	var cron, systemd, install bool
	var unitDir, runAs string
	cmd := &cobra.Command{
		Use:   "schedule PROFILE (--cron | --systemd [--install])",
		Short: "Print a crontab line or systemd units that run a profile nightly",
		Long: `--cron prints a crontab line running "cairn run PROFILE" at the profile's
run-at time (default 02:00). --systemd prints a service and a timer unit:
the timer is Persistent (a run missed while the machine was off happens at
boot) with a randomized delay of up to 30 minutes; the service runs with
Nice=10 and IOSchedulingClass=idle, as --user's user (User=), with
StateDirectory=cairn (the run's state in /var/lib/cairn) and
CAIRN_CONFIG naming the configuration file. --install writes them to
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
			command := fmt.Sprintf("%s --config %s run %s --quiet", exe, profile.ShellQuote(cfg), profile.ShellQuote(p.Name))
			if cron {
				if g.json {
					return jsonOut(g, struct {
						Cron string `json:"cron"`
					}{profile.CronLine(at, command)})
				}
				fmt.Fprintln(g.env.Stdout, profile.CronLine(at, command))
				return nil
			}
			user := os.Getuid() != 0
			if install && user && unitDir == "" && runAs != "" {
				return errors.New("schedule: --user is for a system unit; install it as root (or give --unit-dir)")
			}
			service, timer := profile.SystemdUnits(p.Name, command, at,
				profile.Unit{User: runAs, Environment: []string{"CAIRN_CONFIG=" + cfg}})
			if !install && g.json {
				return jsonOut(g, []unitFile{{"cairn-" + p.Name + ".service", service}, {"cairn-" + p.Name + ".timer", timer}})
			}
			if !install {
				fmt.Fprintf(g.env.Stdout, "# cairn-%s.service\n%s\n# cairn-%s.timer\n%s", p.Name, service, p.Name, timer)
				return nil
			}
			dir := unitDir
			if dir == "" {
				dir = profile.UnitDir(user, g.env.Getenv)
			}
			written, err := profile.InstallUnits(dir, p.Name, service, timer)
			for _, w := range written {
				g.printf("wrote %s\n", w)
			}
			if err != nil {
				return fmt.Errorf("schedule --install: %w", err)
			}
			flag := ""
			if user {
				flag = " --user"
			}
			enable := fmt.Sprintf("systemctl%s daemon-reload && systemctl%s enable --now cairn-%s.timer", flag, flag, p.Name)
			if g.json {
				if written == nil {
					written = []string{}
				}
				return jsonOut(g, struct {
					Written []string `json:"written"`
					Enable  string   `json:"enable"`
				}{written, enable})
			}
			g.printf("enable it with: %s\n", enable)
			return nil
		},
	}
	cmd.Flags().BoolVar(&cron, "cron", false, "print a crontab line")
	cmd.Flags().BoolVar(&systemd, "systemd", false, "print a systemd service and timer")
	cmd.Flags().BoolVar(&install, "install", false, "write the systemd units instead of printing them")
	cmd.Flags().StringVar(&runAs, "user", "", "run the systemd service as `name` (User=; default root)")
	cmd.Flags().StringVar(&unitDir, "unit-dir", "", "write the units to `dir` (default /etc/systemd/system, or ~/.config/systemd/user)")
	return cmd
}
