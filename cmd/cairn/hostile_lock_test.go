//go:build unix

package main_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/crypto"
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

// TestPlantedKeyFilesCostNothing (issue 14, demonstrated 5): key files
// planted beside the real one (as costly as the bounds allow, beyond them,
// a giant) don't slow a command down: the key that opened the repository
// last is tried first, the others are refused unread or never reached.
func TestPlantedKeyFilesCostNothing(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	master, _ := crypto.NewRandomKey()
	plant := func(b []byte) {
		sum := sha256.Sum256(b)
		write(t, filepath.Join(repoDir, "keys", hex.EncodeToString(sum[:])), string(b))
	}
	for i, p := range []crypto.KDFParams{{Time: 10, Memory: 1 << 20, Threads: 1}, {Time: 10, Memory: 1 << 20, Threads: 2}, {Time: 100, Memory: 4 << 20, Threads: 4}} {
		kf, err := crypto.NewKeyFile(master, fmt.Sprint("evil", i), crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}, "evil", "evil", time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		kf.KDFParams = p
		b, _ := json.Marshal(kf)
		plant(b)
	}
	plant([]byte(`{"kdf":"argon2id","data":"` + strings.Repeat("A", 1<<20) + `"}`))
	start := time.Now()
	r := cairn(t, env, "snapshots")
	if d := time.Since(start); d > 8*time.Second || r.code != 0 {
		t.Fatalf("snapshots beside planted key files: exit %d after %s\n%s", r.code, d, r.stderr)
	}
}

// TestConfigCantRunCommands (issue 14, demonstrated 2): a mirror's password
// command or file written into the sealed config (by a key holder, or an
// older version) is never run or read by check --mirrors, copy --mirrors,
// status or run; the commands say it is ignored.
func TestConfigCantRunCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := t.TempDir()
	s := newRunSetup(t, base, "")
	marker := filepath.Join(base, "ran")
	r, err := repo.Open(ctx, local.New(s.repo), "pw", repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.ExclusiveLock})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateConfig(ctx, func(c *repo.Config) error {
		c.Mirrors = []repo.Mirror{{Location: s.mirror, PasswordCommand: "touch " + marker + "; echo pw"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	env := append(s.env, "CAIRN_REPOSITORY="+s.repo, "CAIRN_PASSWORD=pw")
	for _, args := range [][]string{{"copy", "--mirrors"}, {"check", "--mirrors"}} {
		r := cairn(t, env, args...)
		if r.code != 0 || !strings.Contains(r.stderr, "it is ignored") {
			t.Fatalf("cairn %s: exit %d, stderr %q; want success (the repository's password) and a warning", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	s.run(t, time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC))
	cairn(t, s.env, "status")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a password command read from the repository's config was run")
	}
}
