//go:build unix

package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownCommand: an unknown command or subcommand is one error line,
// then the suggestions on a hint line, exit 1.
func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"snapshot"}, "error: unknown command \"snapshot\" for \"cairn\"\nhint: did you mean \"snapshots\"?\n"},
		{[]string{"sta"}, "error: unknown command \"sta\" for \"cairn\"\nhint: did you mean one of \"stats\", \"status\", \"tag\"?\n"},
		{[]string{"xyzzy"}, "error: unknown command \"xyzzy\" for \"cairn\"\nhint: run `cairn --help` to see the commands\n"},
		{[]string{"xyzzy", "--json"}, "{\"error\":\"unknown command \\\"xyzzy\\\" for \\\"cairn\\\"\",\"hint\":\"run `cairn --help` to see the commands\",\"exit_code\":1}\n"},
		{[]string{"help", "snapshot"}, "error: unknown command \"snapshot\" for \"cairn\"\nhint: did you mean \"snapshots\"?\n"},
		{[]string{"help", "key", "ad"}, "error: unknown command \"ad\" for \"cairn key\"\nhint: did you mean \"add\"?\n"},
		{[]string{"--json", "key"}, "{\"error\":\"cairn key: a subcommand is required (add, list, passwd, remove)\",\"hint\":\"run `cairn key --help` to see what each does\",\"exit_code\":1}\n"},
		{[]string{"key", "ad"}, "error: unknown command \"ad\" for \"cairn key\"\nhint: did you mean \"add\"?\n"},
		{[]string{"config", "chek", "/etc/cairn/cairn.toml"}, "error: unknown command \"chek\" for \"cairn config\"\nhint: did you mean \"check\"?\n"},
		{[]string{"parity", "frobnicate"}, "error: unknown command \"frobnicate\" for \"cairn parity\"\nhint: run `cairn parity --help` to see the commands\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := cairn(t, nil, tt.args...)
			if r.code != 1 || r.stderr != tt.want || r.stdout != "" {
				t.Fatalf("exit %d\nstdout: %q\nstderr: %q\nwant stderr: %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
	// A group without a subcommand still prints its help, and so does
	// help with a known topic.
	for _, args := range [][]string{{"key"}, {"help", "key"}} {
		if out := mustCairn(t, nil, args...); !strings.Contains(out, "Available Commands:") {
			t.Fatalf("cairn %v: %s", args, out)
		}
	}
	if out := mustCairn(t, nil, "help", "exit-codes"); !strings.Contains(out, "130") {
		t.Fatalf("cairn help exit-codes: %s", out)
	}
}

// TestManPages: `cairn man DIR` writes a page for every command (the
// commands are those of the help golden files) and for the exit codes,
// each with a NAME section; man reads them where it is installed.
func TestManPages(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "share", "man", "man1")
	mustCairn(t, nil, "man", dir)
	goldens, err := filepath.Glob(filepath.Join("testdata", "help", "*.golden"))
	if err != nil || len(goldens) < 40 {
		t.Fatalf("help golden files: %v %v", goldens, err)
	}
	var pages []string
	for _, g := range goldens {
		name := strings.TrimSuffix(filepath.Base(g), ".golden")
		switch {
		case name == "help": // cobra's help command has no page
			continue
		case name != "cairn":
			name = "cairn-" + name
		}
		pages = append(pages, name)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(pages) {
		t.Errorf("%d pages written, want %d", len(entries), len(pages))
	}
	for _, name := range pages {
		b, err := os.ReadFile(filepath.Join(dir, name+".1"))
		if err != nil {
			t.Errorf("no page for %s: %v", name, err)
			continue
		}
		s := string(b)
		i := strings.Index(s, ".SH NAME\n")
		if i < 0 || !strings.HasPrefix(s[i+len(".SH NAME\n"):], name+" - ") {
			t.Errorf("%s.1 has no NAME section naming it:\n%.400s", name, s)
		}
		if name != "cairn-exit-codes" && !strings.Contains(s, "Exit codes:") {
			t.Errorf("%s.1 lists no exit codes", name)
		}
	}
	man, err := exec.LookPath("man")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("man is not installed")
		}
		t.Log("man is not installed: pages not rendered")
		return
	}
	cmd := exec.Command(man, "-l", filepath.Join(dir, "cairn-backup.1"))
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=80")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "NAME") || !strings.Contains(string(out), "cairn-backup - Back up files") {
		t.Fatalf("man -l cairn-backup.1: %v\n%s", err, out)
	}
}

// TestConfigInit: `config init` writes a sample that `config check`
// accepts, by default where cairn looks first, and never overwrites.
func TestConfigInit(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "etc", "cairn.toml")
	if out := mustCairn(t, nil, "config", "init", p); out != "wrote "+p+": edit it, then run `cairn config check "+p+"`\n" {
		t.Fatalf("config init: %q", out)
	}
	if out := mustCairn(t, nil, "config", "check", p); out != p+": 1 profiles (home): ok\n" {
		t.Fatalf("config check: %q", out)
	}
	if err := os.WriteFile(p, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, nil, "config", "init", p)
	want := "error: config init " + p + ": file already exists\nhint: it was left alone: edit it and run `cairn config check " + p + "`, or give another FILE\n"
	if r.code != 1 || r.stderr != want {
		t.Fatalf("config init over a file: exit %d\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
	if b, _ := os.ReadFile(p); string(b) != "# mine\n" {
		t.Fatalf("the file was overwritten: %q", b)
	}
	// Without FILE: $XDG_CONFIG_HOME/cairn/cairn.toml, which cairn then finds.
	xdg := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + xdg}
	mustCairn(t, env, "config", "init")
	if out := mustCairn(t, env, "config", "show", "home"); !strings.Contains(out, "# profile home from "+filepath.Join(xdg, "cairn", "cairn.toml")) {
		t.Fatalf("config show: %s", out)
	}
}

// TestConfigCheckReportsAll: every problem of the file, one a line, in
// file order, warnings too; exit 1.
func TestConfigCheckReportsAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "cairn.toml")
	content := `[profile.home]
repository = "/srv/backup/home"
sources = "/home"
keep = { daily = "seven", weekly = -1 }
metrics-file = "` + dir + `/textfile/cairn.prom"

[profile.work]
repository = "/srv/backup/work"
fulll = "monthly"
`
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, nil, "config", "check", p)
	want := "error: " + p + ":3: profile.home.sources: `sources` must be a list of paths, not the string \"/home\"\n" +
		"error: " + p + ":4: profile.home.keep.daily: `keep.daily` must be a whole number, not the string \"seven\"\n" +
		"error: " + p + ":4: profile.home.keep.weekly: `keep.weekly` must not be negative (-1)\n" +
		"warning: " + p + ":5: profile.home.metrics-file: the directory " + dir + "/textfile does not exist: is node_exporter's textfile directory elsewhere? (`cairn run` would create it)\n" +
		"error: " + p + ":9: profile.work.fulll: unknown key (did you mean \"full\"?)\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr:\n%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
	// Only the warning left: ok, with the warning on stderr.
	fixed := strings.NewReplacer(`sources = "/home"`, `sources = ["/home"]`, `daily = "seven", weekly = -1`, `daily = 7`, "fulll", "full").Replace(content)
	if err := os.WriteFile(p, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cairn(t, nil, "config", "check", p)
	if r.code != 0 || r.stdout != p+": 2 profiles (home, work): ok\n" || !strings.HasPrefix(r.stderr, "warning: "+p+":5: profile.home.metrics-file: ") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
