package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Sample is the configuration `cairn config init` writes: one profile with
// the keys most need, and every other key commented out with its default
// or a realistic value. It passes Parse.
const Sample = `# cairn configuration (TOML): one [profile.NAME] table per backup job.
#   cairn config check          validate this file
#   cairn config show home      the effective settings of profile home
#   cairn run home              its nightly job: backup, retention, prune, copies, checks
#   cairn schedule home --cron  a crontab line that runs it (or --systemd --install)
# Uncomment and adapt what you need; a commented key shows its default or an example.

[profile.home]
# Where the repository is: a directory, sftp:user@host:/path,
# s3:https://host/bucket/prefix or rest:https://user@host:8000/repo/.
repository = "/srv/backup/home"

# The repository's password: one of password-file, password-command and
# password (password only in a file that nobody else can read: chmod 600).
password-file = "/etc/cairn/home.pass"
# password-command = "pass show backup/home"
# password = "correct horse battery staple"

# Backend options (as -o KEY=VALUE) and the compression of new data:
# auto, off, fastest, better or max (default: the repository's).
# options = ["sftp.command=ssh -i /root/.ssh/backup backup@nas -s sftp"]
# compression = "auto"

# What to back up, as ` + "`cairn backup`" + `'s flags.
sources = ["/home", "/etc"]
# exclude = ["*.tmp", "/home/*/.cache"]
# exclude-file = ["/etc/cairn/home.exclude"]
# exclude-caches = true
# exclude-if-present = [".nobackup"]
# exclude-larger-than = "2G"
# tags = ["nightly"]
# host = "web1"
# No new snapshot when nothing changed since the parent.
# skip-if-unchanged = true

# The level schedule: daily, weekly, monthly or never.
# full = "monthly"
# differential = "weekly"

# Retention after each backup (forget's --keep-* flags): last, hourly, daily,
# weekly, monthly, yearly, within and tags.
keep = { daily = 7, weekly = 4, monthly = 12 }
# keep = { last = 3, hourly = 24, daily = 7, weekly = 4, monthly = 12, yearly = 5, within = "30d", tags = ["keep"] }

# When to prune: always, daily, weekly, monthly or never.
# prune = "weekly"

# Copies to the mirrors after each backup; their password is this
# repository's unless one of these gives another.
# mirrors = ["sftp:backup@offsite:/srv/cairn/home", "/mnt/usb/cairn"]
# mirror-password-file = "/etc/cairn/offsite.pass"
# mirror-password-command = "pass show backup/offsite"

# Checks: read the whole repository once per window, a share each run, and
# read back a sample of the new snapshot's files against the source.
# check-window = "30d"
# verify-sample = "2%"

# Monitoring: Prometheus textfile metrics, a JSON line per run, and the
# time of day ` + "`cairn schedule`" + ` runs the profile at.
# metrics-file = "/var/lib/node_exporter/textfile/cairn.prom"
# report-file = "/var/log/cairn/home.jsonl"
# run-at = "02:00"

# Shell commands run around ` + "`cairn run home`" + `.
# [profile.home.hooks]
# before = "pg_dump -Fc app > /var/backups/app.dump"
# after = "rm -f /var/backups/app.dump"
# on-success = "curl -fsS -m 10 https://hc-ping.com/your-check-uuid"
# on-failure = "mail -s 'cairn home failed' root < /dev/null"
`

// WriteSample writes Sample to path (mode 0600, as it may come to hold a
// password), creating its directory. It never overwrites a file: one
// already at path is an error wrapping fs.ErrExist.
func WriteSample(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("config init %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("config init %s: %w", path, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("config init %s: %w", path, err)
	}
	_, err = f.WriteString(Sample)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("config init %s: %w", path, err)
	}
	return nil
}

// DefaultPath is where `config init` writes without a path: $CAIRN_CONFIG,
// else the user's $XDG_CONFIG_HOME/cairn/cairn.toml (or ~/.config/…).
func DefaultPath(getenv func(string) string) (string, error) {
	if p := getenv("CAIRN_CONFIG"); p != "" {
		return p, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "cairn", "cairn.toml"), nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "cairn", "cairn.toml"), nil
	}
	return "", errors.New("config init: no FILE given and neither $CAIRN_CONFIG, $XDG_CONFIG_HOME nor $HOME is set")
}
