//go:build unix

package main_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupMissingSource: a backup of several sources where some don't
// exist (an unmounted disk) backs up the others, names the missing ones
// on stderr (as error entries with --json) and exits 3 with a
// snapshot; when none exists it exits 1 without one.
func TestBackupMissingSource(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	here := filepath.Join(base, "here")
	write(t, filepath.Join(here, "a.txt"), "a")
	gone := filepath.Join(base, "mnt", "disk")
	gone2 := filepath.Join(base, "mnt", "disk2")
	tests := []struct {
		name      string
		args      []string
		code      int
		snapshots int
		named     []string
	}{
		{"one of two missing", []string{here, gone}, 3, 1, []string{gone}},
		{"one of two missing, json", []string{"--json", here, gone}, 3, 1, []string{gone}},
		{"all missing", []string{gone, gone2}, 1, 0, []string{gone}},
		{"all missing, json", []string{"--json", gone}, 1, 0, []string{gone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := []string{"CAIRN_REPOSITORY=" + filepath.Join(t.TempDir(), "repo"), "CAIRN_PASSWORD=pw"}
			mustCairn(t, env, "init")
			r := cairn(t, env, append([]string{"backup"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, p := range tt.named {
				if !strings.Contains(r.stderr, p) {
					t.Errorf("stderr does not name %s: %q", p, r.stderr)
				}
			}
			if n := len(listSnapshots(t, env)); n != tt.snapshots {
				t.Fatalf("%d snapshots, want %d", n, tt.snapshots)
			}
			if tt.snapshots > 0 {
				if out := mustCairn(t, env, "ls", "latest:"+here); !strings.Contains(out, "a.txt") {
					t.Errorf("the existing source was not backed up: %q", out)
				}
			}
			if tt.args[0] != "--json" || tt.code != 3 {
				return
			}
			var errs []string
			var summary struct {
				MessageType string `json:"message_type"`
				Errors      int    `json:"errors"`
				SnapshotID  string `json:"snapshot_id"`
			}
			// The summary is on stdout, the error entries on stderr (as
			// restic's), before the error object of the exit code.
			for _, l := range strings.Split(strings.TrimSpace(r.stdout)+"\n"+strings.TrimSpace(r.stderr), "\n") {
				var ev struct {
					MessageType string          `json:"message_type"`
					Item        string          `json:"item"`
					Error       json.RawMessage `json:"error"`
				}
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				onStdout := strings.Contains(r.stdout, l)
				switch ev.MessageType {
				case "error":
					var msg struct {
						Message string `json:"message"`
					}
					if json.Unmarshal(ev.Error, &msg); msg.Message == "" || onStdout {
						t.Errorf("error entry without a message, or on stdout: %q", l)
					}
					errs = append(errs, ev.Item)
				case "summary":
					json.Unmarshal([]byte(l), &summary)
				}
			}
			if len(errs) != 1 || errs[0] != gone {
				t.Errorf("error entries %q, want [%s]", errs, gone)
			}
			if summary.MessageType != "summary" || summary.Errors != 1 || summary.SnapshotID == "" {
				t.Errorf("summary %+v", summary)
			}
		})
	}
}
