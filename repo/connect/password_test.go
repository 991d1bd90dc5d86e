package connect_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend/all"
	"github.com/cairn-backup/cairn/repo/connect"
)

func TestMirrorPasswordFor(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	for _, c := range []struct {
		name            string
		files, commands []string
		env, loc        string
		want            connect.MirrorPassword
	}{
		{"none: the repository's own", nil, nil, "", "/m", connect.MirrorPassword{}},
		{"env file", nil, nil, "/env", "/m", connect.MirrorPassword{File: "/env"}},
		{"every mirror", []string{"/all"}, nil, "/env", "/m", connect.MirrorPassword{File: "/all"}},
		{"its own wins", []string{"/m=/mine", "/all"}, nil, "", "/m", connect.MirrorPassword{File: "/mine"}},
		{"another's is not used", []string{"/other=/theirs"}, nil, "", "/m", connect.MirrorPassword{}},
		{"local: prefix is the same mirror", []string{"local:/m=/mine"}, nil, "", "/m", connect.MirrorPassword{File: "/mine"}},
		{"a specific command beats a general file", []string{"/all"}, []string{"/m=pass show m"}, "", "/m", connect.MirrorPassword{Command: "pass show m"}},
		{"a file beats a command of the same reach", []string{"/all"}, []string{"pass show"}, "", "/m", connect.MirrorPassword{File: "/all"}},
		{"a value with = that is no location is a value", nil, []string{"cmd --x=1"}, "", "/m", connect.MirrorPassword{Command: "cmd --x=1"}},
	} {
		if got := connect.MirrorPasswordFor(reg, c.files, c.commands, c.env, c.loc); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestPasswordSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	os.WriteFile(f, []byte("s3cret\r\nsecond line\n"), 0o600)
	if pw, err := connect.PasswordFile(f, "password file"); err != nil || pw != "s3cret" {
		t.Fatalf("%q %v", pw, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := connect.PasswordFile(empty, "password file"); err == nil || !strings.Contains(err.Error(), "empty password") {
		t.Fatalf("empty file: %v", err)
	}
	if pw, err := connect.PasswordCommand("echo from-command"); err != nil || pw != "from-command" {
		t.Fatalf("%q %v", pw, err)
	}
	// The error names the command's first word only: the rest may be a secret.
	_, err := connect.PasswordCommand("exit 3 token-abc")
	if err == nil || strings.Contains(err.Error(), "token-abc") || !strings.Contains(err.Error(), `"exit" (arguments not shown)`) {
		t.Fatalf("failing command: %v", err)
	}
}
