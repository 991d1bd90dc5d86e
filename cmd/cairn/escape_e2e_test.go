//go:build unix

package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNamesCantReachTheTerminal (issue 14, demonstrated 11): a file name
// with an escape sequence is printed escaped by ls, find, diff and in
// error messages; JSON output keeps its exact bytes.
func TestNamesCantReachTheTerminal(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	evil := "evil\x1b]0;owned\x07\x1b[2J\nname"
	write(t, filepath.Join(src, "ok.txt"), "1")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", "--tag", "t\x1b[31m", src)
	write(t, filepath.Join(src, evil), "2")
	if err := os.Symlink("\x1b[5mtarget", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	mustCairn(t, env, "backup", "-q", src)
	for _, args := range [][]string{{"ls", "-l", "latest"}, {"ls", "latest"}, {"find", "*name*"}, {"snapshots"}} {
		out := mustCairn(t, env, args...)
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Fatalf("cairn %s printed a control byte: %q", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, `\x1b`) {
			t.Fatalf("cairn %s: the name is not shown escaped: %q", strings.Join(args, " "), out)
		}
	}
	var sns []struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns)
	if len(sns) != 2 {
		t.Fatalf("%d snapshots", len(sns))
	}
	out := mustCairn(t, env, "diff", sns[0].ID, sns[1].ID)
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `evil\x1b`) {
		t.Fatalf("diff: %q", out)
	}
	if r := cairn(t, env, "ls", "latest:"+src+"/no\x1b[2Jsuch"); r.code == 0 || strings.ContainsAny(r.stderr, "\x1b\x07") {
		t.Fatalf("error message: exit %d, %q", r.code, r.stderr)
	}
	found := false
	out = mustCairn(t, env, "--json", "ls", "latest:"+src)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Path string `json:"path"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && strings.HasSuffix(e.Path, "/"+evil) {
			found = true
		}
	}
	if !found {
		t.Fatalf("JSON ls does not carry the exact name: %s", out)
	}
}
