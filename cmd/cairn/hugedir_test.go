//go:build unix

package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugeDirectory (defect 6): one directory too large for a single tree
// blob backs up, checks, prunes, copies and restores exactly, with
// compression off (where a huge tree blob was once written and then made
// every index load fail). 50,000 entries by default (the tree is split
// into parts); 1,000,000 with CAIRN_SOAK=1 (past the 128 MiB blob limit).
func TestHugeDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 50,000 files")
	}
	t.Parallel()
	n := 50000
	if os.Getenv("CAIRN_SOAK") == "1" {
		n = 1000000
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	big := filepath.Join(src, "big")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return fmt.Sprintf("entry-%07d-with-a-longer-name.txt", i) }
	for i := range n {
		var content []byte
		if i%1000 == 0 {
			content = []byte(fmt.Sprintf("content of %d\n", i))
		}
		if err := os.WriteFile(filepath.Join(big, name(i)), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(src, "small.txt"), []byte("beside the big directory\n"), 0o644)
	repoA, repoB := filepath.Join(base, "a"), filepath.Join(base, "b")
	env := []string{"CAIRN_REPOSITORY=" + repoA, "CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw"}
	envB := []string{"CAIRN_REPOSITORY=" + repoB, "CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw"}
	mustCairn(t, env, "init", "--compression", "off")
	first := backupJSON(t, env, src)

	var cfg struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "cat", "config")), &cfg); err != nil || cfg.Version != 2 {
		t.Fatalf("format after a split tree: %d (%v)", cfg.Version, err)
	}

	// One more entry: the next backup rewrites a part or two, not the
	// whole directory.
	os.WriteFile(filepath.Join(big, name(n/2)+"-new"), []byte("new\n"), 0o644)
	second := backupJSON(t, env, src)
	// The new file, a part or two, the head, and the parents on the path.
	if second.BlobsAdded > 12 || second.BytesAdded > 3*4<<20 {
		t.Errorf("one new entry in a directory of %d added %d blobs, %d bytes", n, second.BlobsAdded, second.BytesAdded)
	}
	mustCairn(t, env, "forget", first.SnapshotID)
	mustCairn(t, env, "prune", "--grace", "0")
	mustCairn(t, env, "check", "--read-data")

	mustCairn(t, envB, "init")
	mustCairn(t, envB, "copy", "--from-repo", repoA)
	mustCairn(t, envB, "check")

	for _, e := range [][]string{env, envB} {
		target := filepath.Join(base, "restore-"+filepath.Base(strings.TrimPrefix(e[0], "CAIRN_REPOSITORY=")))
		mustCairn(t, e, "restore", "latest", "--target", target)
		got, err := os.ReadDir(filepath.Join(target, big))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n+1 {
			t.Fatalf("restored %d entries, want %d", len(got), n+1)
		}
		for i := 0; i < n; i += 997 {
			b, err := os.ReadFile(filepath.Join(target, big, name(i)))
			want := ""
			if i%1000 == 0 {
				want = fmt.Sprintf("content of %d\n", i)
			}
			if err != nil || string(b) != want {
				t.Fatalf("restored %s: %q, %v", name(i), b, err)
			}
		}
		if b, err := os.ReadFile(filepath.Join(target, big, name(n/2)+"-new")); err != nil || string(b) != "new\n" {
			t.Fatalf("restored new entry: %q %v", b, err)
		}
	}
	// ls streams the directory too.
	out := mustCairn(t, env, "ls", "latest:"+big)
	if c := strings.Count(out, "\n"); c < n+1 {
		t.Fatalf("ls listed %d lines for %d entries", c, n+1)
	}
}
