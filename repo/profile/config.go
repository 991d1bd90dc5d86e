// Package profile is cairn's configuration file: named profiles, the level
// schedule, and the report, metrics and state of `cairn run`.
//
// The file is TOML (github.com/pelletier/go-toml/v2). Each [profile.NAME]
// table names a repository, its password source, what to back up and how
// often each backup level, retention, prune, copies and checks happen.
// Parse reports every unknown key, wrong type (in the user's terms: "must
// be a list of paths") and bad value, each naming the file, line and full
// key path (check.go); Sample is the commented file `config init` writes.
package profile

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Keep is a retention policy (the --keep-* flags of forget).
type Keep struct {
	Last    int      `toml:"last"`
	Hourly  int      `toml:"hourly"`
	Daily   int      `toml:"daily"`
	Weekly  int      `toml:"weekly"`
	Monthly int      `toml:"monthly"`
	Yearly  int      `toml:"yearly"`
	Within  string   `toml:"within"`
	Tags    []string `toml:"tags"`
}

// Empty reports whether no rule is set.
func (k Keep) Empty() bool {
	return k.Last == 0 && k.Hourly == 0 && k.Daily == 0 && k.Weekly == 0 && k.Monthly == 0 && k.Yearly == 0 &&
		k.Within == "" && len(k.Tags) == 0
}

// Args returns the forget flags of the policy.
func (k Keep) Args() []string {
	var a []string
	add := func(flag string, n int) {
		if n != 0 {
			a = append(a, "--keep-"+flag, strconv.Itoa(n))
		}
	}
	add("last", k.Last)
	add("hourly", k.Hourly)
	add("daily", k.Daily)
	add("weekly", k.Weekly)
	add("monthly", k.Monthly)
	add("yearly", k.Yearly)
	if k.Within != "" {
		a = append(a, "--keep-within", k.Within)
	}
	for _, t := range k.Tags {
		a = append(a, "--keep-tag", t)
	}
	return a
}

// Hooks are shell commands run around `cairn run`.
type Hooks struct {
	Before    string `toml:"before"`
	After     string `toml:"after"`
	OnSuccess string `toml:"on-success"`
	OnFailure string `toml:"on-failure"`
}

// Profile is one [profile.NAME] table.
type Profile struct {
	Name string `toml:"-"`

	Repository      string   `toml:"repository"`
	PasswordFile    string   `toml:"password-file"`
	PasswordCommand string   `toml:"password-command"`
	Password        string   `toml:"password"`
	Options         []string `toml:"options"`
	Compression     string   `toml:"compression"`

	Sources           []string `toml:"sources"`
	Exclude           []string `toml:"exclude"`
	ExcludeFile       []string `toml:"exclude-file"`
	ExcludeCaches     bool     `toml:"exclude-caches"`
	ExcludeIfPresent  []string `toml:"exclude-if-present"`
	ExcludeLargerThan string   `toml:"exclude-larger-than"`
	Tags              []string `toml:"tags"`
	Host              string   `toml:"host"`
	// SkipIfUnchanged writes no snapshot when nothing changed since the
	// parent (backup --skip-if-unchanged).
	SkipIfUnchanged bool `toml:"skip-if-unchanged"`

	Full         string   `toml:"full"`
	Differential string   `toml:"differential"`
	Keep         Keep     `toml:"keep"`
	Prune        string   `toml:"prune"`
	Mirrors      []string `toml:"mirrors"`
	// MirrorPasswordFile and MirrorPasswordCommand give the mirrors'
	// password (default: the repository's own). Only local: a mirror
	// listed in a repository's config never brings a password source.
	MirrorPasswordFile    string `toml:"mirror-password-file"`
	MirrorPasswordCommand string `toml:"mirror-password-command"`
	CheckWindow           string `toml:"check-window"`
	VerifySample          string `toml:"verify-sample"`
	MetricsFile           string `toml:"metrics-file"`
	ReportFile            string `toml:"report-file"`
	RunAt                 string `toml:"run-at"`
	Hooks                 Hooks  `toml:"hooks"`
}

// Defaults of the schedule keys.
const (
	DefaultFull         = "monthly"
	DefaultDifferential = "weekly"
	DefaultPrune        = "weekly"
	DefaultRunAt        = "02:00"
)

// File is a parsed configuration file.
type File struct {
	Path     string
	Profiles map[string]*Profile
	// Warnings are what is likely wrong but not an error (a metrics file
	// in a directory that doesn't exist).
	Warnings []Problem
	// lines maps "profile.NAME.key" to the line that sets it.
	lines map[string]int
}

// Lookup returns the configuration file to use: the explicit path, else
// $CAIRN_CONFIG, $XDG_CONFIG_HOME/cairn/cairn.toml (or ~/.config/…),
// /etc/cairn/cairn.toml — the first that exists. explicit and
// $CAIRN_CONFIG must exist.
func Lookup(explicit string, getenv func(string) string) (string, error) {
	for _, p := range []string{explicit, getenv("CAIRN_CONFIG")} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("config file %s: %w", p, err)
			}
			return p, nil
		}
	}
	var cands []string
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		cands = append(cands, filepath.Join(x, "cairn", "cairn.toml"))
	} else if h := getenv("HOME"); h != "" {
		cands = append(cands, filepath.Join(h, ".config", "cairn", "cairn.toml"))
	}
	cands = append(cands, "/etc/cairn/cairn.toml")
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no configuration file (looked at --config, $CAIRN_CONFIG, %s)", strings.Join(cands, ", "))
}

// Load reads and validates a configuration file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b, fi.Mode().Perm())
}

