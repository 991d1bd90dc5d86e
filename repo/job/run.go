package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/copier"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/pruner"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Run is one `cairn run` of a profile: the steps in order, each calling
// the library, each recorded in the report with its exit code and
// figures. A step's failure skips the steps that depend on it (verify
// needs the backup; retention needs a backup; prune needs retention)
// but not the others.
type Run struct {
	Profile *profile.Profile
	// Now is the run's reference time: the snapshot's time and the
	// schedule's and retention's now.
	Now time.Time
	// Level overrides the schedule ("": the schedule decides).
	Level profile.Level
	// Host is this machine's name (the profile's host overrides it).
	Host    string
	Program string
	// Repo is the profile's repository, opened once for the whole run
	// (one key derivation); OpenErr is why it could not be opened, and
	// PasswordErr why there is no password at all (then nothing runs
	// but the after hooks).
	Repo        *repo.Repository
	OpenErr     error
	PasswordErr error
	// OpenMirror opens a mirror with the profile's mirror password.
	OpenMirror func(ctx context.Context, location string) (*repo.Repository, error)
	// RetryLock is how long each step waits for a conflicting lock.
	RetryLock time.Duration
	// Environ is the environment hooks start from (without secrets).
	Environ []string
	// Say is told of each step's outcome (text output); Warn of each
	// warning or error line (stderr), which includes each line a failed
	// hook printed; HookOutput of each line a hook that succeeded
	// printed.
	Say, Warn, HookOutput func(string)
	// State is the profile's state on this machine; the run updates it.
	// StateKey names it (profile.StateKey; the profile's name if empty).
	State    *profile.State
	StateKey string

	rep     *profile.Report
	started time.Time
	host    string
	paths   []string
	snap    *snapshot.Snapshot
	// unchanged is the parent a backup with skip-if-unchanged found
	// nothing changed since; it stands for this run's snapshot.
	unchanged *pack.ID
	hints     []string
}

// Hint returns the hint of the first step that failed with one ("":
// none), for the run's last error line.
func (rn *Run) Hint() string {
	if len(rn.hints) == 0 {
		return ""
	}
	return rn.hints[0]
}

// NewRunID returns a random run ID.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Scope returns the host and absolute paths a profile's snapshots are
// recorded with, which select them for the schedule, retention and
// status.
func Scope(p *profile.Profile, host string) (string, []string) {
	if p.Host != "" {
		host = p.Host
	}
	return host, AbsPaths(p.Sources)
}

// Execute runs the steps and returns the report (its exit code is the
// worst step's).
func (rn *Run) Execute(ctx context.Context, runID string) *profile.Report {
	rn.rep = &profile.Report{Profile: rn.Profile.Name, RunID: runID, Start: rn.Now, Snapshot: json.RawMessage("null"), Errors: []string{}}
	rn.started = time.Now()
	rn.host, rn.paths = Scope(rn.Profile, rn.Host)
	if rn.State == nil {
		rn.State = &profile.State{}
	}
	rn.steps(ctx)
	rep := rn.rep
	rep.End = rn.Now.Add(time.Since(rn.started))
	for _, s := range rep.Steps {
		rep.ExitCode = Worse(rep.ExitCode, s.ExitCode)
	}
	rep.Status = profile.StatusOf(rep.ExitCode)
	rn.State.LastRun = rep
	if rep.ExitCode == 0 {
		rn.State.LastSuccess = rep.End
	}
	return rep
}

// outcome is what a step function returns.
type outcome struct {
	code    int
	figures map[string]any
	err     error
	output  string // a hook's (hooks.go)
}

func failed(ctx context.Context, err error) outcome { return outcome{code: Code(ctx, err), err: err} }

