package checker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// TestCheckReportsTempFiles: a temporary file left by a killed backup is a
// warning with its path, size and age, not damage.
func TestCheckReportsTempFiles(t *testing.T) {
	r, dir := repotest.New(t, repo.InitOptions{})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := filepath.Join(dir, "data", "ab", ".tmp-ab12-77-00ff")
	if err := os.WriteFile(p, make([]byte, 1234), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, now.Add(-3*time.Hour), now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err := checker.Check(context.Background(), r, checker.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() {
		t.Fatalf("a temporary file is reported as damage: %v", rep.Errors)
	}
	var found []checker.Problem
	for _, w := range rep.Warnings {
		if w.Kind == "temp" {
			found = append(found, w)
		}
	}
	if len(found) != 1 || found[0].Object != "data/ab/.tmp-ab12-77-00ff" {
		t.Fatalf("warnings %v, want one for data/ab/.tmp-ab12-77-00ff", rep.Warnings)
	}
	for _, want := range []string{"1234 bytes", "3h0m0s ago", "cairn prune"} {
		if !strings.Contains(found[0].Message, want) {
			t.Errorf("warning %q lacks %q", found[0].Message, want)
		}
	}

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	rep, err = checker.Check(context.Background(), r, checker.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rep.Warnings {
		if w.Kind == "temp" {
			t.Errorf("warning without a temporary file: %v", w)
		}
	}
}
