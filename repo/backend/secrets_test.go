package backend_test

import (
	"testing"

	"github.com/cairn-backup/cairn/repo/backend"
)

func TestRedactAndHasPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		loc, redacted string
		password      bool
	}{
		{"rest:https://u:secret@host:8000/repo/", "rest:https://***@host:8000/repo/", true},
		{"rest:http://u@host/repo/", "rest:http://***@host/repo/", false},
		{"sftp://alice@host//srv/repo", "sftp://***@host//srv/repo", false},
		{"s3:https://host/bucket/a@b:c", "s3:https://host/bucket/a@b:c", false},
		{"/srv/repo", "/srv/repo", false},
		{"rest:https://u:p@ss@host/", "rest:https://***@host/", true},
		{"rest:https://u:se/cret@host/repo/", "rest:https://***@host/repo/", true},
		{"rest:https://u:12/34@host/", "rest:https://***@host/", true},
	} {
		if got := backend.Redact(tc.loc); got != tc.redacted {
			t.Errorf("Redact(%q) = %q, want %q", tc.loc, got, tc.redacted)
		}
		if got := backend.HasPassword(tc.loc); got != tc.password {
			t.Errorf("HasPassword(%q) = %v", tc.loc, got)
		}
	}
}