// step records a step: skipped when skip is set, else fn's outcome.
func (rn *Run) step(name, skip string, fn func() outcome) *profile.Step {
	s := profile.Step{Name: name, Start: rn.Now.Add(time.Since(rn.started))}
	if skip != "" {
		s.Status, s.Error = profile.StepSkipped, skip
		rn.rep.Steps = append(rn.rep.Steps, s)
		rn.say("%s: skipped (%s)", name, skip)
		return &rn.rep.Steps[len(rn.rep.Steps)-1]
	}
	start := time.Now()
	out := fn()
	s.Duration = time.Since(start).Seconds()
	s.ExitCode, s.Figures, s.Output = out.code, out.figures, out.output
	switch out.code {
	case ExitOK:
		s.Status = profile.StepOK
	case ExitPartial:
		s.Status = profile.StepPartial
	default:
		s.Status = profile.StepFailed
	}
	if out.err != nil && out.code != ExitOK {
		s.Error = oneLine(out.err.Error())
		rn.rep.Errors = append(rn.rep.Errors, name+": "+s.Error)
		rn.warn(name, "error: "+s.Error)
		var h interface{ Hint() string }
		if errors.As(out.err, &h) {
			rn.hints = append(rn.hints, h.Hint())
		}
	}
	// A failed hook's output goes with its error, for the admin's mail
	// even with --quiet; the others' is part of the text report.
	for _, l := range lines(s.Output) {
		if s.Status == profile.StepFailed {
			rn.warn(name, "output: "+l)
		}
	}
	rn.rep.Steps = append(rn.rep.Steps, s)
	rn.say("%s: %s", name, s.Status)
	for _, l := range lines(s.Output) {
		if s.Status != profile.StepFailed && rn.HookOutput != nil {
			rn.HookOutput("  " + name + ": " + l)
		}
	}
	return &rn.rep.Steps[len(rn.rep.Steps)-1]
}

// lines splits s into lines (none when s is empty).
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

func (rn *Run) say(format string, args ...any) {
	if rn.Say != nil {
		rn.Say(fmt.Sprintf(format, args...))
	}
}

func (rn *Run) warn(step, line string) {
	if rn.Warn != nil {
		rn.Warn("  " + step + ": " + line)
	}
}

// skipIf returns why when cond holds.
func skipIf(cond bool, why string) string {
	if cond {
		return why
	}
	return ""
}

func (rn *Run) steps(ctx context.Context) {
	p := rn.Profile
	if rn.PasswordErr != nil {
		rn.step("password", "", func() outcome { return failed(ctx, rn.PasswordErr) })
		rn.hooks(ctx)
		return
	}
	// The before hook (which may stop a database) runs only once the
	// repository is known to be there and readable: a mistyped
	// repository fails the backup (exit 10) without it.
	level, lerr := rn.level(ctx)
	rn.rep.Level = string(level)
	if lerr != nil {
		rn.step("before", firstOf(skipIf(p.Hooks.Before == "", "no hook"), "the repository can't be read"), nil)
		rn.step("backup", "", func() outcome {
			err := fmt.Errorf("the repository can't be read: %w", lerr)
			if errors.Is(lerr, repo.ErrNoRepository) {
				err = &hinted{err: err, hint: fmt.Sprintf("check repository = %q in profile %s, or create it with `cairn --profile %s init`",
					p.Repository, p.Name, p.Name)}
			}
			return failed(ctx, err)
		})
	} else {
		before := rn.step("before", skipIf(p.Hooks.Before == "", "no hook"), func() outcome { return rn.hook(ctx, p.Hooks.Before) })
		backup := rn.step("backup", skipIf(before.Status == profile.StepFailed, "the before hook failed"),
			func() outcome { return rn.backup(ctx, level) })
		if backup.Status == profile.StepSkipped {
			rn.rep.Errors = append(rn.rep.Errors, "backup: "+backup.Error)
			backup.ExitCode = ExitFatal
		}
	}
	noSnap := rn.snap == nil || rn.Repo.DryRun()
	unchanged := ""
	if rn.unchanged != nil {
		unchanged = "nothing changed since snapshot " + rn.unchanged.Short()
	}
	rn.step("verify", firstOf(skipIf(p.VerifySample == "", "no verify-sample"), unchanged, skipIf(noSnap, "no new snapshot")),
		func() outcome { return rn.verify(ctx) })
	// Retention runs after a backup that found nothing changed too: the
	// parent stands for this run's snapshot and is kept.
	forget := rn.step("forget", firstOf(skipIf(p.Keep.Empty(), "no retention policy"), skipIf(rn.kept().IsNull(), "no new snapshot")),
		func() outcome { return rn.forget(ctx) })
	noRetention := forget.Status == profile.StepFailed || forget.Status == profile.StepSkipped && !p.Keep.Empty()
	rn.step("prune", firstOf(skipIf(!profile.Due(p.Prune, rn.Now, rn.State.LastPrune), "not due ("+p.Prune+")"),
		skipIf(noRetention, "retention did not run")), func() outcome { return rn.prune(ctx) })
	rn.step("copy", skipIf(len(p.Mirrors) == 0, "no mirrors"), func() outcome { return rn.copyMirrors(ctx) })
	rn.step("check", "", func() outcome { return rn.check(ctx) })
	rn.hooks(ctx)
}

