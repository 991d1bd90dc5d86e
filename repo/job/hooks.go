package job

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/cairn-backup/cairn/repo/connect"
	"github.com/cairn-backup/cairn/repo/profile"
)

// hook runs a shell command of the profile with the run's variables;
// its output goes to HookOutput, marked as the hook's.
func (rn *Run) hook(ctx context.Context, command string) outcome {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = append(append([]string{}, rn.Environ...), rn.hookEnv()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if s := strings.TrimSpace(out.String()); s != "" && rn.HookOutput != nil {
		for _, l := range strings.Split(s, "\n") {
			rn.HookOutput("  hook: " + l)
		}
	}
	if err != nil {
		return outcome{code: ExitFatal, err: fmt.Errorf("hook %s: %w", connect.FirstWord(command), err)}
	}
	return outcome{}
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