// Parse decodes the content of the file at path with permissions perm.
// Its error is an *Errors listing every problem found; warnings (which
// don't fail) are in File.Warnings.
func Parse(path string, b []byte, perm os.FileMode) (*File, error) {
	c := &checker{path: path, lines: keyLines(b)}
	doc, ok := c.parseDoc(b)
	if !ok {
		return nil, &Errors{List: c.errs}
	}
	f := &File{Path: path, Profiles: c.decodeDoc(doc), lines: c.lines}
	raw, _ := doc["profile"].(map[string]any)
	for _, name := range f.Names() {
		p := f.Profiles[name]
		m, _ := raw[name].(map[string]any)
		_, keepGiven := m["keep"]
		f.validate(c, p, perm, keepGiven)
	}
	if len(c.errs) > 0 {
		return nil, &Errors{List: sorted(append(c.errs, c.warnings...))}
	}
	f.Warnings = sorted(c.warnings)
	return f, nil
}

var (
	tableRe = regexp.MustCompile(`^\s*\[\[?\s*([^\]]+?)\s*\]`)
	keyRe   = regexp.MustCompile(`^\s*("[^"]*"|[A-Za-z0-9_.-]+)\s*=\s*(\{[^}]*)?`)
	innerRe = regexp.MustCompile(`[{,]\s*([A-Za-z0-9_-]+)\s*=`)
)

// keyLines maps each "table.key" to its line, for messages and
// `config show`.
func keyLines(b []byte) map[string]int {
	out := map[string]int{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := tableRe.FindStringSubmatch(line); m != nil {
			table = strings.ReplaceAll(m[1], " ", "")
			out[table] = n
			continue
		}
		if m := keyRe.FindStringSubmatch(line); m != nil {
			k := strings.Trim(m[1], `"`)
			if table != "" {
				k = table + "." + k
			}
			out[k] = n
			// The keys of an inline table are on its line.
			for _, im := range innerRe.FindAllStringSubmatch(m[2], -1) {
				out[k+"."+im[1]] = n
			}
		}
	}
	return out
}

// Origin says where a profile's key was set: "FILE:LINE", or "default".
func (f *File) Origin(p *Profile, key string) string {
	if n, ok := f.lines["profile."+p.Name+"."+key]; ok {
		return fmt.Sprintf("%s:%d", f.Path, n)
	}
	return "default"
}

// Periods of the level schedule and of prune.
var periods = []string{"daily", "weekly", "monthly", "never"}

// validate checks a profile's values and sets the defaults.
func (f *File) validate(c *checker, p *Profile, perm os.FileMode, keepGiven bool) {
	errorf := func(key, format string, args ...any) {
		if k := "profile." + p.Name + "." + key; !c.bad[k] {
			c.errorf(k, format, args...)
		}
	}
	if p.Repository == "" {
		errorf("repository", "missing: every profile needs a repository")
	}
	n := 0
	for _, s := range []string{p.PasswordFile, p.PasswordCommand, p.Password} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		errorf("password-file", "give one of password-file, password-command and password")
	}
	if p.MirrorPasswordFile != "" && p.MirrorPasswordCommand != "" {
		errorf("mirror-password-file", "give one of mirror-password-file and mirror-password-command")
	}
	if p.Password != "" && perm&0o077 != 0 {
		errorf("password", "the file holds a password but is readable by others (mode %04o); chmod 600 %s, or use password-file", perm, f.Path)
	}
	if p.Full == "" {
		p.Full = DefaultFull
	}
	if p.Differential == "" {
		p.Differential = DefaultDifferential
	}
	if p.Prune == "" {
		p.Prune = DefaultPrune
	}
	if p.RunAt == "" {
		p.RunAt = DefaultRunAt
	}
	for _, k := range []struct{ key, v string }{{"full", p.Full}, {"differential", p.Differential}} {
		if !slices.Contains(periods, k.v) {
			errorf(k.key, "%q is not one of daily, weekly, monthly, never", k.v)
		}
	}
	if p.Prune != "always" && !slices.Contains(periods, p.Prune) {
		errorf("prune", "%q is not one of always, daily, weekly, monthly, never", p.Prune)
	}
	if p.CheckWindow != "" {
		if _, err := ParseDays(p.CheckWindow); err != nil {
			errorf("check-window", "%v", err)
		}
	}
	if p.VerifySample != "" {
		if _, err := ParsePercent(p.VerifySample); err != nil {
			errorf("verify-sample", "%v", err)
		}
	}
	if _, err := time.Parse("15:04", p.RunAt); err != nil {
		errorf("run-at", "%q is not a time of day like 02:30", p.RunAt)
	}
	c.checkKeep(p, keepGiven)
	c.checkFiles(p)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Get returns profile name.
func (f *File) Get(name string) (*Profile, error) {
	p, ok := f.Profiles[name]
	if !ok {
		var names []string
		for n := range f.Profiles {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%s: no profile %q (profiles: %s)", f.Path, name, strings.Join(names, ", "))
	}
	return p, nil
}

// Names returns the profile names, sorted.
func (f *File) Names() []string {
	var names []string
	for n := range f.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseDays parses a window like "30d", "2w" or "720h".
func ParseDays(s string) (time.Duration, error) {
	var d time.Duration
	switch {
	case strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a number of days like 30d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "w"))
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a number of weeks like 4w", s)
		}
		d = time.Duration(n) * 7 * 24 * time.Hour
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 24*time.Hour {
			return 0, fmt.Errorf("%q is not a window of at least a day (30d, 4w, 720h)", s)
		}
	}
	return d, nil
}

// ParsePercent parses "2%" or "0.5%" as a fraction.
func ParsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !strings.HasSuffix(s, "%") || v <= 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a share like 2%%", s)
	}
	return v / 100, nil
}