func firstOf(reasons ...string) string {
	for _, r := range reasons {
		if r != "" {
			return r
		}
	}
	return ""
}

// sessions are the run's: waiting RetryLock, notices to Warn.
func (rn *Run) sessions(step string) Sessions {
	return Sessions{Retry: rn.RetryLock, OnNotice: func(msg string) { rn.warn(step, "notice: "+msg) },
		OnMissingPacks: func(ids []pack.ID) {
			rn.warn(step, fmt.Sprintf("warning: %d packs named by the index are missing (%s…); their blobs count as absent", len(ids), ids[0].Short()))
		}}
}

// session runs fn in a session with the index loaded on the run's
// repository.
func (rn *Run) session(ctx context.Context, name string, lock repo.LockMode, keepMissing bool, fn func(ctx context.Context, s *repo.Session) error) error {
	if rn.Repo == nil {
		return rn.OpenErr
	}
	return rn.sessions(name).Do(ctx, rn.Repo, lock, true, keepMissing, "run "+name, fn)
}

// readable returns the snapshots of r that can be read, naming the
// others in warnings.
func (rn *Run) readable(ctx context.Context, r *repo.Repository, step string) ([]*snapshot.Snapshot, error) {
	sns, bad, err := snapshot.LoadReadable(ctx, r)
	if err != nil {
		return nil, err
	}
	rn.unreadable(step, bad)
	return sns, nil
}

func (rn *Run) unreadable(step string, bad *snapshot.UnreadableError) {
	if bad == nil {
		return
	}
	for _, e := range bad.Errs {
		rn.warn(step, "warning: "+oneLine(e.Error()))
	}
	rn.warn(step, fmt.Sprintf("warning: %d snapshots can't be read and are left out; run `cairn check`", len(bad.IDs)))
}

// level asks the schedule, from the profile's snapshots.
func (rn *Run) level(ctx context.Context) (profile.Level, error) {
	level := profile.Incremental
	if rn.Level != "" {
		level = rn.Level
	}
	if rn.Repo == nil {
		return level, rn.OpenErr
	}
	sns, err := rn.readable(ctx, rn.Repo, "backup")
	if err != nil {
		return level, err
	}
	if rn.Level != "" {
		return rn.Level, nil
	}
	return profile.Schedule(rn.Profile.Full, rn.Profile.Differential, rn.Now, History(sns, rn.host, rn.paths)), nil
}

