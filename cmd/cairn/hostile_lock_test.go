package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJunkLockFiles (issue 14, demonstrated 4): files planted in locks/
// without the key (junk under an ID-like name, a name that is no ID, a
// sparse giant) are not damage: shared commands run with a notice, check
// warns, an exclusive command waits for them like for a lock, `unlock`
// keeps them while fresh and `unlock --remove-all` removes them all.
func TestJunkLockFiles(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a"), "data")
	mustCairn(t, env, "backup", "-q", src)

	locks := filepath.Join(repoDir, "locks")
	write(t, filepath.Join(locks, strings.Repeat("ab", 32)), "junk written without the key")
	write(t, filepath.Join(locks, "not-an-id"), "more junk")
	giant, err := os.Create(filepath.Join(locks, strings.Repeat("cd", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if err := giant.Truncate(16 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	giant.Close()

	for _, args := range [][]string{{"backup", "-q", src}, {"restore", "latest", "--target", filepath.Join(base, "t")}, {"ls", "latest"}} {
		r := cairn(t, env, args...)
		if r.code != 0 || !strings.Contains(r.stderr, "unreadable lock file") {
			t.Fatalf("cairn %s beside junk locks: exit %d, stderr %q; want success with a notice", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if r := cairn(t, env, "check"); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "unreadable lock file") {
		t.Fatalf("check beside junk locks: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cairn(t, env, "prune"); r.code != 11 || !strings.Contains(r.stderr, "unreadable lock file") {
		t.Fatalf("prune beside fresh junk locks: exit %d, stderr %q; want 11 naming the file", r.code, r.stderr)
	}
	if out := mustCairn(t, env, "unlock"); !strings.Contains(out, "0 locks removed") {
		t.Fatalf("unlock removed fresh junk: %s", out)
	}
	if out := mustCairn(t, env, "unlock", "--remove-all"); !strings.Contains(out, "3 locks removed") {
		t.Fatalf("unlock --remove-all: %s", out)
	}
	if ents, _ := os.ReadDir(locks); len(ents) != 0 {
		t.Fatalf("locks/ after unlock --remove-all: %d files", len(ents))
	}
	mustCairn(t, env, "prune")
	mustCairn(t, env, "check")

	// Stale by its storage time: an hour-old junk lock blocks nothing, and
	// plain `unlock` removes it.
	old := filepath.Join(locks, strings.Repeat("ef", 32))
	write(t, old, "old junk")
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	mustCairn(t, env, "prune")
	if out := mustCairn(t, env, "unlock"); !strings.Contains(out, "1 locks removed") {
		t.Fatalf("unlock of a stale junk lock: %s", out)
	}
}
