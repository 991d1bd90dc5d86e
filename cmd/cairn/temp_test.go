//go:build unix

package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLeftoverTempFiles: temporary files a killed save leaves are noted by
// check (not damage), and removed by prune once older than --grace.
func TestLeftoverTempFiles(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "f"), "some content")
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)

	old := filepath.Join(repoDir, "data", "ab", ".tmp-ab"+strings.Repeat("0", 62)+"-4242-1")
	young := filepath.Join(repoDir, "index", ".tmp-cd"+strings.Repeat("0", 62)+"-4242-2")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, make([]byte, 5000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}

	out := mustCairn(t, env, "check")
	for _, want := range []string{"note: temp data/ab/.tmp-ab", "note: temp index/.tmp-cd", "5000 bytes", "no errors were found"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	var rep struct {
		Warnings []struct{ Kind, Object string }
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "--json", "check")), &rep); err != nil {
		t.Fatal(err)
	}
	temps := 0
	for _, w := range rep.Warnings {
		if w.Kind == "temp" {
			temps++
		}
	}
	if temps != 2 {
		t.Errorf("check --json: %d temp warnings, want 2: %+v", temps, rep.Warnings)
	}

	var plan struct {
		Temp struct {
			Removed int `json:"removed"`
			Young   int `json:"young_kept"`
		} `json:"temp_files"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "--json", "prune", "--dry-run")), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Temp.Removed != 1 || plan.Temp.Young != 1 {
		t.Errorf("prune --dry-run: %+v, want 1 to remove and 1 young", plan.Temp)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("prune --dry-run removed a temporary file: %v", err)
	}

	// The default grace period (1h) removes the old file and keeps the
	// young one, which could be a save in progress.
	out = mustCairn(t, env, "prune")
	for _, want := range []string{"temporary files:  removed 1, 4.883 KiB", "kept (too young): 1 temporary files"} {
		if !strings.Contains(out, want) {
			t.Errorf("prune output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old temporary file survived prune: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the young temporary file did not survive the grace period: %v", err)
	}

	mustCairn(t, env, "prune", "--grace", "0")
	if _, err := os.Stat(young); !os.IsNotExist(err) {
		t.Errorf("the temporary file survived prune --grace 0: %v", err)
	}
	if out := mustCairn(t, env, "check"); strings.Contains(out, "temp") {
		t.Errorf("check still notes temporary files:\n%s", out)
	}
	mustCairn(t, env, "restore", "latest", "--target", filepath.Join(base, "restore"))
	compareTrees(t, src, filepath.Join(base, "restore", src))
}
