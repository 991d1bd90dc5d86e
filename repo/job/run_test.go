package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// setup is a source tree, a repository, a mirror and a profile naming
// them.
type setup struct {
	src          string
	repo, mirror string
	p            *profile.Profile
	clock        *repotest.Clock
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	s := &setup{src: filepath.Join(t.TempDir(), "src"), clock: &repotest.Clock{T: time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)}}
	repotest.WriteFiles(t, s.src, map[string]string{"a.txt": strings.Repeat("alpha\n", 1000), "d/b.txt": "beta", "skip.tmp": "x"})
	r, dir := repotest.New(t, repo.InitOptions{})
	r.Session().Close()
	cfg := r.Config()
	m, mdir := repotest.New(t, repo.InitOptions{Chunker: &cfg})
	m.Session().Close()
	s.repo, s.mirror = dir, mdir
	s.p = &profile.Profile{Name: "home", Repository: dir, Sources: []string{s.src}, Exclude: []string{"*.tmp"},
		Full: "monthly", Differential: "weekly", Keep: profile.Keep{Last: 2}, Prune: "daily",
		Mirrors: []string{mdir}, CheckWindow: "7d", VerifySample: "100%", Host: "testhost"}
	return s
}

func (s *setup) open(t *testing.T, dir string) *repo.Repository {
	t.Helper()
	return repotest.OpenBare(t, dir, repo.Options{Now: s.clock.Now})
}

// run runs the profile once at the clock's time.
func (s *setup) run(t *testing.T, state *profile.State) (*profile.Report, *job.Run) {
	t.Helper()
	var warnings []string
	rn := &job.Run{Profile: s.p, Now: s.clock.Now(), Host: "ignored", Program: "cairn test", Repo: s.open(t, s.repo),
		OpenMirror: func(ctx context.Context, loc string) (*repo.Repository, error) { return s.open(t, loc), nil },
		State:      state, Warn: func(l string) { warnings = append(warnings, l) }}
	rep := rn.Execute(context.Background(), job.NewRunID())
	if rep.ExitCode != 0 {
		t.Fatalf("run at %s: exit %d, errors %v, warnings %v", s.clock.Now(), rep.ExitCode, rep.Errors, warnings)
	}
	return rep, rn
}

