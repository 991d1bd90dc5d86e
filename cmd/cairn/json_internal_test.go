//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestWarnJSON: under --json every message on stderr is a JSON object
// whose message_type is the text form's prefix; without it the text is
// unchanged.
func TestWarnJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, level, msg string
	}{
		{"warning: cleaning the cache: disk full\n", "warning", "cleaning the cache: disk full"},
		{"note: no full snapshot yet: a full backup\n", "note", "no full snapshot yet: a full backup"},
		{"notice: load data/ab failed; retrying\n", "notice", "load data/ab failed; retrying"},
		{"damage: pack 1a2b3c4d\n", "damage", "pack 1a2b3c4d"},
		{"error: mirror /mnt/usb can't be read: gone\n", "error", "mirror /mnt/usb can't be read: gone"},
		{"snapshot 1a2b3c4d kept: retained until tomorrow\n", "warning", "snapshot 1a2b3c4d kept: retained until tomorrow"},
	}
	for _, tt := range tests {
		t.Run(tt.level+" "+tt.msg, func(t *testing.T) {
			t.Parallel()
			var js, text bytes.Buffer
			(&globalOptions{json: true, env: &Env{Stderr: &js}}).warnf("%s", tt.text)
			(&globalOptions{env: &Env{Stderr: &text}}).warnf("%s", tt.text)
			var n jsonNotice
			if err := json.Unmarshal(js.Bytes(), &n); err != nil || n.MessageType != tt.level || n.Message != tt.msg || strings.Count(js.String(), "\n") != 1 {
				t.Fatalf("--json: %q (%v), want message_type %q, message %q on one line", js.String(), err, tt.level, tt.msg)
			}
			if text.String() != tt.text {
				t.Fatalf("text %q, want %q", text.String(), tt.text)
			}
		})
	}
}

// TestRunJSONError: Run renders a failure once, as the error object under
// --json (also when --json follows a bad flag) and as error:/hint: lines
// without it.
func TestRunJSONError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--json", "snapshots"}, exitFatal, `{"error":"no repository given","hint":"pass --repo or set CAIRN_REPOSITORY","exit_code":1}` + "\n"},
		{[]string{"snapshots", "--bogus", "--json"}, exitFatal, `{"error":"unknown flag: --bogus","exit_code":1}` + "\n"},
		{[]string{"snapshots"}, exitFatal, "error: no repository given\nhint: pass --repo or set CAIRN_REPOSITORY\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			if code := Run(context.Background(), env, tt.args); code != tt.code || stderr.String() != tt.want || stdout.Len() != 0 {
				t.Fatalf("exit %d, stderr %q, stdout %q; want %d, %q", code, stderr.String(), stdout.String(), tt.code, tt.want)
			}
		})
	}
}
