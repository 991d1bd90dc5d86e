//go:build unix

package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/profile"
)

// cronCairn runs the binary as cron does: `env -i PATH=/usr/bin:/bin
// ENV… setsid cairn ARGS… </dev/null` (no terminal, no standard input,
// only the variables given).
func cronCairn(t *testing.T, env []string, args ...string) result {
	t.Helper()
	argv := append(append(append([]string{"-i", "PATH=/usr/bin:/bin"}, env...), "setsid", "-w", cairnBin), args...)
	cmd := exec.Command("env", argv...)
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	cmd.Stdin = devNull
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

// lastReport is the last line of a profile's report file.
func lastReport(t *testing.T, s *runSetup) profile.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.base, "log", "home.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var rep profile.Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestRunHookOutput: what a hook prints (its last 4 KiB, after a line
// saying how much was cut) is in the run's report, text and JSON; a
// failing hook's output and reason reach stderr even with --quiet, so the
// cron mail says why pg_dump failed, not only "exit status 2".
func TestRunHookOutput(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	flag := filepath.Join(base, "db-down")
	dump := filepath.Join(base, "pg_dump")
	// 6000 bytes of chatter, then the reason and advice, on stderr.
	write(t, dump, "#!/bin/sh\nfor i in $(seq 1 600); do echo \"dumping table $i\"; done\n"+
		"echo 'pg_dump: error: connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory' >&2\n"+
		"echo '\tIs the server running locally and accepting connections on that socket?' >&2\nexit 2\n")
	os.Chmod(dump, 0o755)
	hooks := fmt.Sprintf("\n[profile.home.hooks]\nbefore = \"if test -e %s; then %s; else echo database dumped; fi\"\nafter = \"echo after ran; echo after on stderr >&2\"\n", flag, dump)
	s := newRunSetup(t, base, hooks)
	write(t, flag, "")
	day := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)

	r := cronCairn(t, s.env, "run", "home", "--quiet", "--time", day.Format(time.RFC3339))
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("failing hook, --quiet: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	reason := `pg_dump: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed`
	var last string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		last = l
	}
	if !strings.Contains(r.stderr, "  before: output: dumping table 600\n") || !strings.Contains(last, "exit status 2: "+reason) ||
		!strings.Contains(r.stderr, "  before: output: "+reason) {
		t.Fatalf("stderr does not say why the hook failed:\n%s", r.stderr)
	}
	rep := lastReport(t, s)
	before := rep.Step("before")
	if before.Status != "failed" || !strings.HasSuffix(before.Output, reason+": No such file or directory\n\tIs the server running locally and accepting connections on that socket?") ||
		!strings.HasPrefix(before.Output, "[… ") || !strings.Contains(before.Error, "exit status 2: "+reason) {
		t.Fatalf("before step in the report: %+v", before)
	}
	kept := before.Output[strings.Index(before.Output, "\n")+1:]
	if len(kept) > job.HookOutputMax || len(kept) < job.HookOutputMax-100 || strings.Contains(before.Output, "dumping table 1\n") {
		t.Fatalf("the report keeps %d bytes of the hook's output, want its last %d:\n%s", len(kept), job.HookOutputMax, before.Output)
	}
	if a := rep.Step("after"); a.Status != "ok" || a.Output != "after ran\nafter on stderr" {
		t.Fatalf("after step: %+v", a)
	}

	// Hooks that succeed: their output is in the text report (stdout),
	// not on stderr, and in the JSON one.
	os.Remove(flag)
	r = cronCairn(t, s.env, "run", "home", "--time", day.Add(time.Hour).Format(time.RFC3339))
	if r.code != 0 || !strings.Contains(r.stdout, "before: ok\n  before: database dumped\n") ||
		!strings.Contains(r.stdout, "after: ok\n  after: after ran\n  after: after on stderr\n") || strings.Contains(r.stderr, "after ran") {
		t.Fatalf("text report: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	_, rep = s.run(t, day.Add(2*time.Hour))
	if b := rep.Step("before"); b.Status != "ok" || b.Output != "database dumped" {
		t.Fatalf("JSON report: before %+v", b)
	}
}

// jsonHint is the hint of the JSON error object that ends stderr under
// --json.
func jsonHint(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var e struct {
		Error string `json:"error"`
		Hint  string `json:"hint"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil || e.Error == "" {
		t.Fatalf("no JSON error object at the end of stderr (%v):\n%s", err, stderr)
	}
	return e.Hint
}

// TestRunMissingRepository: a mistyped repository in a profile fails the
// backup with exit 10 (not "skipped") and the before hook does not run;
// a mirror that doesn't exist is met with `cairn mirror add --init`.
func TestRunMissingRepository(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	ran := filepath.Join(base, "before-ran")
	hooks := fmt.Sprintf("\n[profile.home.hooks]\nbefore = \"touch %s\"\non-failure = \"touch %s-failure\"\n", ran, ran)
	s := newRunSetup(t, base, hooks)
	cfg, _ := os.ReadFile(s.config)
	typo := s.repo + "-typo"
	write(t, s.config, strings.Replace(string(cfg), fmt.Sprintf("repository = %q", s.repo), fmt.Sprintf("repository = %q", typo), 1))
	r, rep := s.run(t, time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC))
	if r.code != 10 || rep.ExitCode != 10 {
		t.Fatalf("exit %d, report %+v\n%s", r.code, rep, r.stderr)
	}
	if b := rep.Step("backup"); b.Status != "failed" || b.ExitCode != 10 || !strings.Contains(b.Error, typo) {
		t.Fatalf("backup step: %+v", b)
	}
	if b := rep.Step("before"); b.Status != "skipped" {
		t.Fatalf("before step: %+v", b)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the before hook ran for a repository that isn't there")
	}
	if _, err := os.Stat(ran + "-failure"); err != nil {
		t.Fatal("the on-failure hook did not run")
	}
	if jsonHint(t, r.stderr) != "check repository = \""+typo+"\" in profile home, or create it with `cairn --profile home init`" {
		t.Fatalf("no hint for the missing repository:\n%s", r.stderr)
	}

	// The repository is right; the mirror is gone.
	write(t, s.config, string(cfg))
	os.RemoveAll(s.mirror)
	r, rep = s.run(t, time.Date(2027, 3, 1, 3, 0, 0, 0, time.UTC))
	mirrorHint := "hint: create the mirror with `cairn mirror add --init " + s.mirror + "`"
	if r.code != 10 || rep.Step("copy").Status != "failed" || rep.Step("backup").Status != "ok" ||
		!strings.HasPrefix(jsonHint(t, r.stderr), strings.TrimPrefix(mirrorHint, "hint: ")) || strings.Contains(r.stderr, "`cairn init`") {
		t.Fatalf("missing mirror: exit %d %+v\n%s", r.code, rep.Step("copy"), r.stderr)
	}
	if _, err := os.Stat(ran); err != nil {
		t.Fatal("the before hook did not run")
	}
	// So do `copy --mirrors` and `mirror add` without --init.
	env := []string{"CAIRN_REPOSITORY=" + s.repo, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "mirror", "add", "--no-check", s.mirror)
	for _, args := range [][]string{{"copy", "--mirrors"}, {"mirror", "add", s.mirror + "2"}} {
		r = cairn(t, env, args...)
		want := mirrorHint
		if args[0] == "mirror" {
			want = "hint: create the mirror with `cairn mirror add --init " + s.mirror + "2`"
		}
		if r.code != 10 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "`cairn init`") {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}

// TestPruneCountsYoungPacksUnused: packs prune keeps because they are
// younger than the grace period still hold unused data after it, and
// "unused after" says so (text and JSON).
func TestPruneCountsYoungPacksUnused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	writeRandom(t, filepath.Join(base, "a", "f"), 300<<10, 1)
	writeRandom(t, filepath.Join(base, "b", "f"), 300<<10, 2)
	backupJSON(t, env, filepath.Join(base, "a"))
	gone := backupJSON(t, env, filepath.Join(base, "b"))
	mustCairn(t, env, "forget", gone.SnapshotID)
	var plan struct {
		PacksYoung      int   `json:"packs_young_kept"`
		PacksDelete     int   `json:"packs_to_delete"`
		SizeUnused      int64 `json:"size_unused"`
		SizeUnusedAfter int64 `json:"size_unused_after"`
	}
	out := mustCairn(t, env, "prune", "--dry-run", "--json")
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Every pack is minutes old: nothing goes, all unused data stays.
	if plan.PacksYoung == 0 || plan.PacksDelete != 0 || plan.SizeUnused < 300<<10 || plan.SizeUnusedAfter != plan.SizeUnused {
		t.Fatalf("prune plan: %+v", plan)
	}
	text := mustCairn(t, env, "prune")
	if !strings.Contains(text, "kept (too young): ") || strings.Contains(text, "unused after:     0 B\n") {
		t.Fatalf("prune:\n%s", text)
	}
	// With no grace period they go, and nothing unused is left.
	if err := json.Unmarshal([]byte(mustCairn(t, env, "prune", "--grace", "0", "--json")), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.PacksDelete == 0 || plan.SizeUnusedAfter != 0 {
		t.Fatalf("prune --grace 0: %+v", plan)
	}
}

// TestBrokenPipeReleasesLock: a listing read by `head -1` stops quietly
// when its reader goes, with a shell's exit code for SIGPIPE (141), and
// leaves no lock behind.
func TestBrokenPipeReleasesLock(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	for i := 0; i < 20000; i++ {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("file-%05d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	for _, args := range [][]string{{"ls", "latest"}, {"ls", "--long", "latest"}, {"find", "file-*"}} {
		cmd := exec.Command(cairnBin, args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + cacheHome}, env...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		stdout.Close()
		err = cmd.Wait()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 141 || stderr.Len() != 0 {
			t.Fatalf("%v | head -1: %v (exit %d), stderr %q", args, err, cmd.ProcessState.ExitCode(), stderr.String())
		}
		locks, err := os.ReadDir(filepath.Join(repoDir, "locks"))
		if err != nil || len(locks) != 0 {
			t.Fatalf("%v | head -1 left %d locks (%v)", args, len(locks), err)
		}
	}
	// An exclusive command needs no --retry-lock.
	mustCairn(t, env, "prune")
}

// smallDisk mounts a tmpfs of size at a temporary directory (unmounted
// when the test ends); without the privilege it skips, except in CI.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a %s tmpfs: %v %s", size, err, out)
		}
		t.Skipf("mount a %s tmpfs: %v %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes to dir until its file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

// tempFiles lists the temporary files below dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// TestFullDisk: when the disk of the repository, of the temporary pack
// files or of the cache is full, the error or warning names the file
// being written, not a source file; nothing is left behind, and the
// repository checks clean.
func TestFullDisk(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 3; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("big%d", i)), 3<<20, byte(i+1))
	}
	small := filepath.Join(base, "small")
	write(t, filepath.Join(small, "a"), "small\n")
	noSource := func(t *testing.T, stderr string) {
		t.Helper()
		if strings.Contains(stderr, src) || strings.Contains(stderr, "not in this snapshot") {
			t.Fatalf("the error blames a source file:\n%s", stderr)
		}
		if !strings.Contains(stderr, "no space left on device\nhint: free space on the disk of the file named") {
			t.Fatalf("no hint for a full disk:\n%s", stderr)
		}
	}

	t.Run("repository", func(t *testing.T) {
		disk := smallDisk(t, "2m")
		repoDir := filepath.Join(disk, "repo")
		env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
		mustCairn(t, env, "init")
		r := cairn(t, env, "backup", src)
		if r.code != 1 || !strings.Contains(r.stderr, "error: backup: save data/") ||
			!strings.Contains(r.stderr, ": write "+repoDir+"/data/") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		noSource(t, r.stderr)
		if tmp := tempFiles(t, repoDir); len(tmp) != 0 {
			t.Fatalf("left behind: %v", tmp)
		}
		if out := mustCairn(t, env, "check"); !strings.Contains(out, "no errors were found") {
			t.Fatal(out)
		}
		// Prune frees what the failed backup stored; then a backup fits.
		mustCairn(t, env, "prune", "--grace", "0")
		mustCairn(t, env, "backup", "-q", small)
	})

	t.Run("temporary files", func(t *testing.T) {
		disk := smallDisk(t, "2m")
		repoDir := filepath.Join(base, "repo-tmp")
		env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
		mustCairn(t, env, "init")
		r := cairn(t, append(env, "TMPDIR="+disk), "backup", src)
		if r.code != 1 || !strings.Contains(r.stderr, "error: backup: store data: write pack: write "+disk+"/cairn-pack-") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		noSource(t, r.stderr)
		if left, _ := os.ReadDir(disk); len(left) != 0 {
			t.Fatalf("left in the temporary directory: %v", left)
		}
		if tmp := tempFiles(t, repoDir); len(tmp) != 0 {
			t.Fatalf("left behind: %v", tmp)
		}
		if out := mustCairn(t, env, "check"); !strings.Contains(out, "no errors were found") {
			t.Fatal(out)
		}
	})

	t.Run("cache", func(t *testing.T) {
		// A full cache is only a slower repository: every command works,
		// saying once which cache file could not be written.
		disk := smallDisk(t, "1m")
		repoDir := filepath.Join(base, "repo-cache")
		env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
		mustCairn(t, env, "init")
		mustCairn(t, env, "backup", "-q", small)
		fill(t, disk)
		cache := filepath.Join(disk, "cache")
		for _, args := range [][]string{{"snapshots"}, {"ls", "latest"}, {"check"}, {"backup", "-q", small}} {
			r := cairn(t, env, append([]string{"--cache-dir", cache}, args...)...)
			if r.code != 0 || strings.Count(r.stderr, "warning: cache: write "+cache+"/") != 1 ||
				!strings.Contains(r.stderr, ": no space left on device; reading the repository past the cache") {
				t.Fatalf("%v with a full cache: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
			}
		}
		if n := len(listSnapshots(t, env)); n != 2 {
			t.Fatalf("%d snapshots", n)
		}
	})
}
