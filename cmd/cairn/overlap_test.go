//go:build unix

package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// start runs the binary in the background; wait returns its result.
func start(t *testing.T, env []string, args ...string) func() result {
	t.Helper()
	cmd := exec.Command(cairnBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + cacheHome}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() result {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run cairn: %v", err)
		}
		return result{out.String(), errb.String(), code}
	}
}

// TestExclusiveCommandWaitingForBackup (defects 1 and 2): repair and prune
// started with --retry-lock while a backup runs wait for it, and only then
// load the index, so the backup that finished meanwhile is neither
// rewritten as lost (repair snapshots) nor left with an index that lacks
// its trees (repair packs, prune).
func TestExclusiveCommandWaitingForBackup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args func(repoDir string) []string
	}{
		{"repair snapshots --forget", func(string) []string { return []string{"repair", "snapshots", "--forget"} }},
		{"prune", func(string) []string { return []string{"prune", "--grace", "0"} }},
		{"repair packs", func(repoDir string) []string {
			packs, _ := filepath.Glob(filepath.Join(repoDir, "data", "*", "*"))
			return []string{"repair", "packs", filepath.Base(packs[0])}
		}},
		{"repair index", func(string) []string { return []string{"repair", "index", "--read-all-packs"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src := filepath.Join(base, "src")
			write(t, filepath.Join(src, "old"), strings.Repeat("before ", 1000))
			repoDir := filepath.Join(base, "repo")
			env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
			mustCairn(t, env, "init")
			mustCairn(t, env, "backup", "-q", src)

			// A backup is running: its shared lock is held.
			running := holdLock(t, repoDir, false)
			wait := start(t, env, append([]string{"--retry-lock", "2m"}, tc.args(repoDir)...)...)
			time.Sleep(500 * time.Millisecond) // the command has read the lock and waits
			for i := range 3 {
				write(t, filepath.Join(src, fmt.Sprintf("new-%d", i)), strings.Repeat(fmt.Sprintf("written while it waited %d ", i), 2000))
			}
			mustCairn(t, env, "backup", "-q", src) // another backup finishes meanwhile
			running.Close()                        // and the running one
			if r := wait(); r.code != 0 {
				t.Fatalf("%s: exit %d\n%s", tc.name, r.code, r.stderr)
			}
			if r := cairn(t, env, "check", "--read-data"); r.code != 0 {
				t.Fatalf("check after %s: exit %d\n%s%s", tc.name, r.code, r.stdout, r.stderr)
			}
			target := filepath.Join(base, "restore")
			mustCairn(t, env, "restore", "latest", "--target", target)
			compareTrees(t, src, filepath.Join(target, src))
		})
	}
}

// TestForgetWithUnreadableSnapshot (defect 9): a policy is not applied to
// an incomplete list of snapshots: forget names the unreadable one, exits
// 13 and removes nothing; removing it by ID works.
func TestForgetWithUnreadableSnapshot(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "f"), "x")
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	for range 3 {
		mustCairn(t, env, "backup", "-q", src)
	}
	junk := []byte("planted, not a snapshot")
	id := fmt.Sprintf("%x", sha256.Sum256(junk))
	if err := os.WriteFile(filepath.Join(repoDir, "snapshots", id), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, env, "forget", "--keep-last", "1")
	if r.code != 13 || !strings.Contains(r.stderr, id[:8]) {
		t.Fatalf("forget with an unreadable snapshot: exit %d, %q", r.code, r.stderr)
	}
	r = cairn(t, env, "snapshots", "--json")
	var sns []snapView
	if err := json.Unmarshal([]byte(r.stdout), &sns); err != nil || len(sns) != 3 {
		t.Fatalf("%d snapshots listed after the refused forget, want 3 (%v)", len(sns), err)
	}
	if r.code != 13 || !strings.Contains(r.stderr, id[:8]) {
		t.Fatalf("snapshots with an unreadable one: exit %d, %q", r.code, r.stderr)
	}
	mustCairn(t, env, "forget", id)
	mustCairn(t, env, "forget", "--keep-last", "1")
	if n := len(listSnapshots(t, env)); n != 1 {
		t.Fatalf("%d snapshots after forget --keep-last 1", n)
	}
}
