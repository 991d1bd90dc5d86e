//go:build unix

package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownSchemes (issue 15): a location whose scheme no backend
// registered is an error (exit 1) that lists what is supported and says
// what to use instead, and nothing is created on disk; it used to become
// a local directory of that name, so an admin thought they had off-site
// backups. A local path with a colon works with local:.
func TestUnknownSchemes(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"b2:bucket:path":        "backblazeb2",
		"azure:container:/path": "Azure",
		"gs:bucket:/path":       "storage.googleapis.com",
		"swift:container:/path": "Swift",
		"https://host/bucket":   "s3:https://host/bucket",
		"backup:2024":           "local: in front",
	}
	for loc, hint := range cases {
		dir := t.TempDir()
		cmd := exec.Command(cairnBin, "init", "--repo", loc)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CAIRN_PASSWORD=pw", "XDG_CACHE_HOME=" + filepath.Join(dir, "..", "cache")}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		msg := errb.String()
		if code != 1 || !strings.Contains(msg, "unknown location scheme") || !strings.Contains(msg, hint) || !strings.Contains(msg, "sftp:user@host:/path") {
			t.Errorf("init --repo %s: exit %d, %q; want exit 1 naming the supported schemes and %q", loc, code, msg, hint)
		}
		if strings.Count(strings.TrimSpace(msg), "\n") > 1 {
			t.Errorf("init --repo %s: more than an error and a hint line: %q", loc, msg)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("init --repo %s created %s", loc, ents[0].Name())
		}
	}
	dir := t.TempDir()
	env := []string{"CAIRN_REPOSITORY=local:" + filepath.Join(dir, "backup:2024"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	if _, err := os.Stat(filepath.Join(dir, "backup:2024", "config")); err != nil {
		t.Fatalf("local: with a colon: %v", err)
	}
	mustCairn(t, env, "snapshots")
}
