//go:build unix

package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunDerivesKeyOnce runs a profile whose every step is due (backup,
// verify, forget, prune, check) against `cairn serve` and counts the
// key file reads in the server's access log: the run opens the repository,
// and so derives the key, once (issue 17).
func TestRunDerivesKeyOnce(t *testing.T) {
	t.Parallel()
	srv := startServe(t, "--htpasswd", writeHtpasswd(t, "host"), t.TempDir())
	loc := srv.url("host", "repo")
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a.txt"), strings.Repeat("alpha\n", 1000))
	write(t, filepath.Join(base, "pass"), "pw\n")
	config := filepath.Join(base, "cairn.toml")
	write(t, config, fmt.Sprintf(`[profile.home]
repository = %q
password-file = %q
sources = [%q]
keep = { last = 2 }
prune = "daily"
check-window = "1d"
verify-sample = "100%%"
`, loc, filepath.Join(base, "pass"), src))
	env := []string{"CAIRN_CONFIG=" + config, "CAIRN_STATE_DIR=" + filepath.Join(base, "state"), "TZ=UTC", "HOME=" + base}
	mustCairn(t, append(env, "CAIRN_PASSWORD=pw"), "-r", loc, "init")
	keyGet := regexp.MustCompile(`GET "/repo/keys/[0-9a-f]{64}"`)
	keyReads := func() int {
		b, err := os.ReadFile(srv.log)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if keyGet.MatchString(l) {
				n++
			}
		}
		return n
	}
	day := time.Date(2027, 2, 15, 2, 0, 0, 0, time.UTC)
	for i := range 2 {
		before := keyReads()
		ts := day.AddDate(0, 0, i).Format(time.RFC3339)
		write(t, filepath.Join(src, "day.txt"), ts)
		r := cairn(t, append(env, "CAIRN_NOW="+ts), "run", "home", "--json", "--time", ts)
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
		}
		for _, step := range []string{"backup", "verify", "forget", "prune", "check"} {
			if !strings.Contains(r.stdout, `{"name":"`+step+`","status":"ok"`) {
				t.Fatalf("run %d: no %s step in the report: %s", i, step, r.stdout)
			}
		}
		// One read opens the repository (the one derivation); the check
		// step reads each key file once more to check its structure,
		// without deriving anything. A second open would be a third read.
		if n := keyReads() - before; n != 2 {
			b, _ := os.ReadFile(srv.log)
			t.Errorf("run %d read the key file %d times, want 2 (open, check)\n%s", i, n, b)
		}
	}
}
