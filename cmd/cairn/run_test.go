//go:build unix

package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cairn-backup/cairn/repo/profile"
)

// runSetup is a configuration with profile "home" in a temporary
// directory, its repository and mirror initialized.
type runSetup struct {
	base, src, repo, mirror, config, state string
	env                                    []string
}

func newRunSetup(t *testing.T, base string, extra string) *runSetup {
	t.Helper()
	s := &runSetup{base: base}
	s.src = filepath.Join(base, "src")
	s.repo = filepath.Join(base, "repo")
	s.mirror = filepath.Join(base, "mirror")
	s.config = filepath.Join(base, "cairn.toml")
	s.state = filepath.Join(base, "state")
	write(t, filepath.Join(s.src, "a.txt"), strings.Repeat("alpha\n", 1000))
	write(t, filepath.Join(base, "pass"), "pw\n")
	os.Chmod(filepath.Join(base, "pass"), 0o644)
	cfg := fmt.Sprintf(`# test profile
[profile.home]
repository = %q
password-file = %q
sources = [%q]
exclude = ["*.tmp"]
full = "monthly"
differential = "weekly"
keep = { daily = 7, weekly = 4, monthly = 12 }
prune = "weekly"
mirrors = [%q]
check-window = "7d"
verify-sample = "50%%"
metrics-file = %q
report-file = %q
%s`, s.repo, filepath.Join(base, "pass"), s.src, s.mirror, filepath.Join(base, "metrics", "cairn.prom"),
		filepath.Join(base, "log", "home.jsonl"), extra)
	write(t, s.config, cfg)
	s.env = []string{"CAIRN_CONFIG=" + s.config, "CAIRN_STATE_DIR=" + s.state, "TZ=UTC", "HOME=" + base}
	mustCairn(t, append(s.env, "CAIRN_PASSWORD=pw"), "-r", s.repo, "init")
	mustCairn(t, append(s.env, "CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw"), "-r", s.mirror, "init", "--copy-chunker-params", "--from-repo", s.repo)
	return s
}

func (s *runSetup) run(t *testing.T, day time.Time, args ...string) (result, profile.Report) {
	t.Helper()
	ts := day.Format(time.RFC3339)
	r := cairn(t, append(s.env, "CAIRN_NOW="+ts), append([]string{"run", "home", "--json", "--time", ts}, args...)...)
	var rep profile.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("run on %s: exit %d, report %q: %v\n%s", ts, r.code, r.stdout, err, r.stderr)
	}
	return r, rep
}

