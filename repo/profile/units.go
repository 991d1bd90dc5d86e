package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// UnitDir is where systemd units are installed: /etc/systemd/system for
// root, else the user's unit directory.
func UnitDir(user bool, getenv func(string) string) string {
	if !user {
		return "/etc/systemd/system"
	}
	base := getenv("XDG_CONFIG_HOME")
	if base == "" {
		base = filepath.Join(getenv("HOME"), ".config")
	}
	return filepath.Join(base, "systemd", "user")
}

// InstallUnits writes the service and timer of profile name to dir and
// returns the files written.
func InstallUnits(dir, name, service, timer string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, u := range []struct{ file, content string }{{"cairn-" + name + ".service", service}, {"cairn-" + name + ".timer", timer}} {
		p := filepath.Join(dir, u.file)
		if err := os.WriteFile(p, []byte(u.content), 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// CronLine is a crontab line running command daily at the time of at.
func CronLine(at time.Time, command string) string {
	return fmt.Sprintf("%d %d * * * %s", at.Minute(), at.Hour(), command)
}

// Unit is what a service unit adds to the command it runs.
type Unit struct {
	// User runs the service as that user ("": root, for a system unit).
	User string
	// Environment is the service's NAME=value variables (never a
	// secret: unit files are world-readable).
	Environment []string
}

// SystemdUnits are a oneshot service running command and a persistent
// nightly timer for it at the time of at. The service has
// StateDirectory=cairn: systemd makes /var/lib/cairn (a user unit's
// ~/.local/state/cairn) and names it in $STATE_DIRECTORY, which `cairn
// run` keeps its state in, since a service without User= has no HOME.
func SystemdUnits(name, command string, at time.Time, u Unit) (service, timer string) {
	var extra strings.Builder
	if u.User != "" {
		fmt.Fprintf(&extra, "User=%s\n", u.User)
	}
	extra.WriteString("StateDirectory=cairn\n")
	for _, e := range u.Environment {
		fmt.Fprintf(&extra, "Environment=%s\n", systemdQuote(e))
	}
	service = fmt.Sprintf(`[Unit]
Description=cairn backup run of profile %[1]s
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
%[3]sExecStart=%[2]s
Nice=10
IOSchedulingClass=idle
`, name, command, extra.String())
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

// ShellQuote quotes s for sh when it needs it.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// systemdQuote quotes an Environment= assignment when it has a space, a
// quote or a backslash (systemd.syntax(7)); % is doubled, being a
// specifier.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
