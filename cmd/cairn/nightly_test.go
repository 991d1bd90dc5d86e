package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/profile"
)

// cronCairn runs the binary as cron does, in the form an admin would
// write it: env -i PATH=/usr/bin:/bin VARS… setsid cairn ARGS… </dev/null
// (no HOME, no terminal, no standard input).
func cronCairn(t *testing.T, env []string, args ...string) result {
	t.Helper()
	argv := append(append(append([]string{"-i", "PATH=/usr/bin:/bin"}, env...), "setsid", cairnBin), args...)
	cmd := exec.Command("env", argv...)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd.Stdin = devnull
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

// skipSummary is the summary line of `backup --json` as far as
// --skip-if-unchanged is concerned.
type skipSummary struct {
	SnapshotID string `json:"snapshot_id"`
	Parent     string `json:"parent"`
	Skipped    bool   `json:"skipped"`
}

// TestBackupSkipIfUnchanged: with --skip-if-unchanged a backup that finds
// the tree and paths of its parent writes no snapshot, says so (text and
// JSON) and exits 0; a changed file, a changed mtime or mode, or other
// paths make a new snapshot.
func TestBackupSkipIfUnchanged(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	other := filepath.Join(base, "other")
	write(t, filepath.Join(src, "a.txt"), strings.Repeat("alpha\n", 1000))
	write(t, filepath.Join(src, "sub", "b.txt"), "beta\n")
	write(t, filepath.Join(other, "c.txt"), "gamma\n")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	count := func() int { return len(listSnapshots(t, env)) }
	backup := func(args ...string) skipSummary {
		t.Helper()
		out := mustCairn(t, env, append([]string{"backup", "--json", "--skip-if-unchanged"}, args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var s skipSummary
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
			t.Fatalf("backup summary %q: %v", out, err)
		}
		return s
	}
	first := backupJSON(t, env, src)
	// Unchanged: no snapshot, in JSON and in text.
	if s := backup(src); !s.Skipped || s.SnapshotID != "" || s.Parent != first.SnapshotID {
		t.Fatalf("unchanged backup: %+v, want skipped with parent %s", s, first.SnapshotID)
	}
	r := cairn(t, env, "backup", "--skip-if-unchanged", src)
	if want := fmt.Sprintf("no changes since snapshot %s, no snapshot written\n", first.SnapshotID[:8]); r.code != 0 || !strings.HasSuffix(r.stdout, want) {
		t.Fatalf("unchanged backup (text): exit %d, stdout %q, want it to end with %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d snapshots after unchanged backups, want 1", n)
	}
	// Without the flag an unchanged backup still makes a snapshot.
	if s := backupJSON(t, env, src); s.SnapshotID == "" {
		t.Fatal("a backup without --skip-if-unchanged wrote no snapshot")
	}
	want := 2
	changes := []struct {
		name   string
		change func()
	}{
		{"content", func() { write(t, filepath.Join(src, "sub", "b.txt"), "beta, changed\n") }},
		{"mtime", func() {
			old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			if err := os.Chtimes(filepath.Join(src, "a.txt"), old, old); err != nil {
				t.Fatal(err)
			}
		}},
		{"mode", func() {
			if err := os.Chmod(filepath.Join(src, "a.txt"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory mode", func() {
			if err := os.Chmod(filepath.Join(src, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range changes {
		c.change()
		s := backup(src)
		want++
		if s.Skipped || s.SnapshotID == "" {
			t.Fatalf("%s changed: %+v, want a new snapshot", c.name, s)
		}
		if again := backup(src); !again.Skipped || again.Parent != s.SnapshotID {
			t.Fatalf("after the %s change, unchanged again: %+v, want skipped with parent %s", c.name, again, s.SnapshotID)
		}
		if n := count(); n != want {
			t.Fatalf("%s changed: %d snapshots, want %d", c.name, n, want)
		}
	}
	// Other paths: another group, so a first snapshot of them; the
	// explicit parent of other paths is not "unchanged" either.
	if s := backup(src, other); s.Skipped {
		t.Fatalf("other paths: %+v", s)
	}
	if s := backup("--parent", first.SnapshotID, other); s.Skipped {
		t.Fatalf("other paths with --parent: %+v", s)
	}
	if n := count(); n != want+2 {
		t.Fatalf("%d snapshots, want %d", n, want+2)
	}
}

// TestRunSkipIfUnchanged: a profile with skip-if-unchanged = true run as
// cron runs it; a night with nothing changed writes no snapshot, the
// report's backup step says so and names the parent, retention still
// runs and keeps that parent, and the run succeeds; a changed file makes
// a snapshot the next night.
func TestRunSkipIfUnchanged(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, t.TempDir(), "skip-if-unchanged = true\n")
	state := filepath.Join(s.base, "var-lib-cairn")
	cron := func(day time.Time) (result, profile.Report) {
		t.Helper()
		ts := day.Format(time.RFC3339)
		r := cronCairn(t, []string{"STATE_DIRECTORY=" + state, "TZ=UTC"}, "--config", s.config, "run", "home", "--json", "--time", ts)
		var rep profile.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("run on %s: exit %d, report %q: %v\n%s", ts, r.code, r.stdout, err, r.stderr)
		}
		return r, rep
	}
	day := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
	r, rep := cron(day)
	var first skipSummary
	json.Unmarshal(rep.Snapshot, &first)
	if r.code != 0 || first.Skipped || first.SnapshotID == "" {
		t.Fatalf("first run: exit %d %s\n%s", r.code, rep.Snapshot, r.stderr)
	}
	r, rep = cron(day.AddDate(0, 0, 1))
	if r.code != 0 || rep.Status != "success" {
		t.Fatalf("unchanged run: exit %d %+v\n%s", r.code, rep, r.stderr)
	}
	b := rep.Step("backup")
	if b.Status != "ok" || b.Figures["skipped"] != true || b.Figures["parent"] != first.SnapshotID || b.Figures["snapshot_id"] != nil {
		t.Fatalf("backup step of an unchanged run: %+v", b)
	}
	var sum skipSummary
	json.Unmarshal(rep.Snapshot, &sum)
	if !sum.Skipped || sum.Parent != first.SnapshotID {
		t.Fatalf("report snapshot %s", rep.Snapshot)
	}
	if v := rep.Step("verify"); v.Status != "skipped" || !strings.Contains(v.Error, "nothing changed since snapshot "+first.SnapshotID[:8]) {
		t.Fatalf("verify step: %+v", v)
	}
	if f := rep.Step("forget"); f.Status != "ok" {
		t.Fatalf("forget step: %+v", f)
	}
	sns := listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"})
	if len(sns) != 1 || sns[0].ID != first.SnapshotID {
		t.Fatalf("snapshots after an unchanged night: %+v", sns)
	}
	write(t, filepath.Join(s.src, "a.txt"), "changed\n")
	r, rep = cron(day.AddDate(0, 0, 2))
	sum = skipSummary{}
	json.Unmarshal(rep.Snapshot, &sum)
	if r.code != 0 || sum.Skipped || sum.SnapshotID == "" || rep.Step("verify").Status != "ok" {
		t.Fatalf("changed run: exit %d %s %+v\n%s", r.code, rep.Snapshot, rep.Step("verify"), r.stderr)
	}
	if n := len(listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"})); n != 2 {
		t.Fatalf("%d snapshots after a changed night, want 2", n)
	}
	// --profile gives `backup` the key too.
	if out := mustCairn(t, s.env, "--profile", "home", "backup"); !strings.Contains(out, "no changes since snapshot "+sum.SnapshotID[:8]) {
		t.Fatalf("backup --profile home: %s", out)
	}
}
