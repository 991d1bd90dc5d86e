package profile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/profile"
)

// realKeys lists every key of a profile from the struct tags:
// "repository", …, "keep.daily", …, "hooks.before", ….
func realKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		keys = append(keys, prefix+tag)
		if t.Field(i).Type.Kind() == reflect.Struct {
			keys = append(keys, realKeys(t.Field(i).Type, prefix+tag+".")...)
		}
	}
	return keys
}

// sampleSettings returns each setting line of the sample, commented or
// not, with the table it is in ("" or "hooks").
func sampleSettings() []struct{ table, line string } {
	var out []struct{ table, line string }
	table := ""
	setting := regexp.MustCompile(`^[a-z][a-z-]* = `)
	for _, l := range strings.Split(profile.Sample, "\n") {
		l = strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
		switch {
		case l == "[profile.home]":
			table = ""
		case l == "[profile.home.hooks]":
			table = "hooks"
		case setting.MatchString(l):
			out = append(out, struct{ table, line string }{table, l})
		}
	}
	return out
}

func TestSampleParses(t *testing.T) {
	t.Parallel()
	f, err := profile.Parse("cairn.toml", []byte(profile.Sample), 0o600)
	if err != nil {
		t.Fatalf("the sample does not parse: %v", err)
	}
	if _, err := f.Get("home"); err != nil {
		t.Fatal(err)
	}
}

// TestSampleKeys: every setting in the sample, commented or not, is a real
// key with a valid value (each is parsed alone in a profile), and every
// real key is in the sample.
func TestSampleKeys(t *testing.T) {
	t.Parallel()
	mentioned := map[string]bool{}
	for _, s := range sampleSettings() {
		key := strings.SplitN(s.line, " ", 2)[0]
		var b strings.Builder
		b.WriteString("[profile.t]\n")
		if key != "repository" {
			b.WriteString("repository = \"/srv/backup/t\"\n")
		}
		if s.table != "" {
			b.WriteString("[profile.t." + s.table + "]\n")
			mentioned[s.table] = true
			key = s.table + "." + key
		}
		b.WriteString(s.line + "\n")
		if _, err := profile.Parse("t.toml", []byte(b.String()), 0o600); err != nil {
			t.Errorf("sample line %q: %v", s.line, err)
		}
		mentioned[key] = true
		if m := regexp.MustCompile(`^keep = \{(.*)\}`).FindStringSubmatch(s.line); m != nil {
			for _, kv := range regexp.MustCompile(`([a-z]+) = `).FindAllStringSubmatch(m[1], -1) {
				mentioned["keep."+kv[1]] = true
			}
		}
	}
	for _, k := range realKeys(reflect.TypeOf(profile.Profile{}), "") {
		if !mentioned[k] {
			t.Errorf("key %s is not in the sample", k)
		}
	}
}

func TestWriteSample(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "etc", "cairn", "cairn.toml")
	if err := profile.WriteSample(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat %s: %v %v", p, fi, err)
	}
	if _, err := profile.Load(p); err != nil {
		t.Fatalf("the written sample does not load: %v", err)
	}
	if err := os.WriteFile(p, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := profile.WriteSample(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "# mine\n" {
		t.Fatalf("the existing file was changed: %q", b)
	}
}
