package location_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	for loc, want := range map[string]string{
		"/srv/repo": "local", "./repo": "local", "repo": "local", "local:/a:b": "local",
		"sftp:u@h:/p": "sftp", "s3:https://h/b": "s3", "S3:https://h/b": "s3", "b2:bucket:p": "b2",
		"backup:2024": "backup", "9x:y": "local", ":x": "local",
	} {
		if got := location.Split(loc); got != want {
			t.Errorf("Split(%q) = %q, want %q", loc, got, want)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	var got map[string]string
	open := func(_ context.Context, loc string, opts map[string]string, _ location.Env) (backend.Backend, error) {
		got = opts
		return nil, nil
	}
	r := &location.Registry{}
	r.Register(location.Scheme{Name: "local", Example: "/path", Open: open})
	r.Register(location.Scheme{Name: "sftp", Remote: true, Example: "sftp:host:/p", Open: open})
	if !r.Remote("sftp:h:/p") || r.Remote("/p") || r.Remote("b2:x") {
		t.Fatal("Remote")
	}
	if !r.IsLocation("/p") || !r.IsLocation("sftp:h:/p") || r.IsLocation("secret") || r.IsLocation("b2:x") {
		t.Fatal("IsLocation")
	}
	// Options go to their scheme without its prefix; another registered
	// scheme's are ignored; an unknown prefix is an error.
	if _, err := r.Open(context.Background(), "sftp:h:/p", []string{"sftp.command=ssh x", "local.y=1"}, location.Env{}); err != nil || got["command"] != "ssh x" || len(got) != 1 {
		t.Fatalf("options: %v, %v", got, err)
	}
	if _, err := r.Open(context.Background(), "/p", []string{"nope.x=1"}, location.Env{}); err == nil || !strings.Contains(err.Error(), "local, sftp") {
		t.Fatalf("unknown option prefix: %v", err)
	}
	if _, err := r.Open(context.Background(), "rclone:r:p", nil, location.Env{}); !errors.Is(err, location.ErrUnknownScheme) || !strings.Contains(err.Error(), "sftp:host:/p") {
		t.Fatalf("unknown scheme: %v", err)
	}
}
