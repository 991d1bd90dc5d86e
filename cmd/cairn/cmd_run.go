package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type runOptions struct {
	time  string
	level string
}

func newRunCommand(g *globalOptions) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run PROFILE",
		Short: "Run a profile's nightly job: hooks, backup, retention, prune, copies, checks",
		Long: `Run everything a profile of the configuration file asks for, under one run
ID, as cron or a systemd timer would (see "cairn schedule"):

  before hook → backup at the level the schedule gives (--level overrides)
  → verify a sample of the new snapshot against the source
  → retention (keep = …) on every run → prune when due (prune = "weekly")
  → copy new snapshots to the mirrors → check a rotating share of the
  repository (check-window) → after / on-success / on-failure hooks

A step's failure skips the steps that depend on it (verify needs the
backup; retention needs a backup; prune needs retention) but not the others.
The exit code is the worst step's. A JSON report is appended to
report-file (printed with --json), metrics are written to metrics-file,
and hooks get CAIRN_RUN_STATUS, CAIRN_EXIT_CODE, CAIRN_SNAPSHOT_ID,
CAIRN_RUN_ID, CAIRN_PROFILE, CAIRN_BACKUP_LEVEL and CAIRN_ERRORS. Two runs
of one profile never overlap: the second exits with 11.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProfile(cmd.Context(), g, o, args[0])
		},
	}
	cmd.Flags().StringVar(&o.time, "time", "", "the run's reference `time` (backfills, tests): the snapshot's time, the schedule's and retention's now")
	cmd.Flags().StringVar(&o.level, "level", "", "override the schedule: full, differential or incremental")
	return cmd
}

// runner carries one run.
type runner struct {
	g       *globalOptions
	p       *profile.Profile
	rep     *profile.Report
	now     time.Time
	pw      string
	host    string
	paths   []string
	stderr  io.Writer
	state   *profile.State
	force   string // --level
	started time.Time
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func runProfile(ctx context.Context, g *globalOptions, o runOptions, name string) error {
	_, p, err := g.loadProfile(name)
	if err != nil {
		return err
	}
	if o.level != "" && !slices.Contains([]string{"full", "differential", "incremental"}, o.level) {
		return fmt.Errorf("run: --level %q: want full, differential or incremental", o.level)
	}
	now := g.env.Now()
	if o.time != "" {
		if now, err = parseTime(o.time); err != nil {
			return err
		}
	}
	rep := &profile.Report{Profile: name, RunID: newRunID(), Start: now, Snapshot: json.RawMessage("null"), Errors: []string{}}
	dir := profile.StateDir(g.env.Getenv)
	lock, err := profile.LockRun(dir, name, profile.Holder{RunID: rep.RunID, PID: os.Getpid(), Start: time.Now()})
	if err != nil {
		if errors.Is(err, profile.ErrRunning) {
			return &exitError{code: exitLocked, err: err, hint: "wait for that run to finish"}
		}
		return err
	}
	defer lock.Unlock()
	st, err := profile.LoadState(dir, name)
	if err != nil {
		return err
	}
	// Every step sees the run's time.
	fixed := now
	g.env.Now = func() time.Time { return fixed }
	if err := g.applyProfile(name); err != nil {
		return err
	}
	started := time.Now()
	rn := &runner{g: g, p: p, rep: rep, now: now, stderr: g.env.Stderr, state: st, force: o.level, started: started}
	rn.host, rn.paths = profileScope(p)
	rn.run(ctx)
	rep.End = now.Add(time.Since(started))
	rep.ExitCode = 0
	for _, s := range rep.Steps {
		if profile.Severity(s.ExitCode) > profile.Severity(rep.ExitCode) {
			rep.ExitCode = s.ExitCode
		}
	}
	rep.Status = profile.StatusOf(rep.ExitCode)
	rn.finish(ctx, dir)
	if g.json {
		if err := jsonOut(g, rep); err != nil {
			return err
		}
	} else if !g.quiet {
		g.printf("run %s of profile %s: %s (exit %d)\n", rep.RunID, name, rep.Status, rep.ExitCode)
	}
	if rep.ExitCode != 0 {
		return &exitError{code: rep.ExitCode, err: fmt.Errorf("run %s of profile %s: %s: %s", rep.RunID, name, rep.Status, strings.Join(rep.Errors, "; "))}
	}
	return nil
}

// step records a step; fn returns its exit code, figures and error text.
func (rn *runner) step(name string, skip skipReason, fn func() (int, map[string]any, string)) *profile.Step {
	s := profile.Step{Name: name, Start: rn.now.Add(time.Since(rn.started))}
	if skip != "" {
		s.Status, s.Error = profile.StepSkipped, string(skip)
		rn.rep.Steps = append(rn.rep.Steps, s)
		rn.say("%s: skipped (%s)\n", name, skip)
		return &rn.rep.Steps[len(rn.rep.Steps)-1]
	}
	start := time.Now()
	code, figures, msg := fn()
	s.Duration = time.Since(start).Seconds()
	s.ExitCode, s.Figures = code, figures
	switch code {
	case 0:
		s.Status = profile.StepOK
	case 3:
		s.Status = profile.StepPartial
	default:
		s.Status = profile.StepFailed
	}
	if msg != "" && code != 0 {
		s.Error = msg
		rn.rep.Errors = append(rn.rep.Errors, name+": "+msg)
	}
	rn.rep.Steps = append(rn.rep.Steps, s)
	rn.say("%s: %s\n", name, s.Status)
	return &rn.rep.Steps[len(rn.rep.Steps)-1]
}

func (rn *runner) say(format string, args ...any) {
	if !rn.g.json {
		rn.g.printf(format, args...)
	}
}

// cairn runs a cairn command in this process with the profile's
// repository and the run's password; it returns the exit code, stdout and
// the error lines of stderr.
func (rn *runner) cairn(ctx context.Context, repoLoc, password string, args ...string) (int, []byte, string) {
	var out, errb bytes.Buffer
	env := *rn.g.env
	env.Stdout, env.Stderr = &out, &errb
	env.StdoutIsTerminal = func() bool { return false }
	pw := password
	env.Getenv = func(k string) string {
		switch k {
		case "CAIRN_PASSWORD":
			return pw
		case "CAIRN_PASSWORD_FILE", "CAIRN_REPOSITORY", "CAIRN_FROM_PASSWORD_FILE", "CAIRN_FROM_REPOSITORY":
			return ""
		case "CAIRN_FROM_PASSWORD":
			return rn.pw
		}
		return rn.g.env.Getenv(k)
	}
	full := []string{"-r", repoLoc, "--config", rn.g.profFile.Path}
	for _, o := range rn.g.options {
		full = append(full, "-o", o)
	}
	if rn.g.compression != "" {
		full = append(full, "--compression", rn.g.compression)
	}
	full = append(full, args...)
	code := Run(ctx, &env, full)
	// Pass warnings and errors on, marked with the step.
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if l != "" {
			fmt.Fprintf(rn.stderr, "  %s: %s\n", args[0], l)
		}
	}
	var msgs []string
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "warning: ") || strings.HasPrefix(l, "damage: ") {
			msgs = append(msgs, l)
		}
	}
	return code, out.Bytes(), strings.Join(msgs, "; ")
}

// lastJSON decodes the last JSON line of out into v.
func lastJSON(out []byte, v any) error {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return json.Unmarshal(lines[len(lines)-1], v)
}

func (rn *runner) run(ctx context.Context) {
	p := rn.p
	g := rn.g
	// The password once, for every step.
	pw, err := g.password("enter password for repository: ")
	if err != nil {
		rn.step("password", "", func() (int, map[string]any, string) { code, _ := exitCode(ctx, err); return code, nil, err.Error() })
		rn.hooks(ctx)
		return
	}
	rn.pw = pw
	before := rn.step("before", skipIf(p.Hooks.Before == "", "no hook"), func() (int, map[string]any, string) {
		return rn.hook(ctx, p.Hooks.Before)
	})
	// The level from the schedule.
	level, lerr := rn.level(ctx)
	if rn.force != "" {
		level = profile.Level(rn.force)
	}
	rn.rep.Level = string(level)
	var skipBackup skipReason
	switch {
	case before.Status == profile.StepFailed:
		skipBackup = "the before hook failed"
	case lerr != nil:
		skipBackup = skipReason("the repository can't be read: " + lerr.Error())
	}
	var snapID string
	backup := rn.step("backup", skipBackup, func() (int, map[string]any, string) {
		args := []string{"backup", "--json", "--time", rn.now.Format(time.RFC3339)}
		switch level {
		case profile.Full:
			args = append(args, "--full")
		case profile.Differential:
			args = append(args, "--differential")
		}
		code, out, msg := rn.cairn(ctx, p.Repository, pw, append(append(args, "--profile", p.Name), p.Sources...)...)
		var sum map[string]any
		if code == 0 || code == 3 {
			if err := lastJSON(out, &sum); err == nil {
				snapID, _ = sum["snapshot_id"].(string)
				rn.rep.Snapshot, _ = json.Marshal(sum)
			}
		}
		rn.say("backup: %s backup, snapshot %s\n", level, short(snapID))
		return code, sum, msg
	})
	if backup.Status == profile.StepSkipped {
		rn.rep.Errors = append(rn.rep.Errors, "backup: "+backup.Error)
		backup.ExitCode = exitFatal
		if lerr != nil {
			backup.ExitCode, _ = exitCode(ctx, lerr)
		}
	}
	backedUp := snapID != ""
	rn.step("verify", skipIf(p.VerifySample == "", "no verify-sample").or(!backedUp, "no new snapshot"), func() (int, map[string]any, string) {
		return rn.verify(ctx, snapID)
	})
	forget := rn.step("forget", skipIf(p.Keep.Empty(), "no retention policy").or(!backedUp, "no new snapshot"), func() (int, map[string]any, string) {
		args := append([]string{"forget", "--json", "--host", rn.host}, p.Keep.Args()...)
		for _, a := range rn.paths {
			args = append(args, "--path", a)
		}
		code, out, msg := rn.cairn(ctx, p.Repository, pw, args...)
		removed := 0
		var groups []struct {
			Remove []json.RawMessage `json:"remove"`
		}
		if json.Unmarshal(bytes.TrimSpace(out), &groups) == nil {
			for _, gr := range groups {
				removed += len(gr.Remove)
			}
		}
		return code, map[string]any{"removed": removed}, msg
	})
	due := profile.Due(p.Prune, rn.now, rn.state.LastPrune)
	rn.step("prune", skipIf(!due, "not due ("+p.Prune+")").or(forget.Status == profile.StepFailed || forget.Status == profile.StepSkipped && !p.Keep.Empty(), "retention did not run"), func() (int, map[string]any, string) {
		code, out, msg := rn.cairn(ctx, p.Repository, pw, "prune", "--json")
		var plan map[string]any
		_ = lastJSON(out, &plan)
		if code == 0 {
			rn.state.LastPrune = rn.now
		}
		return code, plan, msg
	})
	rn.step("copy", skipIf(len(p.Mirrors) == 0, "no mirrors"), func() (int, map[string]any, string) {
		return rn.copyMirrors(ctx)
	})
	rn.step("check", "", func() (int, map[string]any, string) {
		args := []string{"check", "--json"}
		var part, of int
		if p.CheckWindow != "" {
			w, _ := profile.ParseDays(p.CheckWindow)
			of = max(1, int(w/(24*time.Hour)))
			part = int(rn.now.Unix()/86400)%of + 1
			args = append(args, "--read-data-subset", fmt.Sprintf("%d/%d", part, of))
		}
		code, out, msg := rn.cairn(ctx, p.Repository, pw, args...)
		var cr struct {
			Errors    []json.RawMessage `json:"errors"`
			PacksRead int               `json:"packs_read"`
			Packs     int               `json:"packs"`
		}
		_ = lastJSON(out, &cr)
		if of > 0 && (code == 0 || code == exitDamage) {
			rn.state.Checks = append(rn.state.Checks, profile.CheckRun{Time: rn.now, Part: part, Of: of})
			if len(rn.state.Checks) > 400 {
				rn.state.Checks = rn.state.Checks[len(rn.state.Checks)-400:]
			}
		}
		return code, map[string]any{"errors": len(cr.Errors), "packs": cr.Packs, "packs_read": cr.PacksRead, "part": part, "of": of}, msg
	})
	rn.hooks(ctx)
}

// skipReason is why a step is skipped ("": it runs).
type skipReason string

func skipIf(cond bool, why string) skipReason {
	if cond {
		return skipReason(why)
	}
	return ""
}

func (s skipReason) or(cond bool, why string) skipReason {
	if s != "" {
		return s
	}
	return skipIf(cond, why)
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	if id == "" {
		return "none"
	}
	return id
}

// level loads the profile's snapshots and asks the schedule.
func (rn *runner) level(ctx context.Context) (profile.Level, error) {
	r, err := rn.g.openRepo(ctx)
	if err != nil {
		return profile.Incremental, err
	}
	sns, err := rn.g.readableSnapshots(ctx, r)
	if err != nil {
		return profile.Incremental, err
	}
	h := historyOf(sns, rn.host, rn.paths)
	return profile.Schedule(rn.p.Full, rn.p.Differential, rn.now, h), nil
}

func historyOf(sns []*snapshot.Snapshot, host string, paths []string) profile.History {
	f := snapshot.Filter{Hosts: []string{host}, Paths: paths}
	var h profile.History
	for _, sn := range sns {
		if !f.Match(sn) {
			continue
		}
		if t := sn.FullTime(); t.After(h.LastFull) {
			h.LastFull = t
		}
		if t := sn.DiffTime(); t.After(h.LastDiff) {
			h.LastDiff = t
		}
	}
	return h
}

// copyMirrors copies to each mirror of the profile, with the profile's
// mirror password source (default: the repository's password).
func (rn *runner) copyMirrors(ctx context.Context) (int, map[string]any, string) {
	worst, copied := 0, 0
	var msgs []string
	for _, m := range rn.p.Mirrors {
		pw := rn.pw
		args := []string{"copy", "--json", "--from-repo", rn.p.Repository}
		// The mirrors' password source is the profile's, never one
		// read from the repository's config.
		switch {
		case rn.p.MirrorPasswordFile != "":
			pw, args = "", append([]string{"--password-file", rn.p.MirrorPasswordFile}, args...)
		case rn.p.MirrorPasswordCommand != "":
			pw, args = "", append([]string{"--password-command", rn.p.MirrorPasswordCommand}, args...)
		}
		code, out, msg := rn.cairn(ctx, m, pw, args...)
		var res struct {
			Copied []json.RawMessage `json:"copied"`
		}
		if code == 0 && lastJSON(out, &res) == nil {
			copied += len(res.Copied)
		}
		if code != 0 {
			msgs = append(msgs, fmt.Sprintf("mirror %s: %s", m, msg))
		}
		if profile.Severity(code) > profile.Severity(worst) {
			worst = code
		}
	}
	return worst, map[string]any{"snapshots_copied": copied, "mirrors": len(rn.p.Mirrors)}, strings.Join(msgs, "; ")
}

// hook runs a shell command with the run's variables.
func (rn *runner) hook(ctx context.Context, command string) (int, map[string]any, string) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = append(backend.ChildEnv(os.Environ()), rn.hookEnv()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if s := strings.TrimSpace(out.String()); s != "" && !rn.g.quiet {
		for _, l := range strings.Split(s, "\n") {
			fmt.Fprintf(rn.stderr, "  hook: %s\n", l)
		}
	}
	if err != nil {
		return exitFatal, nil, fmt.Sprintf("hook %s: %v", firstWord(command), err)
	}
	return 0, nil, ""
}

func (rn *runner) hookEnv() []string {
	code := 0
	snap := ""
	for _, s := range rn.rep.Steps {
		if profile.Severity(s.ExitCode) > profile.Severity(code) {
			code = s.ExitCode
		}
		if s.Name == "backup" && s.Figures != nil {
			snap, _ = s.Figures["snapshot_id"].(string)
		}
	}
	return []string{
		"CAIRN_PROFILE=" + rn.p.Name, "CAIRN_RUN_ID=" + rn.rep.RunID,
		"CAIRN_RUN_STATUS=" + profile.StatusOf(code), "CAIRN_EXIT_CODE=" + strconv.Itoa(code),
		"CAIRN_SNAPSHOT_ID=" + snap, "CAIRN_BACKUP_LEVEL=" + rn.rep.Level,
		"CAIRN_ERRORS=" + strings.Join(rn.rep.Errors, "; "), "CAIRN_REPOSITORY=" + rn.p.Repository,
	}
}

// hooks runs the after hook and on-success or on-failure.
func (rn *runner) hooks(ctx context.Context) {
	p := rn.p
	failed := false
	for _, s := range rn.rep.Steps {
		failed = failed || s.Status == profile.StepFailed || s.Name == "backup" && s.Status == profile.StepSkipped
	}
	if p.Hooks.After != "" {
		rn.step("after", "", func() (int, map[string]any, string) { return rn.hook(ctx, p.Hooks.After) })
	}
	if failed && p.Hooks.OnFailure != "" {
		rn.step("on-failure", "", func() (int, map[string]any, string) { return rn.hook(ctx, p.Hooks.OnFailure) })
	}
	if !failed && p.Hooks.OnSuccess != "" {
		rn.step("on-success", "", func() (int, map[string]any, string) { return rn.hook(ctx, p.Hooks.OnSuccess) })
	}
}

// finish writes the report, the state and the metrics.
func (rn *runner) finish(ctx context.Context, dir string) {
	rep, p, st := rn.rep, rn.p, rn.state
	st.LastRun = rep
	if rep.ExitCode == 0 {
		st.LastSuccess = rep.End
	}
	if err := profile.SaveState(dir, p.Name, st); err != nil {
		rn.g.warnf("warning: %v\n", err)
	}
	if p.ReportFile != "" {
		if err := profile.AppendReport(p.ReportFile, rep); err != nil {
			rn.g.warnf("warning: %v\n", err)
		}
	}
	if p.MetricsFile == "" {
		return
	}
	m := profile.Metrics{Profile: p.Name, Status: rep.ExitCode, LastRun: rep.End, LastSuccess: st.LastSuccess,
		Steps: rep.Steps, Snapshots: map[string]int{}}
	if s := rep.Step("backup"); s != nil && s.Figures != nil {
		num := func(k string) float64 { v, _ := s.Figures[k].(float64); return v }
		m.BackupDuration = s.Duration
		m.BackupBytesAdded = num("bytes_added")
		m.BackupFiles = num("total_files")
	}
	if s := rep.Step("check"); s != nil && s.Figures != nil {
		v, _ := s.Figures["errors"].(int)
		m.CheckErrors = float64(v)
	}
	if r, err := rn.g.openRepo(ctx); err == nil {
		if sns, err := rn.g.readableSnapshots(ctx, r); err == nil {
			f := snapshot.Filter{Hosts: []string{rn.host}, Paths: rn.paths}
			for _, sn := range sns {
				if f.Match(sn) {
					m.Snapshots[string(sn.Kind)]++
					if sn.Time.After(m.NewestSnapshot) {
						m.NewestSnapshot = sn.Time
					}
				}
			}
		}
		for _, t := range backend.AllTypes {
			_ = r.Backend().List(ctx, t, func(fi backend.FileInfo) error { m.RepositorySize += float64(fi.Size); return nil })
		}
	}
	if err := profile.WriteMetrics(p.MetricsFile, m); err != nil {
		rn.g.warnf("warning: %v\n", err)
	}
}

// verify reads back a sample of the new snapshot's files (verify-sample,
// at least one) and compares them with the source; files changed since
// the backup are passed over.
func (rn *runner) verify(ctx context.Context, id string) (int, map[string]any, string) {
	var (
		code int
		fig  map[string]any
		msg  string
	)
	err := rn.g.withSession(ctx, session{lock: repo.SharedLock, index: true, command: "run verify"}, func(ctx context.Context, s *repo.Session) error {
		code, fig, msg = rn.verifyIn(ctx, s.Repository(), id)
		return nil
	})
	if err != nil {
		code, _ := exitCode(ctx, err)
		return code, nil, err.Error()
	}
	return code, fig, msg
}

func (rn *runner) verifyIn(ctx context.Context, r *repo.Repository, id string) (int, map[string]any, string) {
	share, _ := profile.ParsePercent(rn.p.VerifySample)
	sn, err := snapshot.Find(ctx, r, id, snapshot.Filter{})
	if err != nil {
		code, _ := exitCode(ctx, err)
		return code, nil, err.Error()
	}
	type file struct {
		path string
		node *snapshot.Node
	}
	var files []file
	if err := snapshot.Walk(ctx, r, sn.Tree, "/", func(p string, n *snapshot.Node) error {
		if n.Type == snapshot.TypeFile {
			files = append(files, file{p, n})
		}
		return nil
	}); err != nil {
		code, _ := exitCode(ctx, err)
		return code, nil, err.Error()
	}
	want := max(1, int(float64(len(files))*share+0.999999))
	// A different sample each snapshot, the same on a rerun.
	seed := sn.ID()
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	for i := len(order) - 1; i > 0; i-- {
		j := int((uint64(seed[i%32])<<8 | uint64(seed[(i*7)%32])) % uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	verified, changed := 0, 0
	var bytesRead int64
	for _, i := range order {
		if verified == want {
			break
		}
		f := files[i]
		fi, err := os.Lstat(f.path)
		if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != f.node.Size || !fi.ModTime().Equal(f.node.ModTime) {
			changed++
			continue
		}
		same, n, err := sameContent(ctx, r, f.node, f.path)
		if err != nil {
			if errors.Is(err, repo.ErrDamaged) {
				return exitDamage, nil, fmt.Sprintf("verify %s: %v", f.path, err)
			}
			changed++
			continue
		}
		if !same {
			return exitDamage, map[string]any{"files": verified}, fmt.Sprintf("verify: %s in snapshot %s differs from the source", f.path, short(id))
		}
		verified++
		bytesRead += n
	}
	return 0, map[string]any{"files": verified, "bytes": bytesRead, "skipped_changed": changed, "of": len(files)}, ""
}

// sameContent compares a file's content in the repository with the file.
func sameContent(ctx context.Context, r *repo.Repository, n *snapshot.Node, path string) (bool, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	var buf, disk []byte
	var total int64
	for _, id := range n.Content {
		buf, err = r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, buf[:0])
		if err != nil {
			return false, total, err
		}
		disk = slices.Grow(disk[:0], len(buf))[:len(buf)]
		if _, err := io.ReadFull(f, disk); err != nil {
			return false, total, nil
		}
		if !bytes.Equal(buf, disk) {
			return false, total, nil
		}
		total += int64(len(buf))
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k != 0 {
		return false, total, nil
	}
	return true, total, nil
}

// profileScope returns the host and absolute paths a profile's snapshots
// are recorded with, which select them for the schedule, retention and
// status.
func profileScope(p *profile.Profile) (string, []string) {
	host := p.Host
	if host == "" {
		host = hostname()
	}
	var paths []string
	for _, s := range p.Sources {
		paths = append(paths, absPath(s))
	}
	return host, paths
}
