package profile_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/profile"
)

// problems parses content as c.toml and returns every problem as
// "[warning: ]FILE:LINE: key: message".
func problems(t *testing.T, content string) []string {
	t.Helper()
	f, err := profile.Parse("c.toml", []byte(content), 0o600)
	var list []profile.Problem
	if err != nil {
		var pe *profile.Errors
		if !errors.As(err, &pe) {
			t.Fatalf("error %v (%T), want *profile.Errors", err, err)
		}
		list = pe.List
	} else {
		list = f.Warnings
	}
	var out []string
	for _, p := range list {
		s := p.String()
		if p.Warning {
			s = "warning: " + s
		}
		out = append(out, s)
	}
	return out
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	const head = "[profile.home]\nrepository = \"/srv/backup/home\"\n"
	tests := []struct {
		name, content string
		want          []string
	}{
		{"sources not a list", head + "sources = \"/home\"\n",
			[]string{"c.toml:3: profile.home.sources: `sources` must be a list of paths, not the string \"/home\""}},
		{"sources with a number", head + "sources = [\"/home\", 7]\n",
			[]string{"c.toml:3: profile.home.sources: `sources` must be a list of paths: the number 7 is not a string"}},
		{"keep.daily a string", head + "keep = { daily = \"seven\" }\n",
			[]string{"c.toml:3: profile.home.keep.daily: `keep.daily` must be a whole number, not the string \"seven\""}},
		{"keep.daily a fraction", head + "[profile.home.keep]\nweekly = 4\ndaily = 7.5\n",
			[]string{"c.toml:5: profile.home.keep.daily: `keep.daily` must be a whole number, not the fraction 7.5"}},
		{"keep dotted key", head + "keep.monthly = true\n",
			[]string{"c.toml:3: profile.home.keep.monthly: `keep.monthly` must be a whole number, not true"}},
		{"keep not a table", head + "keep = 7\n",
			[]string{"c.toml:3: profile.home.keep: `keep` must be a table like { daily = 7, weekly = 4 }, not the number 7"}},
		{"negative keep", head + "keep = { daily = -1, weekly = 4, yearly = -3 }\n", []string{
			"c.toml:3: profile.home.keep.daily: `keep.daily` must not be negative (-1)",
			"c.toml:3: profile.home.keep.yearly: `keep.yearly` must not be negative (-3)"}},
		{"empty keep", head + "keep = {}\n", []string{
			"c.toml:3: profile.home.keep: `keep` keeps no snapshot: give at least one of last, hourly, daily, weekly, monthly, yearly, within and tags, or remove `keep` to keep every snapshot"}},
		{"keep of zeros", head + "[profile.home.keep]\ndaily = 0\n", []string{
			"c.toml:3: profile.home.keep: `keep` keeps no snapshot: give at least one of last, hourly, daily, weekly, monthly, yearly, within and tags, or remove `keep` to keep every snapshot"}},
		{"unknown keep key", head + "keep = { dayly = 7 }\n",
			[]string{"c.toml:3: profile.home.keep.dayly: unknown key (did you mean \"daily\"?)"}},
		{"unknown key", head + "exclude-cache = true\n",
			[]string{"c.toml:3: profile.home.exclude-cache: unknown key (did you mean \"exclude-caches\"?)"}},
		{"unknown key, nothing close", head + "schedule = \"daily\"\n",
			[]string{"c.toml:3: profile.home.schedule: unknown key"}},
		{"unknown top-level key", "repository = \"/r\"\n" + head,
			[]string{"c.toml:1: repository: unknown key: the file holds [profile.NAME] tables"}},
		{"hooks", head + "[profile.home.hooks]\nbefore = [\"pg_dump\"]\non-fail = \"mail root\"\n", []string{
			"c.toml:4: profile.home.hooks.before: `hooks.before` must be a shell command, not a list",
			"c.toml:5: profile.home.hooks.on-fail: unknown key (did you mean \"on-failure\"?)"}},
		{"bool", head + "exclude-caches = \"yes\"\n",
			[]string{"c.toml:3: profile.home.exclude-caches: `exclude-caches` must be true or false, not the string \"yes\""}},
		{"repository a number, not also missing", "[profile.home]\nrepository = 1\n",
			[]string{"c.toml:2: profile.home.repository: `repository` must be a repository location, not the number 1"}},
		{"a date", head + "run-at = 02:30:00\n",
			[]string{"c.toml:3: profile.home.run-at: `run-at` must be a time of day like \"02:30\", not the date or time 02:30:00"}},
		{"bad name", "[profile.\"my home\"]\nrepository = \"/r\"\n",
			[]string{"c.toml: profile.my home: profile names are letters, digits, '-' and '_'"}},
		{"profile not a table", "[[profile.home]]\nrepository = \"/r\"\n",
			[]string{"c.toml:1: profile.home: must be a table [profile.home]"}},
		{"syntax", "[profile.home\nrepository = 1\n",
			[]string{"c.toml:1: expected ']' to close table name"}},
		{"every error of two profiles, in file order", head +
			"full = \"fortnightly\"\nkeep = { daily = \"7\" }\nprune = \"hourly\"\n" +
			"[profile.work]\nsources = [\"/srv\"]\ncheck-window = \"soon\"\nverify-sample = \"all\"\nrun-at = \"25:00\"\n" +
			"password-file = \"/p\"\npassword-command = \"pass cairn\"\n", []string{
			"c.toml:3: profile.home.full: \"fortnightly\" is not one of daily, weekly, monthly, never",
			"c.toml:4: profile.home.keep.daily: `keep.daily` must be a whole number, not the string \"7\"",
			"c.toml:5: profile.home.prune: \"hourly\" is not one of always, daily, weekly, monthly, never",
			"c.toml:6: profile.work.repository: missing: every profile needs a repository",
			"c.toml:8: profile.work.check-window: \"soon\" is not a window of at least a day (30d, 4w, 720h)",
			"c.toml:9: profile.work.verify-sample: \"all\" is not a share like 2%",
			"c.toml:10: profile.work.run-at: \"25:00\" is not a time of day like 02:30",
			"c.toml:11: profile.work.password-file: give one of password-file, password-command and password"}},
		{"metrics file in a missing directory: a warning", head + "metrics-file = \"" + missing + "/cairn.prom\"\n", []string{
			"warning: c.toml:3: profile.home.metrics-file: the directory " + missing + " does not exist: is node_exporter's textfile directory elsewhere? (`cairn run` would create it)"}},
		{"a warning with the errors", head + "metrics-file = \"" + missing + "/cairn.prom\"\nfull = 1\n", []string{
			"warning: c.toml:3: profile.home.metrics-file: the directory " + missing + " does not exist: is node_exporter's textfile directory elsewhere? (`cairn run` would create it)",
			"c.toml:4: profile.home.full: `full` must be a period (daily, weekly, monthly or never), not the number 1"}},
		{"metrics file in a directory that exists", head + "metrics-file = \"" + t.TempDir() + "/cairn.prom\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, tt.content)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestParseErrorText: the error of Parse lists the errors one a line,
// without the warnings.
func TestParseErrorText(t *testing.T) {
	t.Parallel()
	_, err := profile.Parse("c.toml", []byte("[profile.home]\nrepository = \"/r\"\nmetrics-file = \"/no/such/dir/m.prom\"\nfull = 1\nsources = 2\n"), 0o600)
	want := "c.toml:4: profile.home.full: `full` must be a period (daily, weekly, monthly or never), not the number 1\n" +
		"c.toml:5: profile.home.sources: `sources` must be a list of paths, not the number 2"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
