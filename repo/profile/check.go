package profile

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Problem is one error or warning about a configuration file.
type Problem struct {
	Path string
	// Line is where the key is set (or the nearest table that holds it;
	// 0: unknown).
	Line int
	// Key is the full key path (profile.home.keep.daily); "" for a
	// syntax error.
	Key string
	Msg string
	// Warning is set for what is likely wrong but no error.
	Warning bool
}

// String is "FILE:LINE: key.path: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Path)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Key != "" {
		b.WriteString(": " + p.Key)
	}
	return b.String() + ": " + p.Msg
}

// Errors is every error Parse found in a file, and the warnings, in the
// order of the file.
type Errors struct {
	List []Problem
}

// Error is the errors, one a line.
func (e *Errors) Error() string {
	var s []string
	for _, p := range e.List {
		if !p.Warning {
			s = append(s, p.String())
		}
	}
	return strings.Join(s, "\n")
}

// checker collects the problems of one file.
type checker struct {
	path     string
	lines    map[string]int
	errs     []Problem
	warnings []Problem
	// bad holds the keys with a value of the wrong type and the tables
	// above them, whose other checks would only repeat the error.
	bad map[string]bool
}

// line is where key is set, or the nearest enclosing table.
func (c *checker) line(key string) int {
	for k := key; k != ""; {
		if n, ok := c.lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// typeErrorf reports an unknown key or a value of the wrong type at key.
func (c *checker) typeErrorf(key, format string, args ...any) {
	if c.bad == nil {
		c.bad = map[string]bool{}
	}
	for k := key; strings.Count(k, ".") >= 2; k = k[:strings.LastIndexByte(k, '.')] {
		c.bad[k] = true
	}
	c.errorf(key, format, args...)
}

func (c *checker) errorf(key, format string, args ...any) {
	c.errs = append(c.errs, Problem{Path: c.path, Line: c.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(key, format string, args ...any) {
	c.warnings = append(c.warnings, Problem{Path: c.path, Line: c.line(key), Key: key, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// sorted returns the problems in the order of the file.
func sorted(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Key, b.Key))
	})
	return ps
}

// what describes the type of a key (below the profile) in the user's
// terms, for type errors.
func what(key string) string {
	return map[string]string{
		"repository": "a repository location", "password-file": "a path", "password-command": "a shell command",
		"password": "a string", "options": "a list of key=value options", "compression": "a string",
		"sources": "a list of paths", "exclude": "a list of patterns", "exclude-file": "a list of paths",
		"exclude-caches": "true or false", "exclude-if-present": "a list of file names",
		"exclude-larger-than": "a size like \"2G\"", "tags": "a list of tags", "host": "a host name",
		"full": "a period (daily, weekly, monthly or never)", "differential": "a period (daily, weekly, monthly or never)",
		"keep": "a table like { daily = 7, weekly = 4 }", "prune": "a period (always, daily, weekly, monthly or never)",
		"mirrors": "a list of repository locations", "mirror-password-file": "a path",
		"mirror-password-command": "a shell command", "check-window": "a window like \"30d\"",
		"verify-sample": "a share like \"2%\"", "metrics-file": "a path", "report-file": "a path",
		"run-at": "a time of day like \"02:30\"", "hooks": "a table of shell commands",
		"keep.within": "a duration like \"30d\"", "keep.tags": "a list of tags",
		"hooks.before": "a shell command", "hooks.after": "a shell command",
		"hooks.on-success": "a shell command", "hooks.on-failure": "a shell command",
	}[key]
}

// decodeDoc checks a file decoded as plain TOML against Profile and
// returns the profiles, with the keys of a wrong type left unset.
func (c *checker) decodeDoc(doc map[string]any) map[string]*Profile {
	out := map[string]*Profile{}
	for k, v := range doc {
		if k != "profile" {
			c.errorf(k, "unknown key: the file holds [profile.NAME] tables")
			continue
		}
		profiles, ok := v.(map[string]any)
		if !ok {
			c.errorf(k, "`profile` must be tables like [profile.home]")
			continue
		}
		for name, pv := range profiles {
			key := "profile." + name
			if !validName(name) {
				c.errorf(key, "profile names are letters, digits, '-' and '_'")
				continue
			}
			m, ok := pv.(map[string]any)
			if !ok {
				c.errorf(key, "must be a table [profile.%s]", name)
				continue
			}
			p := &Profile{Name: name}
			c.decodeTable(reflect.ValueOf(p).Elem(), m, key, "")
			out[name] = p
		}
	}
	return out
}

// decodeTable sets the fields of struct v from m, reporting unknown keys
// and values of the wrong type; prefix is the full key path of m, rel
// the path below the profile ("" or "keep.").
func (c *checker) decodeTable(v reflect.Value, m map[string]any, prefix, rel string) {
	fields := map[string]reflect.Value{}
	for i := range v.NumField() {
		tag := strings.Split(v.Type().Field(i).Tag.Get("toml"), ",")[0]
		if tag != "" && tag != "-" {
			fields[tag] = v.Field(i)
		}
	}
	for k, val := range m {
		key, name := prefix+"."+k, rel+k
		f, ok := fields[k]
		if !ok {
			c.typeErrorf(key, "unknown key%s", suggest(k, fields))
			continue
		}
		c.set(f, val, key, name)
	}
}

// set stores val in f, or reports its type in the user's terms.
func (c *checker) set(f reflect.Value, val any, key, name string) {
	desc := what(name)
	if desc == "" {
		desc = map[reflect.Kind]string{reflect.String: "a string", reflect.Slice: "a list of strings",
			reflect.Bool: "true or false", reflect.Struct: "a table"}[f.Kind()]
	}
	wrong := func() {
		c.typeErrorf(key, "`%s` must be %s, not %s", name, desc, describe(val))
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			wrong()
			return
		}
		f.SetString(s)
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			wrong()
			return
		}
		f.SetBool(b)
	case reflect.Int:
		switch n := val.(type) {
		case int64:
			f.SetInt(n)
		default:
			c.typeErrorf(key, "`%s` must be a whole number, not %s", name, describe(val))
		}
	case reflect.Slice:
		list, ok := val.([]any)
		if !ok {
			wrong()
			return
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				c.typeErrorf(key, "`%s` must be %s: %s is not a string", name, desc, describe(e))
				return
			}
			out = append(out, s)
		}
		f.Set(reflect.ValueOf(out))
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			wrong()
			return
		}
		c.decodeTable(f, m, key, name+".")
	}
}

