//go:build unix

package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/profile"
)

// TestRunStatePerConfig: two configuration files with a profile of the
// same name and one state directory keep their state apart (the second
// one's prune is due although the first one pruned this week); the state
// an older cairn kept under the name alone goes to the first that runs.
func TestRunStatePerConfig(t *testing.T) {
	t.Parallel()
	a := newRunSetup(t, t.TempDir(), "")
	b := newRunSetup(t, t.TempDir(), "")
	b.state = a.state
	b.env = []string{"CAIRN_CONFIG=" + b.config, "CAIRN_STATE_DIR=" + a.state, "TZ=UTC", "HOME=" + b.base}
	// An older cairn's state: pruned this week.
	monday := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
	if err := profile.SaveState(a.state, "home", &profile.State{LastPrune: monday}); err != nil {
		t.Fatal(err)
	}
	_, rep := a.run(t, monday.Add(24*time.Hour))
	if st := rep.Step("prune"); st.Status != "skipped" {
		t.Fatalf("a did not take over the legacy state: prune %+v", st)
	}
	// b runs while a's run lock is held: locks are per configuration too.
	lk, err := profile.LockRun(a.state, profile.StateKey(a.config, "home"), profile.Holder{RunID: "feedfacecafe"})
	if err != nil {
		t.Fatal(err)
	}
	r, rep := b.run(t, monday.Add(25*time.Hour))
	lk.Unlock()
	if r.code != 0 {
		t.Fatalf("b: exit %d %s", r.code, r.stderr)
	}
	if st := rep.Step("prune"); st.Status != "ok" {
		t.Fatalf("b shares a's state: prune %+v", st)
	}
	for _, s := range []*runSetup{a, b} {
		st, err := profile.LoadState(a.state, profile.StateKey(s.config, "home"))
		if err != nil || st.LastRun == nil || st.LastPrune.IsZero() {
			t.Fatalf("%s: state %+v %v", s.config, st, err)
		}
	}
	if _, err := os.Stat(filepath.Join(a.state, "home.json")); err == nil {
		t.Fatal("the legacy state is still there")
	}
}

// TestRunCronEnvironment runs a profile as cron does: no HOME, no
// terminal, no standard input, only PATH. Without a state directory it
// fails saying which variables give one, instead of keeping the state in
// a shared temporary directory; with systemd's STATE_DIRECTORY it runs.
func TestRunCronEnvironment(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, t.TempDir(), "")
	cron := func(env ...string) result {
		cmd := exec.Command(cairnBin, "--config", s.config, "run", "home")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.Stdin = nil
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		code := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			code = ee.ExitCode()
		}
		return result{out.String(), errb.String(), code}
	}
	r := cron()
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: run home: ") || !strings.Contains(r.stderr, "CAIRN_STATE_DIR") ||
		!strings.Contains(r.stderr, "STATE_DIRECTORY") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
		t.Fatalf("no state directory: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"})); n != 0 {
		t.Fatalf("%d snapshots from a run without state", n)
	}
	dir := filepath.Join(s.base, "var-lib-cairn")
	if r := cron("STATE_DIRECTORY=" + dir); r.code != 0 {
		t.Fatalf("STATE_DIRECTORY: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if st, err := profile.LoadState(dir, profile.StateKey(s.config, "home")); err != nil || st.LastRun == nil {
		t.Fatalf("state in STATE_DIRECTORY: %+v %v", st, err)
	}
}

// TestScheduleSystemdUnit: the service runs as --user's user, has a state
// directory and names the configuration file, and holds no password.
func TestScheduleSystemdUnit(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, t.TempDir(), "")
	out := mustCairn(t, s.env, "schedule", "home", "--systemd", "--user", "backup")
	for _, want := range []string{"\nUser=backup\n", "\nStateDirectory=cairn\n", "\nEnvironment=CAIRN_CONFIG=" + s.config + "\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "PASSWORD") {
		t.Fatalf("a password in the unit:\n%s", out)
	}
	if out := mustCairn(t, s.env, "schedule", "home", "--systemd"); strings.Contains(out, "User=") {
		t.Fatalf("User= without --user:\n%s", out)
	}
}