// History is what the schedule needs of the snapshots of host and paths.
func History(sns []*snapshot.Snapshot, host string, paths []string) profile.History {
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

func (rn *Run) backup(ctx context.Context, level profile.Level) outcome {
	opts, abs, err := ProfileBackup(rn.Profile, rn.Host)
	if err != nil {
		return failed(ctx, err)
	}
	opts.Time, opts.Program = rn.Now, rn.Program
	var unread []string
	opts.OnError = func(path string, err error) {
		rn.warn("backup", fmt.Sprintf("warning: %s: %v", path, err))
		unread = append(unread, fmt.Sprintf("%s: %v", path, err))
	}
	kind := map[profile.Level]snapshot.Kind{profile.Full: snapshot.Full, profile.Differential: snapshot.Differential}[level]
	if kind == "" {
		kind = snapshot.Incremental
	}
	req := BackupRequest{Options: opts, Kind: kind, Sources: abs,
		OnUnreadable: func(bad *snapshot.UnreadableError) { rn.unreadable("backup", bad) },
		OnPlan: func(pl archiver.Plan) {
			if pl.Fallback != "" {
				rn.warn("backup", "note: "+pl.Fallback)
			}
		}}
	var sn *snapshot.Snapshot
	err = rn.session(ctx, "backup", repo.SharedLock, false, func(ctx context.Context, s *repo.Session) (err error) {
		sn, err = Backup(ctx, s, req)
		return err
	})
	if sn == nil {
		return failed(ctx, err)
	}
	sum := SummaryOf(sn, rn.Repo.DryRun())
	rn.rep.Snapshot, _ = json.Marshal(sum)
	if sn.Summary.Skipped {
		rn.unchanged = sn.Parent
		rn.say("backup: %s backup, nothing changed since snapshot %s, no snapshot written", level, sn.Parent.Short())
	} else {
		rn.snap = sn
		rn.say("backup: %s backup, snapshot %s", level, sn.ID().Short())
	}
	out := outcome{code: Code(ctx, err), figures: figures(sum), err: err}
	if err != nil && len(unread) > 0 {
		// The report names the files that could not be read.
		out.err = fmt.Errorf("%s; %w", strings.Join(unread, "; "), err)
	}
	return out
}

// figures is v as a JSON object.
func figures(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func (rn *Run) verify(ctx context.Context) outcome {
	share, err := profile.ParsePercent(rn.Profile.VerifySample)
	if err != nil {
		return failed(ctx, err)
	}
	var res *VerifyResult
	err = rn.session(ctx, "verify", repo.SharedLock, false, func(ctx context.Context, s *repo.Session) (err error) {
		res, err = Verify(ctx, s.Repository(), rn.snap, share)
		return err
	})
	out := failed(ctx, err)
	if res != nil {
		out.figures = figures(res)
	}
	return out
}

func (rn *Run) forget(ctx context.Context) outcome {
	pol, err := PolicyOf(rn.Profile.Keep)
	if err != nil {
		return failed(ctx, err)
	}
	// The within windows end at the run's time at the latest, and the
	// run's own snapshot is never removed: a snapshot dated in the future
	// can't make retention drop the backup this run reports as a success.
	pol.Now = rn.Now
	reason := "made by this run"
	if rn.unchanged != nil {
		reason = "unchanged since, stands for this run's snapshot"
	}
	req := ForgetRequest{Policy: pol, Filter: snapshot.Filter{Hosts: []string{rn.host}, Paths: rn.paths}, GroupBy: []string{"host", "paths"},
		Keep: map[pack.ID]string{rn.kept(): reason}}
	removed, retained := 0, 0
	err = rn.unlockedIndex(ctx, "forget", func(ctx context.Context, s *repo.Session) error {
		plan, err := PlanForget(ctx, s.Repository(), req)
		if err != nil {
			return err
		}
		err = plan.Apply(ctx, s)
		removed, retained = len(plan.Remove), len(plan.Retained)
		return err
	})
	out := failed(ctx, err)
	out.figures = map[string]any{"removed": removed}
	if retained > 0 {
		out.figures["retained"] = retained
	}
	if err != nil {
		out.figures["removed"] = 0
	}
	return out
}

// kept is the snapshot that stands for this run: the one it wrote, or
// the parent it found nothing changed since (null: none, or a dry run).
func (rn *Run) kept() pack.ID {
	switch {
	case rn.Repo == nil || rn.Repo.DryRun():
		return pack.ID{}
	case rn.snap != nil:
		return rn.snap.ID()
	case rn.unchanged != nil:
		return *rn.unchanged
	}
	return pack.ID{}
}

// unlockedIndex runs fn in an exclusive session without loading the index.
func (rn *Run) unlockedIndex(ctx context.Context, name string, fn func(ctx context.Context, s *repo.Session) error) error {
	if rn.Repo == nil {
		return rn.OpenErr
	}
	return rn.sessions(name).Do(ctx, rn.Repo, repo.ExclusiveLock, false, false, "run "+name, fn)
}

func (rn *Run) prune(ctx context.Context) outcome {
	var plan *pruner.Plan
	err := rn.session(ctx, "prune", repo.ExclusiveLock, false, func(ctx context.Context, s *repo.Session) (err error) {
		r := s.Repository()
		plan, err = pruner.Prune(ctx, r, pruner.Options{MaxUnused: 0.05, Grace: time.Hour, DryRun: r.DryRun(),
			Now: r.Now, BeforeDelete: s.Check})
		if err == nil && !r.DryRun() {
			if cerr := r.PruneCache(ctx); cerr != nil {
				rn.warn("prune", "warning: cleaning the cache: "+cerr.Error())
			}
		}
		return err
	})
	out := failed(ctx, err)
	if plan != nil {
		out.figures = figures(plan)
	}
	if err == nil {
		rn.State.LastPrune = rn.Now
	}
	return out
}

// copyMirrors copies the new snapshots to each of the profile's mirrors.
func (rn *Run) copyMirrors(ctx context.Context) outcome {
	worst, copied := ExitOK, 0
	var errs []error
	for _, m := range rn.Profile.Mirrors {
		res, err := rn.copyTo(ctx, m)
		if err != nil {
			worst = Worse(worst, Code(ctx, err))
			errs = append(errs, fmt.Errorf("mirror %s: %w", m, err))
			continue
		}
		copied += len(res.Copied)
	}
	out := outcome{code: worst, figures: map[string]any{"snapshots_copied": copied, "mirrors": len(rn.Profile.Mirrors)}}
	if len(errs) > 0 {
		out.err = errors.Join(errs...)
	}
	return out
}

func (rn *Run) copyTo(ctx context.Context, loc string) (*copier.Result, error) {
	if rn.Repo == nil {
		return nil, fmt.Errorf("source: %w", rn.OpenErr)
	}
	if rn.OpenMirror == nil {
		return nil, errors.New("no way to open mirrors")
	}
	dst, err := rn.OpenMirror(ctx, loc)
	if err != nil {
		return nil, MirrorOpenError(loc, err)
	}
	return rn.sessions("copy").Copy(ctx, rn.Repo, dst, CopyRequest{OnUnreadable: func(bad *snapshot.UnreadableError) { rn.unreadable("copy", bad) }})
}

// CheckPart returns which part of how many a check on day now reads for
// a check window ("7d": every pack once in seven days); 0, 0 without a
// window (the metadata only).
func CheckPart(window string, now time.Time) (part, of int, err error) {
	if window == "" {
		return 0, 0, nil
	}
	w, err := profile.ParseDays(window)
	if err != nil {
		return 0, 0, err
	}
	of = max(1, int(w/(24*time.Hour)))
	return int(now.Unix()/86400)%of + 1, of, nil
}

// maxChecks bounds the check history kept in the state.
const maxChecks = 400

func (rn *Run) check(ctx context.Context) outcome {
	part, of, err := CheckPart(rn.Profile.CheckWindow, rn.Now)
	if err != nil {
		return failed(ctx, err)
	}
	o := checker.Options{ReadData: of > 0, Part: part, Of: of, Now: func() time.Time { return rn.Now }}
	var rep *checker.Report
	err = rn.session(ctx, "check", repo.SharedLock, true, func(ctx context.Context, s *repo.Session) (err error) {
		rep, err = checker.Check(ctx, s.Repository(), o)
		return err
	})
	if err == nil && rep.Damaged() {
		for _, p := range rep.Errors {
			rn.warn("check", "damage: "+oneLine(fmt.Sprint(p)))
		}
		err = &damageError{n: len(rep.Errors)}
	}
	out := failed(ctx, err)
	if rep != nil {
		out.figures = map[string]any{"errors": len(rep.Errors), "packs": rep.Packs, "packs_read": rep.PacksRead, "part": part, "of": of}
		if of > 0 {
			rn.State.Checks = append(rn.State.Checks, profile.CheckRun{Time: rn.Now, Part: part, Of: of})
			if len(rn.State.Checks) > maxChecks {
				rn.State.Checks = rn.State.Checks[len(rn.State.Checks)-maxChecks:]
			}
		}
	}
	return out
}

// damageError is a check that found damage.
type damageError struct{ n int }

func (e *damageError) Error() string {
	return fmt.Sprintf("check: %d problems found: %v", e.n, checker.ErrDamage)
}
func (e *damageError) Unwrap() error   { return checker.ErrDamage }
func (e *damageError) ExitStatus() int { return ExitDamage }