// describe names a TOML value for a type error.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the number %d", x)
	case float64:
		if math.Trunc(x) == x {
			return fmt.Sprintf("the number %g", x)
		}
		return fmt.Sprintf("the fraction %g", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("the date or time %v", v)
}

// suggest names the key closest to k (at most 2 edits away, or one it
// begins), if any.
func suggest(k string, fields map[string]reflect.Value) string {
	best, bestD := "", 3
	for name := range fields {
		d := editDistance(k, name)
		if len(k) >= 3 && strings.HasPrefix(name, k) {
			d = min(d, 2)
		}
		if d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// checkKeep reports negative counts and a policy that keeps nothing.
func (c *checker) checkKeep(p *Profile, given bool) {
	key := "profile." + p.Name + ".keep"
	for _, f := range []struct {
		name string
		n    int
	}{{"last", p.Keep.Last}, {"hourly", p.Keep.Hourly}, {"daily", p.Keep.Daily}, {"weekly", p.Keep.Weekly},
		{"monthly", p.Keep.Monthly}, {"yearly", p.Keep.Yearly}} {
		if f.n < 0 {
			c.errorf(key+"."+f.name, "`keep.%s` must not be negative (%d)", f.name, f.n)
		}
	}
	if given && p.Keep.Empty() && !c.bad[key] {
		c.errorf(key, "`keep` keeps no snapshot: give at least one of last, hourly, daily, weekly, monthly, yearly, within and tags, or remove `keep` to keep every snapshot")
	}
}

// checkFiles warns about output files in directories that don't exist.
func (c *checker) checkFiles(p *Profile) {
	if p.MetricsFile == "" {
		return
	}
	dir := filepath.Dir(p.MetricsFile)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		c.warnf("profile."+p.Name+".metrics-file", "the directory %s does not exist: is node_exporter's textfile directory elsewhere? (`cairn run` would create it)", dir)
	}
}

// parseDoc decodes b as plain TOML; a syntax error is one problem.
func (c *checker) parseDoc(b []byte) (map[string]any, bool) {
	var doc map[string]any
	err := toml.Unmarshal(b, &doc)
	if err == nil {
		return doc, true
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		c.errs = append(c.errs, Problem{Path: c.path, Line: row, Key: strings.Join(de.Key(), "."),
			Msg: strings.TrimPrefix(de.Error(), "toml: ")})
	} else {
		c.errs = append(c.errs, Problem{Path: c.path, Msg: err.Error()})
	}
	return nil, false
}