func snapshotsOf(t *testing.T, r *repo.Repository) []*snapshot.Snapshot {
	t.Helper()
	sns, err := snapshot.LoadAll(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return sns
}

// TestRunSteps runs a profile on four days: every step runs through the
// library on the one opened repository, retention keeps two snapshots,
// prune runs daily, the mirror gets every snapshot, the check rotates
// through its window, and the state records it all.
func TestRunSteps(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	state := &profile.State{}
	for day := range 4 {
		repotest.WriteFiles(t, s.src, map[string]string{"day.txt": fmt.Sprint("day ", day)})
		rep, _ := s.run(t, state)
		want := map[string]string{"before": "skipped", "backup": "ok", "verify": "ok", "forget": "ok", "prune": "ok", "copy": "ok", "check": "ok"}
		for name, status := range want {
			if st := rep.Step(name); st == nil || st.Status != status {
				t.Fatalf("day %d: step %s is %+v, want %s", day, name, st, status)
			}
		}
		if day == 0 && rep.Level != "full" || day > 0 && rep.Level != "incremental" {
			t.Fatalf("day %d: level %s", day, rep.Level)
		}
		if v := rep.Step("verify").Figures; v["files"].(float64) != 3 {
			t.Fatalf("day %d: verify read %v files, want all 3 (skip.tmp excluded)", day, v["files"])
		}
		if c := rep.Step("check").Figures; c["of"] != 7 || c["errors"] != 0 {
			t.Fatalf("day %d: check figures %v", day, c)
		}
		if !state.LastPrune.Equal(s.clock.Now()) || len(state.Checks) != day+1 || state.LastRun != rep {
			t.Fatalf("day %d: state %+v", day, state)
		}
		s.clock.Advance(24 * time.Hour)
	}
	if n := len(snapshotsOf(t, s.open(t, s.repo))); n != 2 {
		t.Fatalf("%d snapshots kept, want 2 (keep last 2)", n)
	}
	if n := len(snapshotsOf(t, s.open(t, s.mirror))); n != 4 {
		t.Fatalf("the mirror has %d snapshots, want 4", n)
	}
	parts := map[int]bool{}
	for _, c := range state.Checks {
		parts[c.Part] = true
	}
	if len(parts) != 4 {
		t.Fatalf("check parts %v: four days read four parts", parts)
	}
	if v := job.Verified(state, "7d", s.clock.Now()); v.Parts != 4 || v.Of != 7 {
		t.Fatalf("verified share %+v", v)
	}
}

// TestRunRepositoryUnreadable: without the repository the backup is
// failed (not skipped) with the open error's exit code, the before hook
// does not run, and the steps that don't need a backup still run and
// fail the same way.
func TestRunRepositoryUnreadable(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	openErr := fmt.Errorf("open repository %s: %w", s.repo, repo.ErrNoRepository)
	hookOut := filepath.Join(t.TempDir(), "hook")
	s.p.Hooks.OnFailure = "echo \"$CAIRN_EXIT_CODE $CAIRN_RUN_STATUS\" > " + hookOut
	s.p.Hooks.Before = "touch " + hookOut + "-before"
	rn := &job.Run{Profile: s.p, Now: s.clock.Now(), OpenErr: openErr, Environ: os.Environ()}
	rep := rn.Execute(context.Background(), "feedfacecafe")
	if rep.ExitCode != job.ExitNoRepo || rep.Status != "failure" {
		t.Fatalf("exit %d status %s", rep.ExitCode, rep.Status)
	}
	if b := rep.Step("backup"); b.Status != "failed" || b.ExitCode != job.ExitNoRepo || !strings.Contains(b.Error, s.repo) {
		t.Fatalf("backup %+v", b)
	}
	if b := rep.Step("before"); b.Status != "skipped" {
		t.Fatalf("before %+v", b)
	}
	if _, err := os.Stat(hookOut + "-before"); err == nil {
		t.Fatal("the before hook ran without a repository")
	}
	if h := rn.Hint(); !strings.Contains(h, "init") {
		t.Fatalf("hint %q", h)
	}
	for _, name := range []string{"copy", "check"} {
		if st := rep.Step(name); st.Status != "failed" || st.ExitCode != job.ExitNoRepo {
			t.Fatalf("%s %+v", name, st)
		}
	}
	if b, err := os.ReadFile(hookOut); err != nil || string(b) != "10 failure\n" {
		t.Fatalf("on-failure hook saw %q (%v)", b, err)
	}
}

// TestVerifyFindsDifference: a repository that returns other bytes than
// were backed up fails verification with exit 13, naming the file.
func TestVerifyFindsDifference(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.p.Mirrors, s.p.Keep = nil, profile.Keep{}
	rep, _ := s.run(t, &profile.State{})
	var sum job.BackupSummary
	if err := json.Unmarshal(rep.Snapshot, &sum); err != nil || sum.SnapshotID == "" {
		t.Fatalf("report snapshot %s: %v", rep.Snapshot, err)
	}
	// Same size and mtime, other bytes: the file looks unchanged.
	a := filepath.Join(s.src, "a.txt")
	fi, _ := os.Stat(a)
	os.WriteFile(a, []byte(strings.Repeat("alphA\n", 1000)), 0o644)
	os.Chtimes(a, fi.ModTime(), fi.ModTime())
	r := s.open(t, s.repo)
	sess := repotest.Begin(t, r)
	sn, err := snapshot.Find(context.Background(), r, sum.SnapshotID, snapshot.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.Verify(sess.Context(), r, sn, 1)
	var de *job.DiffersError
	if !errors.As(err, &de) || de.Path != a || job.Code(context.Background(), err) != job.ExitDamage {
		t.Fatalf("verify: %v", err)
	}
}

// TestForgetGuards: a policy that would empty a group is refused unless
// allowed, and the plan is only applied under an exclusive lock.
func TestForgetGuards(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.p.Mirrors, s.p.Keep = nil, profile.Keep{}
	s.run(t, &profile.State{})
	r := s.open(t, s.repo)
	ctx := context.Background()
	pol := snapshot.Policy{Tags: []string{"nothing-has-this"}}
	_, err := job.PlanForget(ctx, r, job.ForgetRequest{Policy: pol, GroupBy: []string{"host"}})
	var ra *job.RemoveAllError
	if !errors.As(err, &ra) || ra.N != 1 || job.Code(ctx, err) != job.ExitFatal || ra.Key.Hostname != "testhost" {
		t.Fatalf("remove-all guard: %v", err)
	}
	plan, err := job.PlanForget(ctx, r, job.ForgetRequest{Policy: pol, GroupBy: []string{"host"}, AllowEmpty: true})
	if err != nil || len(plan.Remove) != 1 {
		t.Fatalf("allowed: %v %+v", err, plan)
	}
	shared := repotest.Begin(t, r)
	if err := plan.Apply(shared.Context(), shared); !errors.Is(err, repo.ErrNoSession) {
		t.Fatalf("apply under a shared lock: %v", err)
	}
	shared.Close()
	ex := repotest.Exclusive(t, r)
	if err := plan.Apply(ex.Context(), ex); err != nil {
		t.Fatal(err)
	}
	if n := len(snapshotsOf(t, r)); n != 0 {
		t.Fatalf("%d snapshots left", n)
	}
}

func TestCheckPart(t *testing.T) {
	t.Parallel()
	day := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
	seen := map[int]bool{}
	for i := range 7 {
		part, of, err := job.CheckPart("7d", day.AddDate(0, 0, i))
		if err != nil || of != 7 || part < 1 || part > 7 {
			t.Fatalf("day %d: %d/%d %v", i, part, of, err)
		}
		seen[part] = true
	}
	if len(seen) != 7 {
		t.Fatalf("seven days read parts %v", seen)
	}
	if part, of, err := job.CheckPart("", day); part != 0 || of != 0 || err != nil {
		t.Fatalf("no window: %d/%d %v", part, of, err)
	}
	if _, _, err := job.CheckPart("soon", day); err == nil {
		t.Fatal("a bad window was accepted")
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{ctx, nil, job.ExitOK},
		{ctx, errors.New("x"), job.ExitFatal},
		{ctx, fmt.Errorf("a: %w", job.ErrPartial), job.ExitPartial},
		{ctx, fmt.Errorf("a: %w", repo.ErrNoRepository), job.ExitNoRepo},
		{ctx, fmt.Errorf("a: %w", repo.ErrWrongPassword), job.ExitWrongPass},
		{ctx, fmt.Errorf("a: %w", repo.ErrLocked), job.ExitLocked},
		{ctx, fmt.Errorf("a: %w", repo.ErrDamaged), job.ExitDamage},
		{cancelled, fmt.Errorf("a: %w", repo.ErrDamaged), job.ExitInterrupted},
		// A lost lock is not damage, whatever failed on the way.
		{ctx, errors.Join(repo.ErrLockLost, repo.ErrDamaged), job.ExitLocked},
		{ctx, &job.RemoveAllError{}, job.ExitFatal},
	} {
		if got := job.Code(c.ctx, c.err); got != c.want {
			t.Errorf("Code(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestCat: each object type decrypts; a tree is reached by SNAPSHOT:PATH;
// an unknown type names the types there are.
func TestCat(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.p.Mirrors, s.p.Keep = nil, profile.Keep{}
	rep, _ := s.run(t, &profile.State{})
	var sum job.BackupSummary
	json.Unmarshal(rep.Snapshot, &sum)
	r := s.open(t, s.repo)
	sess := repotest.Begin(t, r)
	ctx := sess.Context()
	if v, _, err := job.Cat(ctx, r, "config", ""); err != nil || v.(repo.Config).ID != r.Config().ID {
		t.Fatalf("config: %v %v", v, err)
	}
	v, _, err := job.Cat(ctx, r, "snapshot", sum.SnapshotID[:8])
	if err != nil || v.(*snapshot.Snapshot).ID().String() != sum.SnapshotID {
		t.Fatalf("snapshot: %v", err)
	}
	v, _, err = job.Cat(ctx, r, "tree", sum.SnapshotID[:8]+":"+filepath.Join(s.src, "d"))
	if err != nil {
		t.Fatal(err)
	}
	tr := v.(*snapshot.Tree)
	if len(tr.Nodes) != 1 || tr.Nodes[0].Name != "b.txt" {
		t.Fatalf("tree of d: %+v", tr.Nodes)
	}
	_, raw, err := job.Cat(ctx, r, "blob", tr.Nodes[0].Content[0].String())
	if err != nil || string(raw) != "beta" {
		t.Fatalf("blob %q %v", raw, err)
	}
	if _, _, err := job.Cat(ctx, r, "tree", sum.SnapshotID[:8]+":"+filepath.Join(s.src, "a.txt")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("tree of a file: %v", err)
	}
	if _, _, err := job.Cat(ctx, r, "pack", "x"); err == nil || !strings.Contains(err.Error(), "want config, index") {
		t.Fatalf("unknown type: %v", err)
	}
}

// TestHookOutput: a hook's step keeps the end of its output, saying how
// much came before; a failing hook's error ends with its last line.
func TestHookOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, hook    string
		status        string
		output, error string // error: how it ends
	}{
		{"short", "echo one; echo two >&2", "ok", "one\ntwo", ""},
		{"silent", "true", "ok", "", ""},
		{"cut", "head -c 10000 /dev/zero | tr '\\0' x; echo; echo last; exit 3", "failed",
			"[… 5910 bytes of output cut, the last 4096 follow …]\n" + strings.Repeat("x", 4090) + "\nlast", ": exit status 3: last"},
		{"reason before advice", "echo 'dump: error: no server' >&2; echo '  Is it running?' >&2; exit 2", "failed",
			"dump: error: no server\n  Is it running?", ": exit status 2: dump: error: no server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t)
			s.p.Mirrors, s.p.Keep, s.p.VerifySample, s.p.CheckWindow = nil, profile.Keep{}, "", ""
			s.p.Hooks.Before = c.hook
			var warned []string
			rn := &job.Run{Profile: s.p, Now: s.clock.Now(), Repo: s.open(t, s.repo), Environ: os.Environ(),
				Warn: func(l string) { warned = append(warned, l) }}
			rep := rn.Execute(context.Background(), job.NewRunID())
			b := rep.Step("before")
			if b.Status != c.status || b.Output != c.output || !strings.HasSuffix(b.Error, c.error) || (c.error == "") != (b.Error == "") {
				t.Fatalf("before step: status %s, error %q, output of %d bytes %.80q…", b.Status, b.Error, len(b.Output), b.Output)
			}
			if c.status == "failed" && !slices.Contains(warned, "  before: output: "+c.output[strings.LastIndex(c.output, "\n")+1:]) {
				t.Fatalf("warnings %q lack the hook's output", warned)
			}
		})
	}
}
