package profile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/profile"
)

func TestStateDir(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"cairn's own", map[string]string{"CAIRN_STATE_DIR": "/c", "STATE_DIRECTORY": "/s", "HOME": "/h"}, "/c"},
		{"systemd StateDirectory=", map[string]string{"STATE_DIRECTORY": "/var/lib/cairn:/var/lib/other", "HOME": "/h"}, "/var/lib/cairn"},
		{"XDG", map[string]string{"XDG_STATE_HOME": "/x", "HOME": "/h"}, "/x/cairn"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.local/state/cairn"},
		{"nothing (cron, systemd without User=)", map[string]string{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := profile.StateDir(func(k string) string { return c.env[k] })
			if got != c.want || (c.want == "") != errors.Is(err, profile.ErrNoStateDir) {
				t.Fatalf("StateDir = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestStateKey: two configuration files with a profile of the same name
// keep separate state; the legacy state (by name only) is taken over
// once, by the first of them to run.
func TestStateKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := profile.StateKey("/etc/cairn/a.toml", "home"), profile.StateKey("/etc/cairn/b.toml", "home")
	if a == b || a == "home" || a != profile.StateKey("/etc/cairn/../cairn/a.toml", "home") {
		t.Fatalf("keys %q %q", a, b)
	}
	prune := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
	if err := profile.SaveState(dir, "home", &profile.State{LastPrune: prune}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{a, b} {
		if err := profile.AdoptLegacyState(dir, "home", k); err != nil {
			t.Fatal(err)
		}
	}
	sa, err := profile.LoadState(dir, a)
	if err != nil || !sa.LastPrune.Equal(prune) {
		t.Fatalf("a: %+v %v", sa, err)
	}
	if sb, err := profile.LoadState(dir, b); err != nil || !sb.LastPrune.IsZero() {
		t.Fatalf("b shares the legacy state: %+v %v", sb, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "home.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("legacy state left: %v", err)
	}
	// A key with state of its own keeps it.
	profile.SaveState(dir, "home", &profile.State{})
	if err := profile.AdoptLegacyState(dir, "home", a); err != nil {
		t.Fatal(err)
	}
	if sa, _ := profile.LoadState(dir, a); !sa.LastPrune.Equal(prune) {
		t.Fatalf("a lost its state: %+v", sa)
	}
	// Run locks are per key too.
	la, err := profile.LockRun(dir, a, profile.Holder{RunID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Unlock()
	lb, err := profile.LockRun(dir, b, profile.Holder{RunID: "b"})
	if err != nil {
		t.Fatalf("b's run lock: %v", err)
	}
	lb.Unlock()
	if _, err := profile.LockRun(dir, a, profile.Holder{RunID: "a2"}); !errors.Is(err, profile.ErrRunning) {
		t.Fatalf("a's second run lock: %v", err)
	}
}
