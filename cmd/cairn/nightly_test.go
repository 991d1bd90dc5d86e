//go:build unix

package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/profile"
)

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
	// status counts the run that found nothing changed as a backup made
	// then: the snapshot is a day old, the sources were backed up 14s ago.
	statusAt := func(at time.Time, args ...string) result {
		env := []string{"CAIRN_CONFIG=" + s.config, "STATE_DIRECTORY=" + state, "TZ=UTC", "HOME=" + s.base, "CAIRN_NOW=" + at.Format(time.RFC3339)}
		return cairn(t, env, append([]string{"status"}, args...)...)
	}
	unchangedRun := day.AddDate(0, 0, 1)
	if r := statusAt(unchangedRun.Add(14*time.Second), "--max-age", "1h"); r.code != 0 ||
		!strings.Contains(r.stdout, "(1d old), 1 snapshots") || !strings.Contains(r.stdout, "(14s ago), found nothing changed since snapshot "+first.SnapshotID[:8]) {
		t.Fatalf("status after an unchanged night: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := fmt.Sprintf("error: status: profile home: last backup (nothing changed since snapshot %s) is 2h old (max-age 1h)\n", first.SnapshotID[:8])
	if r := statusAt(unchangedRun.Add(2*time.Hour), "--max-age", "1h"); r.code != 2 || r.stderr != want {
		t.Fatalf("status 2h after an unchanged night: exit %d %q, want %q", r.code, r.stderr, want)
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
	// A new mtime alone is a change too.
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(s.src, "a.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	prev := sum.SnapshotID
	r, rep = cron(day.AddDate(0, 0, 3))
	sum = skipSummary{}
	json.Unmarshal(rep.Snapshot, &sum)
	if r.code != 0 || sum.Skipped || sum.SnapshotID == "" || sum.Parent != prev {
		t.Fatalf("run after an mtime change: exit %d %s\n%s", r.code, rep.Snapshot, r.stderr)
	}
	// --profile gives `backup` the key too.
	if out := mustCairn(t, s.env, "--profile", "home", "backup"); !strings.Contains(out, "no changes since snapshot "+sum.SnapshotID[:8]+", no snapshot written") {
		t.Fatalf("backup --profile home: %s", out)
	}
}

// setKeep replaces the retention policy of the run setup's profile.
func (s *runSetup) setKeep(t *testing.T, keep string) {
	t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "keep = { daily = 7, weekly = 4, monthly = 12 }", "keep = "+keep, 1)
	write(t, s.config, cfg)
}

// TestRunFutureSnapshot: a snapshot dated in the future (a clock set
// wrong, backup --time) doesn't make the retention of a run remove the
// snapshot that run just made: the run's own snapshot is kept whatever
// the policy says, and the within windows end now, however far ahead the
// newest snapshot is dated.
func TestRunFutureSnapshot(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
	repoEnv := func(s *runSetup) []string { return []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"} }
	backupAt := func(s *runSetup, at time.Time, args ...string) {
		t.Helper()
		mustCairn(t, append(s.env, "CAIRN_NOW="+now.Format(time.RFC3339)), append([]string{"--profile", "home", "backup", "-q", "--time", at.Format(time.RFC3339)}, args...)...)
	}
	ran := func(s *runSetup) (string, []snapView) {
		t.Helper()
		r, rep := s.run(t, now)
		var sn skipSummary
		json.Unmarshal(rep.Snapshot, &sn)
		if r.code != 0 || rep.Status != "success" || rep.Step("forget").Status != "ok" || sn.SnapshotID == "" {
			t.Fatalf("run: exit %d %+v\n%s", r.code, rep, r.stderr)
		}
		return sn.SnapshotID, listSnapshots(t, repoEnv(s))
	}
	t.Run("keep-last", func(t *testing.T) {
		t.Parallel()
		s := newRunSetup(t, t.TempDir(), "")
		s.setKeep(t, "{ last = 1 }")
		backupAt(s, now.Add(76*time.Hour))
		// keep-last 1 keeps the newest by its date, the future one, and
		// the run keeps its own.
		id, sns := ran(s)
		if len(sns) != 2 || sns[0].ID != id {
			t.Fatalf("after the run (snapshot %s): %+v; want the run's and the future one", id[:8], sns)
		}
		// forget by hand: the window ends now, not at a snapshot of next
		// year, so the present one stays.
		backupAt(s, now.AddDate(1, 0, 0))
		out := mustCairn(t, append(repoEnv(s), "CAIRN_NOW="+now.Add(time.Hour).Format(time.RFC3339)), "forget", "--keep-within", "1d")
		if sns := listSnapshots(t, repoEnv(s)); len(sns) != 3 || sns[0].ID != id {
			t.Fatalf("forget --keep-within 1d kept %+v, want %s and the future ones\n%s", sns, id[:8], out)
		}
	})
	t.Run("run's own snapshot", func(t *testing.T) {
		t.Parallel()
		// A policy that keeps only tagged snapshots would remove the run's
		// untagged one: the run keeps it all the same.
		s := newRunSetup(t, t.TempDir(), "")
		s.setKeep(t, `{ tags = ["keep"] }`)
		backupAt(s, now.Add(-24*time.Hour), "--tag", "keep")
		backupAt(s, now.Add(-12*time.Hour))
		id, sns := ran(s)
		if len(sns) != 2 || sns[1].ID != id {
			t.Fatalf("after the run (snapshot %s): %+v; want the tagged one and the run's", id[:8], sns)
		}
	})
}

// TestStatusMonitoring: status --warn-age and --max-age exit as a
// monitoring plugin (0 ok, 1 warning, 2 critical), saying the exact age;
// snapshots dated in the future are flagged, not shown as a negative age
// or taken as the newest.
func TestStatusMonitoring(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, t.TempDir(), "")
	t0 := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
	at := func(d time.Duration) []string { return append(s.env, "CAIRN_NOW="+t0.Add(d).Format(time.RFC3339)) }
	if r := cairn(t, at(0), "status", "--max-age", "1h"); r.code != 2 || !strings.Contains(r.stderr, "error: status: profile home: no snapshot") {
		t.Fatalf("no snapshot: exit %d\n%s", r.code, r.stderr)
	}
	mustCairn(t, at(0), "--profile", "home", "backup", "-q")
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"critical", []string{"--max-age", "3s"}, 2, "error: status: profile home: newest snapshot is 14s old (max-age 3s)\n"},
		{"warning", []string{"--warn-age", "3s", "--max-age", "1h"}, 1, "warning: status: profile home: newest snapshot is 14s old (warn-age 3s)\n"},
		{"warning only", []string{"--warn-age", "10s"}, 1, "warning: status: profile home: newest snapshot is 14s old (warn-age 10s)\n"},
		{"ok", []string{"--warn-age", "1m", "--max-age", "1h"}, 0, ""},
		{"no limits", nil, 0, ""},
	}
	for _, c := range cases {
		r := cairn(t, at(14*time.Second), append([]string{"status"}, c.args...)...)
		if r.code != c.code || r.stderr != c.stderr || !strings.Contains(r.stdout, "(14s old), 1 snapshots") {
			t.Fatalf("%s: exit %d, stderr %q, want %d %q\n%s", c.name, r.code, r.stderr, c.code, c.stderr, r.stdout)
		}
	}
	// Two snapshots from a clock set wrong.
	for _, d := range []time.Duration{time.Hour, 76 * time.Hour} {
		mustCairn(t, at(0), "--profile", "home", "backup", "-q", "--time", t0.Add(14*time.Second+d).Format(time.RFC3339))
	}
	r := cairn(t, at(14*time.Second), "status", "--warn-age", "1m", "--max-age", "1h")
	if r.code != 1 || !strings.Contains(r.stdout, "(14s old), 3 snapshots") ||
		!strings.Contains(r.stdout, "future snapshots:  2 snapshots dated in the future, newest 3d 4h ahead") ||
		r.stderr != "warning: status: profile home: 2 snapshots dated in the future, newest 3d 4h ahead\n" {
		t.Fatalf("future snapshots: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var st []struct {
		Newest time.Time `json:"newest_snapshot"`
		Age    float64   `json:"newest_snapshot_age_seconds"`
		Future struct {
			Snapshots    int     `json:"snapshots"`
			AheadSeconds float64 `json:"ahead_seconds"`
		} `json:"future"`
	}
	out := mustCairn(t, at(14*time.Second), "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 || !st[0].Newest.Equal(t0) || st[0].Age != 14 ||
		st[0].Future.Snapshots != 2 || st[0].Future.AheadSeconds != (76*time.Hour).Seconds() {
		t.Fatalf("status --json: %v %s", err, out)
	}
}
