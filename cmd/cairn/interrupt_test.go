//go:build unix

package main_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInterruptIsNotDamage is defect 8 of issue 13: Ctrl-C while trees are
// loaded ended with exit 13 and a hint to run `repair packs`. Whenever the
// interrupt lands, a command exits 0 (it had finished) or 130, and never
// talks of damage; the repository stays clean.
func TestInterruptIsNotDamage(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	// Big trees over one shared blob: after the small index, the work of
	// every command below is almost all tree loads.
	for d := 0; d < 20; d++ {
		if err := os.MkdirAll(filepath.Join(src, fmt.Sprintf("d%02d", d)), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2000; i++ {
			if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("d%02d", d), fmt.Sprintf("file-with-a-long-name-%05d-%d", i, d)), []byte("same"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "1")
	mustCairn(t, env, "backup", "-q", src)
	commands := [][]string{
		{"ls", "-R", "latest"},
		{"check"},
		{"restore", "latest", "--target", filepath.Join(base, "r")},
		{"find", "f"},
		{"stats"},
	}
	for i, args := range commands {
		for _, delay := range []time.Duration{400 * time.Millisecond, time.Second, 1800 * time.Millisecond} {
			// A slow download and a cold cache: the interrupt lands in
			// the middle of a pack or tree load.
			cmd := exec.Command(cairnBin, append([]string{"--limit-download", "256"}, args...)...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + filepath.Join(base, fmt.Sprintf("cache%d-%s", i, delay))}, env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			cmd.Process.Signal(os.Interrupt)
			err := cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if (code != 0 && code != 130) || strings.Contains(stderr.String(), "repair") || strings.Contains(stderr.String(), "damage") {
				t.Fatalf("cairn %s interrupted after %s: exit %d, want 0 or 130 and no word of damage\nstderr: %s", strings.Join(args, " "), delay, code, stderr.String())
			}
		}
	}
	mustCairn(t, env, "unlock")
	mustCairn(t, env, "check", "--read-data")
}
