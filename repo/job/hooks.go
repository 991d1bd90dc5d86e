package job

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/cairn-backup/cairn/repo/connect"
	"github.com/cairn-backup/cairn/repo/profile"
)

// HookOutputMax is how much of a hook's output (stdout and stderr, as
// it came) a run keeps: the end, where a failing command says why.
const HookOutputMax = 4 << 10

// hook runs a shell command of the profile with the run's variables.
// The last HookOutputMax bytes of its output go into the step's report;
// a failing hook's error ends with the line of its output that says why
// (lastLine), so the one line a cron mail shows says why it failed, not
// only its exit status.
func (rn *Run) hook(ctx context.Context, command string) outcome {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = append(append([]string{}, rn.Environ...), rn.hookEnv()...)
	out := &tailWriter{max: HookOutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	o := outcome{output: out.String()}
	if err != nil {
		o.code, o.err = ExitFatal, fmt.Errorf("hook %s: %w", connect.FirstWord(command), err)
		if last := lastLine(o.output); last != "" {
			o.err = fmt.Errorf("%w: %s", o.err, last)
		}
	}
	return o
}

// lastLine returns the line of s that most likely says why a command
// failed: the last of its last five non-blank lines that speaks of an
// error (pg_dump's reason comes before its advice), else the last one;
// at most 200 bytes of it.
func lastLine(s string) string {
	var tail []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			tail = append(tail, l)
		}
	}
	if len(tail) == 0 {
		return ""
	}
	tail = tail[max(0, len(tail)-5):]
	l := tail[len(tail)-1]
	for _, t := range tail {
		low := strings.ToLower(t)
		if strings.Contains(low, "error") || strings.Contains(low, "fatal") || strings.Contains(low, "failed") {
			l = t
		}
	}
	if len(l) > 200 {
		l = strings.ToValidUTF8(l[:200], "") + "…"
	}
	return l
}

// tailWriter keeps the last max bytes written to it and counts the
// others. One goroutine writes at a time (exec.Cmd's promise when Stdout
// and Stderr are the same writer).
type tailWriter struct {
	buf   []byte
	max   int
	total int64
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.total += int64(len(p))
	if len(p) >= w.max {
		w.buf = append(w.buf[:0], p[len(p)-w.max:]...)
		return len(p), nil
	}
	if over := len(w.buf) + len(p) - w.max; over > 0 {
		w.buf = w.buf[:copy(w.buf, w.buf[over:])]
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// String returns what was kept, without trailing blank lines, after a
// line saying how much came before it when that was cut.
func (w *tailWriter) String() string {
	kept := strings.TrimRight(strings.ToValidUTF8(string(w.buf), "\uFFFD"), " \t\r\n")
	if cut := w.total - int64(len(w.buf)); cut > 0 && kept != "" {
		return fmt.Sprintf("[… %d bytes of output cut, the last %d follow …]\n%s", cut, len(w.buf), kept)
	}
	return kept
}

// hookEnv is what a hook is told of the run so far.
func (rn *Run) hookEnv() []string {
	code := 0
	for _, s := range rn.rep.Steps {
		code = Worse(code, s.ExitCode)
	}
	snap := ""
	if rn.snap != nil && !rn.Repo.DryRun() {
		snap = rn.snap.ID().String()
	}
	return []string{
		"CAIRN_PROFILE=" + rn.Profile.Name, "CAIRN_RUN_ID=" + rn.rep.RunID,
		"CAIRN_RUN_STATUS=" + profile.StatusOf(code), "CAIRN_EXIT_CODE=" + strconv.Itoa(code),
		"CAIRN_SNAPSHOT_ID=" + snap, "CAIRN_BACKUP_LEVEL=" + rn.rep.Level,
		"CAIRN_ERRORS=" + strings.Join(rn.rep.Errors, "; "), "CAIRN_REPOSITORY=" + rn.Profile.Repository,
	}
}

// hooks runs the after hook, then on-success or on-failure.
func (rn *Run) hooks(ctx context.Context) {
	p := rn.Profile
	failed := false
	for _, s := range rn.rep.Steps {
		failed = failed || s.Status == profile.StepFailed || s.Name == "backup" && s.Status == profile.StepSkipped
	}
	if p.Hooks.After != "" {
		rn.step("after", "", func() outcome { return rn.hook(ctx, p.Hooks.After) })
	}
	if failed && p.Hooks.OnFailure != "" {
		rn.step("on-failure", "", func() outcome { return rn.hook(ctx, p.Hooks.OnFailure) })
	}
	if !failed && p.Hooks.OnSuccess != "" {
		rn.step("on-success", "", func() outcome { return rn.hook(ctx, p.Hooks.OnSuccess) })
	}
}