// TestThirtyDays runs a profile nightly for thirty simulated days (one
// night skipped: the machine was off) with a monthly full, weekly
// differential and daily incremental schedule, retention, a weekly prune,
// a mirror and a seven-day check window; then everything is exactly as the
// schedule says.
func TestThirtyDays(t *testing.T) {
	s := newRunSetup(t, t.TempDir(), "")
	start := time.Date(2027, 2, 15, 2, 0, 0, 0, time.UTC) // a Monday
	var days []time.Time
	for d := start; !d.After(time.Date(2027, 3, 17, 2, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
		if d.Day() == 15 && d.Month() == time.March {
			continue // off that night: the differential comes a day late
		}
		days = append(days, d)
	}
	if len(days) != 30 {
		t.Fatalf("%d days", len(days))
	}
	want := map[string]string{"2027-02-15": "full", "2027-02-22": "differential", "2027-03-01": "full",
		"2027-03-08": "differential", "2027-03-16": "differential"}
	pruned := []string{"2027-02-15", "2027-02-22", "2027-03-01", "2027-03-08", "2027-03-16"}
	gens := map[string]string{}
	for i, d := range days {
		write(t, filepath.Join(s.src, "day.txt"), fmt.Sprintf("day %d %s\n", i, strings.Repeat(d.String(), 100)))
		r, rep := s.run(t, d)
		day := d.Format("2006-01-02")
		if r.code != 0 || rep.Status != "success" {
			t.Fatalf("%s: exit %d %+v\n%s", day, r.code, rep, r.stderr)
		}
		level := want[day]
		if level == "" {
			level = "incremental"
		}
		if rep.Level != level {
			t.Fatalf("%s: level %s, want %s", day, rep.Level, level)
		}
		var sn struct {
			ID         string `json:"snapshot_id"`
			Generation string `json:"generation"`
		}
		json.Unmarshal(rep.Snapshot, &sn)
		gens[day] = sn.Generation
		if p := rep.Step("prune"); (p.Status == "ok") != slices.Contains(pruned, day) {
			t.Fatalf("%s: prune %s", day, p.Status)
		}
		if v := rep.Step("verify"); v.Status != "ok" || v.Figures["files"].(float64) < 1 {
			t.Fatalf("%s: verify %+v", day, v)
		}
	}
	// One generation per full backup.
	if gens["2027-02-15"] == gens["2027-03-01"] || gens["2027-02-28"] != gens["2027-02-15"] || gens["2027-03-17"] != gens["2027-03-01"] {
		t.Fatalf("generations: %v", gens)
	}
	// Retention (daily 7, weekly 4, monthly 12) after the last run.
	sns := listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"})
	var kept []string
	for _, sn := range sns {
		kept = append(kept, sn.Time[:10])
	}
	wantKept := []string{"2027-02-28", "2027-03-07", "2027-03-10", "2027-03-11", "2027-03-12", "2027-03-13", "2027-03-14", "2027-03-16", "2027-03-17"}
	if !slices.Equal(kept, wantKept) {
		t.Fatalf("kept %v, want %v", kept, wantKept)
	}
	// The mirror got every snapshot the day it was made.
	if m := listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.mirror, "CAIRN_PASSWORD=pw"}); len(m) != 30 {
		t.Fatalf("mirror has %d snapshots", len(m))
	}
	// The report file has a line per run.
	f, err := os.Open(filepath.Join(s.base, "log", "home.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parts := map[int]bool{}
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var rep profile.Report
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		parts[int(rep.Step("check").Figures["part"].(float64))] = true
	}
	if lines != 30 || len(parts) != 7 {
		t.Fatalf("%d report lines, check parts %v", lines, parts)
	}
	// Status: the check window read 6 of 7 parts in the last 7 days (one
	// night was skipped), nothing lags, the last run succeeded.
	var st []struct {
		LastRun  struct{ Status string } `json:"last_run"`
		Verified struct {
			Parts int `json:"parts_read"`
			Of    int `json:"of"`
		} `json:"verified"`
		Mirrors []struct{ Missing int } `json:"mirrors"`
		Levels  map[string]struct {
			Time time.Time `json:"time"`
		} `json:"last_by_level"`
	}
	out := mustCairn(t, append(s.env, "CAIRN_NOW=2027-03-17T09:00:00Z"), "status", "--json", "--max-age", "26h")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		t.Fatalf("status: %v %s", err, out)
	}
	if st[0].LastRun.Status != "success" || st[0].Verified.Parts != 6 || st[0].Verified.Of != 7 || st[0].Mirrors[0].Missing != 0 {
		t.Fatalf("status: %+v", st[0])
	}
	if r := cairn(t, append(s.env, "CAIRN_NOW=2027-03-19T09:00:00Z"), "status", "--max-age", "26h"); r.code != 2 || !strings.Contains(r.stderr, "newest snapshot is 2d 7h old (max-age 1d 2h)") {
		t.Fatalf("stale status: exit %d %s", r.code, r.stderr)
	}
	// Metrics, read back by the Prometheus parser.
	mf := parseMetrics(t, filepath.Join(s.base, "metrics", "cairn.prom"))
	if v := metric(t, mf, "cairn_run_status", nil); v != 0 {
		t.Fatalf("cairn_run_status %v", v)
	}
	for kind, n := range map[string]float64{"full": 0, "differential": 1, "incremental": 8} {
		if v := metric(t, mf, "cairn_snapshots", map[string]string{"kind": kind}); v != n {
			t.Fatalf("cairn_snapshots{kind=%s} = %v, want %v", kind, v, n)
		}
	}
	if v := metric(t, mf, "cairn_last_success_timestamp_seconds", nil); v < float64(days[29].Unix()) {
		t.Fatalf("last success %v", v)
	}
	target := filepath.Join(s.base, "out")
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"}, "restore", "latest", "--target", target)
	compareTrees(t, s.src, filepath.Join(target, s.src))
}

func parseMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("metrics file: %v", err)
	}
	return mf
}

func metric(t *testing.T, mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	fam := mf[name]
	if fam == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["profile"] != "home" {
			continue
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func readEnvFile(t *testing.T, p string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("hook output: %v", err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// TestRunMirrorDown: the copy to a mirror that is gone fails, the check
// still runs, the run exits non-zero, and on-failure gets the variables.
func TestRunMirrorDown(t *testing.T) {
	base := t.TempDir()
	hooks := fmt.Sprintf("\n[profile.home.hooks]\non-failure = \"env | grep ^CAIRN_ > %s\"\nafter = \"touch %s\"\n",
		filepath.Join(base, "failure.env"), filepath.Join(base, "after"))
	s := newRunSetup(t, base, hooks)
	os.RemoveAll(s.mirror)
	// A password in the environment (unused: the profile names a file)
	// must not reach the hooks (issue 14, demonstrated 9).
	s.env = append(s.env, "CAIRN_PASSWORD=hunter2-secret")
	r, rep := s.run(t, time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC))
	if r.code != 10 || rep.ExitCode != 10 || rep.Status != "failure" {
		t.Fatalf("exit %d, report %+v\n%s", r.code, rep, r.stderr)
	}
	if c := rep.Step("copy"); c.Status != "failed" || !strings.Contains(c.Error, s.mirror) {
		t.Fatalf("copy step %+v", c)
	}
	for _, name := range []string{"backup", "verify", "forget", "prune", "check", "after", "on-failure"} {
		if st := rep.Step(name); st == nil || st.Status != "ok" {
			t.Fatalf("step %s: %+v", name, st)
		}
	}
	env := readEnvFile(t, filepath.Join(base, "failure.env"))
	var sn struct {
		ID string `json:"snapshot_id"`
	}
	json.Unmarshal(rep.Snapshot, &sn)
	if env["CAIRN_RUN_STATUS"] != "failure" || env["CAIRN_EXIT_CODE"] != "10" || env["CAIRN_SNAPSHOT_ID"] != sn.ID ||
		env["CAIRN_RUN_ID"] != rep.RunID || env["CAIRN_PROFILE"] != "home" || env["CAIRN_BACKUP_LEVEL"] != "full" ||
		!strings.Contains(env["CAIRN_ERRORS"], "copy: mirror "+s.mirror) {
		t.Fatalf("on-failure environment: %v", env)
	}
	if _, ok := env["CAIRN_PASSWORD"]; ok {
		t.Fatal("the on-failure hook got CAIRN_PASSWORD")
	}
	if _, err := os.Stat(filepath.Join(base, "after")); err != nil {
		t.Fatal("the after hook did not run")
	}
	// Report, metrics and state are the admin's alone.
	for _, f := range []string{filepath.Join(base, "metrics", "cairn.prom"), filepath.Join(base, "log", "home.jsonl"), filepath.Join(s.state, profile.StateKey(s.config, "home")+".json")} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}
	mf := parseMetrics(t, filepath.Join(base, "metrics", "cairn.prom"))
	if v := metric(t, mf, "cairn_run_status", nil); v != 10 {
		t.Fatalf("cairn_run_status %v", v)
	}
	if v := metric(t, mf, "cairn_step_status", map[string]string{"step": "copy"}); v != 10 {
		t.Fatalf("cairn_step_status{step=copy} %v", v)
	}
	if v := metric(t, mf, "cairn_last_success_timestamp_seconds", nil); v != 0 {
		t.Fatalf("a failed run counted as success: %v", v)
	}
}

// TestRunHookFails: a failing before hook stops the backup and what
// depends on it, not the copy and check; --level overrides the schedule.
func TestRunHookFails(t *testing.T) {
	base := t.TempDir()
	flag := filepath.Join(base, "fail-before")
	hooks := fmt.Sprintf("\n[profile.home.hooks]\nbefore = \"test ! -e %s\"\non-failure = \"env | grep ^CAIRN_ > %s\"\n", flag, filepath.Join(base, "failure.env"))
	s := newRunSetup(t, base, hooks)
	write(t, flag, "")
	r, rep := s.run(t, time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC))
	if r.code != 1 || rep.Status != "failure" {
		t.Fatalf("exit %d %+v", r.code, rep)
	}
	for name, want := range map[string]string{"before": "failed", "backup": "skipped", "verify": "skipped", "forget": "skipped",
		"prune": "skipped", "copy": "ok", "check": "ok", "on-failure": "ok"} {
		if st := rep.Step(name); st == nil || st.Status != want {
			t.Fatalf("step %s: %+v, want %s", name, st, want)
		}
	}
	if env := readEnvFile(t, filepath.Join(base, "failure.env")); env["CAIRN_EXIT_CODE"] != "1" || env["CAIRN_SNAPSHOT_ID"] != "" {
		t.Fatalf("on-failure environment: %v", env)
	}
	if n := len(listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"})); n != 0 {
		t.Fatalf("%d snapshots after a failed before hook", n)
	}
	os.Remove(flag)
	// The schedule says full (none yet); --level says otherwise.
	_, rep = s.run(t, time.Date(2027, 3, 1, 3, 0, 0, 0, time.UTC), "--level", "incremental")
	if rep.Level != "incremental" || rep.ExitCode != 0 {
		t.Fatalf("--level: %+v", rep)
	}
	_, rep = s.run(t, time.Date(2027, 3, 1, 4, 0, 0, 0, time.UTC))
	if rep.Level != "full" {
		t.Fatalf("no full snapshot yet, the schedule gave %s", rep.Level)
	}
}

// TestRunLockAndBadConfig: a second run of a profile exits 11 naming the
// run that holds it; a malformed configuration runs nothing.
func TestRunLockAndBadConfig(t *testing.T) {
	s := newRunSetup(t, t.TempDir(), "")
	lk, err := profile.LockRun(s.state, profile.StateKey(s.config, "home"), profile.Holder{RunID: "feedfacecafe", PID: os.Getpid(), Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r := cairn(t, s.env, "run", "home")
	if r.code != 11 || !strings.Contains(r.stderr, "feedfacecafe") {
		t.Fatalf("second run: exit %d %s", r.code, r.stderr)
	}
	lk.Unlock()
	cfg, _ := os.ReadFile(s.config)
	write(t, s.config, strings.Replace(string(cfg), "full = \"monthly\"", "full = 12", 1))
	r = cairn(t, s.env, "run", "home")
	if r.code != 1 || !strings.Contains(r.stderr, s.config+":7: profile.home.full: `full` must be a period") {
		t.Fatalf("bad config: exit %d %s", r.code, r.stderr)
	}
	write(t, s.config, string(cfg)+"[profile.other]\nrepository = \"/x\"\nschedule = \"daily\"\n")
	r = cairn(t, s.env, "config", "check")
	if r.code != 1 || !strings.Contains(r.stderr, "profile.other.schedule: unknown key") {
		t.Fatalf("config check: exit %d %s", r.code, r.stderr)
	}
	if n := len(listSnapshots(t, []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"})); n != 0 {
		t.Fatalf("%d snapshots after runs with a bad configuration", n)
	}
	if _, err := os.Stat(filepath.Join(s.state, profile.StateKey(s.config, "home")+".json")); err == nil {
		t.Fatal("a run with a bad configuration left state")
	}
	write(t, s.config, string(cfg))
	if out := mustCairn(t, s.env, "config", "check"); !strings.Contains(out, "1 profiles (home): ok") {
		t.Fatalf("config check: %s", out)
	}
	// --profile gives any command the profile's repository and password.
	mustCairn(t, s.env, "--profile", "home", "backup", "-q")
	if out := mustCairn(t, s.env, "--profile", "home", "snapshots"); !strings.Contains(out, "1 snapshots") {
		t.Fatalf("snapshots --profile: %s", out)
	}
}

// TestRunUnreadableFile: a source file that can't be read makes the run
// partial (exit 3) and the report names it.
func TestRunUnreadableFile(t *testing.T) {
	base := sharedTempDir(t)
	src := filepath.Join(base, "src")
	repotestWrite(t, src)
	secret := filepath.Join(src, "secret")
	os.WriteFile(secret, []byte("x"), 0o000)
	write(t, filepath.Join(base, "pass"), "pw\n")
	os.Chmod(filepath.Join(base, "pass"), 0o644)
	cfgPath := filepath.Join(base, "cairn.toml")
	write(t, cfgPath, fmt.Sprintf("[profile.home]\nrepository = %q\npassword-file = %q\nsources = [%q]\nreport-file = %q\n",
		filepath.Join(base, "repo"), filepath.Join(base, "pass"), src, filepath.Join(base, "home.jsonl")))
	env := []string{"CAIRN_CONFIG=" + cfgPath, "CAIRN_STATE_DIR=" + filepath.Join(base, "state"), "HOME=" + base}
	if r := cairnUnprivileged(t, env, "--profile", "home", "init"); r.code != 0 {
		t.Fatalf("init: %d %s", r.code, r.stderr)
	}
	r := cairnUnprivileged(t, env, "run", "home", "--json")
	var rep profile.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s", r.code, err, r.stderr)
	}
	if r.code != 3 || rep.Status != "partial" || rep.Step("backup").Status != "partial" || !strings.Contains(rep.Step("backup").Error, secret) {
		t.Fatalf("exit %d, report %+v", r.code, rep.Step("backup"))
	}
	b, _ := os.ReadFile(filepath.Join(base, "home.jsonl"))
	if !strings.Contains(string(b), secret) {
		t.Fatalf("report file does not name the file: %s", b)
	}
}

// TestScheduleInstall writes the systemd units where --unit-dir says.
func TestScheduleInstall(t *testing.T) {
	s := newRunSetup(t, t.TempDir(), "")
	dir := filepath.Join(s.base, "units")
	out := mustCairn(t, s.env, "schedule", "home", "--systemd", "--install", "--unit-dir", dir)
	if !strings.Contains(out, "enable --now cairn-home.timer") {
		t.Fatalf("install: %s", out)
	}
	timer, err := os.ReadFile(filepath.Join(dir, "cairn-home.timer"))
	if err != nil || !strings.Contains(string(timer), "Persistent=true") {
		t.Fatalf("timer: %v %s", err, timer)
	}
	service, err := os.ReadFile(filepath.Join(dir, "cairn-home.service"))
	if err != nil || !strings.Contains(string(service), "--config "+s.config+" run home") {
		t.Fatalf("service: %v %s", err, service)
	}
	if line := mustCairn(t, s.env, "schedule", "home", "--cron"); !strings.HasPrefix(line, "0 2 * * * ") || !strings.HasSuffix(line, " run home --quiet\n") {
		t.Fatalf("cron line %q", line)
	}
	if r := cairn(t, s.env, "schedule", "home"); r.code != 1 || !strings.Contains(r.stderr, "--cron and --systemd") {
		t.Fatalf("schedule without a format: %d %s", r.code, r.stderr)
	}
}

// TestReportSchema checks a real run report against the schema README
// documents: the same keys with the same JSON types.
func TestReportSchema(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	i, j := strings.Index(doc, "<!-- report-schema -->"), strings.Index(doc, "<!-- /report-schema -->")
	if i < 0 || j < i {
		t.Fatal("README has no report schema")
	}
	block := doc[i:j]
	block = block[strings.Index(block, "```json")+len("```json") : strings.LastIndex(block, "```")]
	var want map[string]any
	if err := json.Unmarshal([]byte(block), &want); err != nil {
		t.Fatalf("README's report example: %v", err)
	}
	s := newRunSetup(t, t.TempDir(), "")
	r, _ := s.run(t, time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC))
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	kind := func(v any) string { return fmt.Sprintf("%T", v) }
	for k, v := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("report lacks %q", k)
		} else if kind(got[k]) != kind(v) {
			t.Errorf("report %q is %s, README says %s", k, kind(got[k]), kind(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("report has %q, README doesn't document it", k)
		}
	}
	wantStep := want["steps"].([]any)[0].(map[string]any)
	for _, st := range got["steps"].([]any) {
		for k, v := range st.(map[string]any) {
			if w, ok := wantStep[k]; !ok || kind(w) != kind(v) {
				t.Errorf("step key %q (%s) is not as README documents", k, kind(v))
			}
		}
		for _, k := range []string{"name", "status", "exit_code", "start", "duration_seconds"} {
			if _, ok := st.(map[string]any)[k]; !ok {
				t.Errorf("step lacks %q", k)
			}
		}
	}
}
