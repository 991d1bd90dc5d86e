package all_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend/all"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// TestRegistry: every backend is registered, the remote ones as remote,
// and rest: and rclone: are no longer "unsupported".
func TestRegistry(t *testing.T) {
	r := all.Registry()
	tests := []struct {
		loc    string
		remote bool
	}{
		{"/srv/repo", false},
		{"local:/srv/a:b", false},
		{"sftp:u@h:/p", true},
		{"s3:https://h/b", true},
		{"rest:https://u@h:8000/r/", true},
		{"rclone:remote:path", true},
	}
	for _, tt := range tests {
		if _, err := r.Scheme(tt.loc); err != nil {
			t.Errorf("%s: %v", tt.loc, err)
		}
		if got := r.Remote(tt.loc); got != tt.remote {
			t.Errorf("Remote(%s) = %v", tt.loc, got)
		}
	}
	// Each scheme takes its own options and refuses unknown ones.
	ctx := context.Background()
	for _, tt := range []struct{ loc, opt, want string }{
		{"rest:http://127.0.0.1:1/r/", "rest.nope=1", "rest.password-file"},
		{"rclone:remote:path", "rclone.nope=1", "rclone.program"},
		{"rclone:remote:path", "rclone.program=/nonexistent/rclone", "install rclone"},
	} {
		_, err := r.Open(ctx, tt.loc, []string{tt.opt}, location.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("open %s -o %s: %v, want an error mentioning %s", tt.loc, tt.opt, err, tt.want)
		}
	}
}
