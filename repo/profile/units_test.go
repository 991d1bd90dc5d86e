package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInstallUnits(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "units")
	at, _ := time.Parse("15:04", "03:30")
	service, timer := SystemdUnits("home", "/bin/cairn run home", at, Unit{})
	written, err := InstallUnits(dir, "home", service, timer)
	if err != nil || len(written) != 2 {
		t.Fatalf("%v %v", written, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cairn-home.timer"))
	if err != nil || !strings.Contains(string(b), "OnCalendar=*-*-* 03:30:00") {
		t.Fatalf("timer %q %v", b, err)
	}
	if got := CronLine(at, "cairn run home"); got != "30 3 * * * cairn run home" {
		t.Fatalf("cron line %q", got)
	}
	env := map[string]string{"HOME": "/home/u"}
	if d := UnitDir(true, func(k string) string { return env[k] }); d != "/home/u/.config/systemd/user" {
		t.Fatalf("user unit dir %s", d)
	}
	if d := UnitDir(false, func(string) string { return "" }); d != "/etc/systemd/system" {
		t.Fatalf("system unit dir %s", d)
	}
	if q := ShellQuote("a b'c"); q != `'a b'\''c'` {
		t.Fatalf("quote %s", q)
	}
	// A directory that can't be made is an error, nothing written.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	if w, err := InstallUnits(filepath.Join(blocker, "x"), "home", service, timer); err == nil || len(w) != 0 {
		t.Fatalf("install under a file: %v %v", w, err)
	}
}
