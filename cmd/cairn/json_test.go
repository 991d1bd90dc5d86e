//go:build unix

package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestJSONGolden runs every command that prints something with --json
// against a small repository: stdout must be JSON and nothing else (one
// document, or one per line for the commands that stream), every line on
// stderr a JSON object, and the output, with IDs, times, durations,
// sizes and temporary paths normalised, must match
// testdata/json/NAME.golden (-update rewrites them). doc/json.md
// documents these shapes.
func TestJSONGolden(t *testing.T) {
	t.Parallel()
	// How many trees a snapshot has depends on the depth of its source:
	// /tmp/X/src whatever $TMPDIR says, so the counts in the golden files
	// hold everywhere.
	base, err := os.MkdirTemp("/tmp", "cairn-json-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	src := filepath.Join(base, "src")
	repotestWrite(t, src)
	repoDir := filepath.Join(base, "repo")
	mirrorDir := filepath.Join(base, "mirror")
	pw2, pw3 := filepath.Join(base, "pw2"), filepath.Join(base, "pw3")
	pwFile := filepath.Join(base, "pw")
	for p, s := range map[string]string{pwFile: "pw\n", pw2: "second\n", pw3: "third\n"} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(base, "cairn.toml")
	conf := fmt.Sprintf("[profile.home]\nrepository = %q\npassword-file = %q\nsources = [%q]\nkeep = { last = 5 }\nrun-at = \"03:15\"\n", repoDir, pwFile, src)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw", "HOME=" + base, "TZ=UTC",
		"CAIRN_CONFIG=" + cfg, "CAIRN_STATE_DIR=" + filepath.Join(base, "state")}
	pack := func() string {
		packs, _ := filepath.Glob(filepath.Join(repoDir, "data", "*", "*"))
		if len(packs) == 0 {
			return "no-pack-found"
		}
		return filepath.Base(packs[0])
	}
	var first, second, addedKey string
	cases := []struct {
		name   string
		args   func() []string
		stream bool // JSON lines
		after  func(out []any)
	}{
		{"init", func() []string { return []string{"init"} }, false, nil},
		{"backup", func() []string { return []string{"backup", src} }, true, func(out []any) { first = field(t, out[len(out)-1], "snapshot_id") }},
		{"backup-second", func() []string {
			if err := os.WriteFile(filepath.Join(src, "sub", "c.txt"), []byte("c"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"backup", "--tag", "nightly", src}
		}, true, func(out []any) { second = field(t, out[len(out)-1], "snapshot_id") }},
		{"snapshots", func() []string { return []string{"snapshots"} }, false, nil},
		{"snapshots-group-by", func() []string { return []string{"snapshots", "--group-by", "host"} }, false, nil},
		{"snapshots-none", func() []string { return []string{"snapshots", "--host", "nowhere"} }, false, nil},
		{"ls", func() []string { return []string{"ls", "--recursive", "latest:" + src} }, true, nil},
		{"find", func() []string { return []string{"find", "b.txt"} }, false, nil},
		{"find-none", func() []string { return []string{"find", "nothing-matches"} }, false, nil},
		{"diff", func() []string { return []string{"diff", first + ":" + src, second + ":" + src} }, true, nil},
		{"stats", func() []string { return []string{"stats"} }, false, nil},
		{"cat-snapshot", func() []string { return []string{"cat", "snapshot", second} }, false, nil},
		{"tag", func() []string { return []string{"tag", "--add", "kept", first} }, false, func(out []any) {
			sns, _ := out[0].(object).get("snapshots").([]any)
			if len(sns) != 1 {
				t.Fatalf("tag: %v", out)
			}
			first = field(t, sns[0], "new_snapshot")
		}},
		{"tag-none", func() []string { return []string{"tag", "--add", "kept", "--host", "nowhere"} }, false, nil},
		{"forget-dry-run", func() []string { return []string{"forget", "--keep-last", "1", "--dry-run"} }, false, nil},
		{"forget-ids", func() []string { return []string{"forget", "--dry-run", first} }, false, nil},
		{"forget-prune", func() []string { return []string{"forget", "--keep-last", "5", "--prune"} }, false, nil},
		{"prune", func() []string { return []string{"prune", "--dry-run"} }, false, nil},
		{"check", func() []string { return []string{"check", "--read-data"} }, false, nil},
		{"restore", func() []string { return []string{"restore", "latest", "--target", filepath.Join(base, "restore")} }, true, nil},
		{"restore-dry-run", func() []string {
			return []string{"restore", "latest", "--dry-run", "--target", filepath.Join(base, "restore2")}
		}, true, nil},
		{"unlock", func() []string { return []string{"unlock"} }, false, nil},
		{"mirror-list-none", func() []string { return []string{"mirror", "list"} }, false, nil},
		{"mirror-add", func() []string { return []string{"mirror", "add", "--init", mirrorDir} }, false, nil},
		{"mirror-list", func() []string { return []string{"mirror", "list"} }, false, nil},
		{"copy-mirrors", func() []string { return []string{"copy", "--mirrors"} }, false, nil},
		{"check-mirrors", func() []string { return []string{"check", "--mirrors"} }, false, nil},
		{"copy-from", func() []string { return []string{"copy", "--from-repo", mirrorDir} }, false, nil},
		{"mirror-remove", func() []string { return []string{"mirror", "remove", mirrorDir} }, false, nil},
		{"parity-enable", func() []string { return []string{"parity", "enable"} }, false, nil},
		{"parity-update", func() []string { return []string{"parity", "update"} }, false, nil},
		{"parity-status", func() []string { return []string{"parity", "status"} }, false, nil},
		{"parity-disable", func() []string { return []string{"parity", "disable"} }, false, nil},
		{"repair-index", func() []string { return []string{"repair", "index"} }, false, nil},
		{"repair-snapshots", func() []string { return []string{"repair", "snapshots"} }, false, nil},
		{"repair-packs", func() []string { return []string{"repair", "packs", pack()} }, false, nil},
		{"config-check", func() []string { return []string{"config", "check"} }, false, nil},
		{"config-show", func() []string { return []string{"config", "show", "home"} }, false, nil},
		{"schedule-cron", func() []string { return []string{"schedule", "home", "--cron"} }, false, nil},
		{"schedule-systemd", func() []string { return []string{"schedule", "home", "--systemd"} }, false, nil},
		{"schedule-install", func() []string {
			return []string{"schedule", "home", "--systemd", "--install", "--unit-dir", filepath.Join(base, "units")}
		}, false, nil},
		{"run", func() []string { return []string{"run", "home"} }, false, nil},
		{"status", func() []string { return []string{"status"} }, false, nil},
		{"rewrite-dry-run", func() []string { return []string{"rewrite", "--dry-run", "--exclude", "b.txt"} }, false, nil},
		{"rewrite", func() []string { return []string{"rewrite", "--exclude", "sub/b.txt", "--forget", "--tag", "nightly"} }, false, nil},
		{"rewrite-none", func() []string { return []string{"rewrite", "--exclude", "nothing-matches", "latest"} }, false, nil},
		{"key-add", func() []string { return []string{"key", "add", "--new-password-file", pw2} }, false, func(out []any) { addedKey = field(t, out[0], "added") }},
		{"key-list", func() []string { return []string{"key", "list"} }, false, nil},
		{"key-remove", func() []string { return []string{"key", "remove", addedKey} }, false, nil},
		{"key-passwd", func() []string { return []string{"key", "passwd", "--new-password-file", pw3} }, false, nil},
		{"version", func() []string { return []string{"version"} }, false, nil},
	}
	// Keys are listed by ID, which is random: their order is not compared.
	unordered := map[string]bool{"key-list": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "copy-from" {
				env = append(env, "CAIRN_FROM_PASSWORD=pw")
			}
			args := append([]string{"--json"}, tc.args()...)
			r := cairn(t, env, args...)
			if r.code != 0 {
				t.Fatalf("cairn %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
			if tc.name == "key-passwd" {
				env = append(env, "CAIRN_PASSWORD=third")
			}
			out := jsonDocs(t, r.stdout, tc.stream)
			jsonLinesOnly(t, "stderr", r.stderr)
			if tc.after != nil {
				tc.after(out)
			}
			if tc.name == "backup" || tc.name == "backup-second" {
				out = lastStatusOnly(out)
			}
			var b bytes.Buffer
			for _, v := range out {
				if a, ok := normalize("", v, base).([]any); ok && unordered[tc.name] {
					v = sortedByJSON(a)
				}
				b.Write(normalizeJSON(t, v, base))
			}
			goldenJSON(t, tc.name, b.Bytes())
		})
	}
}

// TestJSONErrors: under --json a failure is one JSON object on stderr,
// {"error", "hint", "exit_code"} (after any warnings, each an object of
// its own), with the exit code of the text form, and nothing on stdout.
func TestJSONErrors(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=right"}
	if r := cairn(t, env, "--json", "snapshots"); r.code != 10 {
		t.Fatalf("no repository: exit %d", r.code)
	} else {
		checkJSONError(t, r, 10, "", true)
	}
	mustCairn(t, env, "init")
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
		hint bool
	}{
		{"wrong password", []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=wrong"}, []string{"--json", "snapshots"}, 12, "wrong password", true},
		{"no repository given", []string{"CAIRN_PASSWORD=x"}, []string{"snapshots", "--json"}, 1, "no repository given", true},
		{"unknown snapshot", env, []string{"--json", "ls", "abcdef"}, 1, "abcdef", false},
		{"unknown flag before --json", env, []string{"snapshots", "--no-such-flag", "--json"}, 1, "no-such-flag", false},
		{"locked", env, []string{"--json", "tag", "--add", "x"}, 11, "", true},
		{"forget without policy", env, []string{"--json", "forget"}, 1, "no policy", true},
		{"bad CAIRN_NOW", append([]string{"CAIRN_NOW=yesterday"}, env...), []string{"--json", "version"}, 1, "CAIRN_NOW", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code == 11 {
				lockRepo(t, repoDir)
			}
			r := cairn(t, tt.env, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			checkJSONError(t, r, tt.code, tt.msg, tt.hint)
			// The text form has the same exit code.
			var text []string
			for _, a := range tt.args {
				if a != "--json" {
					text = append(text, a)
				}
			}
			if r := cairn(t, tt.env, text...); r.code != tt.code || !strings.Contains(r.stderr, "error: ") {
				t.Fatalf("without --json: exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}

// lockRepo plants a fresh lock file of env's repository that can't be
// read (as another host's would be for a moment): exclusive commands
// then exit 11.
func lockRepo(t *testing.T, repoDir string) {
	t.Helper()
	p := filepath.Join(repoDir, "locks", strings.Repeat("ab", 32))
	write(t, p, "a lock cairn can't read")
	t.Cleanup(func() { os.Remove(p) })
}

// checkJSONError checks that stderr ends with the one error object;
// lines before it may only be messages (warnings, notices).
func checkJSONError(t *testing.T, r result, code int, msg string, hint bool) {
	t.Helper()
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		var m struct {
			MessageType string `json:"message_type"`
			Message     string `json:"message"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.MessageType == "" || m.Message == "" {
			t.Fatalf("stderr line %q is not a JSON message (%v); the error object must be the last line", l, err)
		}
	}
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	var e struct {
		Error    string `json:"error"`
		Hint     string `json:"hint"`
		ExitCode *int   `json:"exit_code"`
	}
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("stderr %q: %v", r.stderr, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("the last line of stderr holds more than the error object: %q", r.stderr)
	}
	if e.ExitCode == nil || *e.ExitCode != code || e.Error == "" || !strings.Contains(e.Error, msg) || (e.Hint != "") != hint {
		t.Fatalf("error object %q: want exit_code %d, an error naming %q, hint %v", r.stderr, code, msg, hint)
	}
}

// jsonDocs parses stdout: exactly one JSON document, or with stream one
// per line; anything else on stdout fails the test.
func jsonDocs(t *testing.T, stdout string, stream bool) []any {
	t.Helper()
	if !stream {
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.UseNumber()
		v, err := parseOrdered(dec)
		if err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
		}
		return []any{v}
	}
	return jsonLinesOnly(t, "stdout", stdout)
}

// jsonLinesOnly checks that every line of s is one JSON value.
func jsonLinesOnly(t *testing.T, what, s string) []any {
	t.Helper()
	var out []any
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "" && s == "" {
			break
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		v, err := parseOrdered(dec)
		if err == nil {
			_, err = dec.Token()
			if errors.Is(err, io.EOF) {
				err = nil
			} else if err == nil {
				err = errors.New("more than one value")
			}
		}
		if err != nil {
			t.Fatalf("%s line %q is not one JSON value: %v\n%s", what, l, err, s)
		}
		out = append(out, v)
	}
	return out
}

// lastStatusOnly drops backup's status events but the last: how many
// there are depends on the time the backup takes.
func lastStatusOnly(docs []any) []any {
	var out []any
	last := -1
	for i, d := range docs {
		if o, ok := d.(object); ok && o.get("message_type") == "status" {
			last = i
		}
	}
	for i, d := range docs {
		if o, ok := d.(object); ok && o.get("message_type") == "status" && i != last {
			continue
		}
		out = append(out, d)
	}
	return out
}

// sortedByJSON sorts a by the JSON of its (normalised) elements.
func sortedByJSON(a []any) []any {
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	out := append([]any{}, a...)
	slices.SortFunc(out, func(x, y any) int { return strings.Compare(enc(x), enc(y)) })
	return out
}

func field(t *testing.T, v any, key string) string {
	t.Helper()
	o, _ := v.(object)
	s, _ := o.get(key).(string)
	if s == "" {
		t.Fatalf("no %s in %v", key, v)
	}
	return s
}

// object is a JSON object with its keys in order.
type object []member

type member struct {
	key   string
	value any
}

func (o object) get(key string) any {
	for _, m := range o {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshalRaw(m.key)
		v, err := marshalRaw(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalRaw is json.Marshal without HTML escaping, so golden files
// read as the commands print.
func marshalRaw(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// parseOrdered reads one JSON value keeping the order of object keys.
func parseOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseOrdered(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, member{k.(string), v})
		}
		_, err = dec.Token()
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := parseOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = dec.Token()
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

var (
	hexRun  = regexp.MustCompile(`\b[0-9a-f]{8,}\b`)
	timeRun = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
	// volatileKeys are values that differ from run to run or machine to
	// machine; each becomes a placeholder naming what it was.
	volatileKeys = map[string]string{
		"duration_ns": "[duration]", "seconds_elapsed": "[duration]", "seconds_remaining": "[duration]",
		"duration_seconds": "[duration]", "age_seconds": "[duration]", "newest_snapshot_age_seconds": "[duration]",
		"hostname": "[host]", "username": "[user]", "user": "[user]", "group": "[group]", "uid": "[uid]", "gid": "[gid]",
		"inode": "[inode]", "device_id": "[device]", "links": "[links]", "pid": "[pid]",
		"go_version": "[go]", "os": "[os]", "arch": "[arch]", "chunker_polynomial": "[polynomial]",
		"dedup_ratio": "[ratio]", "compression_ratio": "[ratio]", "overhead_percent": "[ratio]",
		"percent_done": "[ratio]", "run_id": "[run-id]",
		// the pack repaired is the first by name, a random one
		"blobs_saved": "[count]",
	}
)

// normalizeJSON returns v, indented, with volatile values replaced.
func normalizeJSON(t *testing.T, v any, base string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(normalize("", v, base)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func normalize(key string, v any, base string) any {
	if p, ok := volatileKeys[key]; ok && v != nil {
		return p
	}
	switch x := v.(type) {
	case object:
		out := object{}
		for _, m := range x {
			out = append(out, member{normalizeString(m.key, base), normalize(m.key, m.value, base)})
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, normalize(key, e, base))
		}
		return out
	case json.Number:
		if strings.Contains(key, "size") || strings.Contains(key, "bytes") {
			return "[size]"
		}
		return x
	case string:
		if key == "enable" {
			// systemctl --user unless the tests run as root
			x = strings.ReplaceAll(x, "systemctl --user", "systemctl")
		}
		return normalizeString(x, base)
	}
	return v
}

// normalizeString replaces the temporary directory, times and hex IDs.
func normalizeString(s, base string) string {
	s = strings.ReplaceAll(s, filepath.Dir(cairnBin), "[bin]")
	s = strings.ReplaceAll(s, base, "[tmp]")
	s = timeRun.ReplaceAllString(s, "[time]")
	return hexRun.ReplaceAllStringFunc(s, func(h string) string { return fmt.Sprintf("[hex%d]", len(h)) })
}

// goldenJSON compares got with testdata/json/NAME.golden; -update (the
// flag of golden_test.go) rewrites it.
func goldenJSON(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "json", name+".golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// TestJSONServe: `serve --json` says where it listens as a JSON object on
// stderr and prints nothing on stdout.
func TestJSONServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(cairnBin, "--json", "serve", "--listen", "127.0.0.1:0", "--access-log", filepath.Join(dir, "access.log"),
		"--htpasswd", writeHtpasswd(t, "u"), dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stderr).ReadString('\n')
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, stderr)
	werr := cmd.Wait()
	var ev struct {
		MessageType string `json:"message_type"`
		Serving     string `json:"serving"`
		Address     string `json:"address"`
	}
	if err != nil || json.Unmarshal([]byte(line), &ev) != nil || ev.MessageType != "listening" || ev.Serving != dir || !strings.HasPrefix(ev.Address, "127.0.0.1:") {
		t.Fatalf("first line on stderr %q (%v), want the listening object", line, err)
	}
	if werr != nil || stdout.Len() != 0 {
		t.Fatalf("serve ended with %v, stdout %q", werr, stdout.String())
	}
}
