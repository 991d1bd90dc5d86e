package sftp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"testing"

	pkgsftp "github.com/pkg/sftp"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/sftp"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want sftp.Config
		bad  bool
	}{
		{in: "sftp:alice@host:/srv/repo", want: sftp.Config{User: "alice", Host: "host", Path: "/srv/repo"}},
		{in: "sftp:host:backups/repo", want: sftp.Config{Host: "host", Path: "backups/repo"}},
		{in: "sftp://alice@host:2222//srv/repo", want: sftp.Config{User: "alice", Host: "host", Port: "2222", Path: "/srv/repo"}},
		{in: "sftp://host/relative", want: sftp.Config{Host: "host", Path: "relative"}},
		{in: "sftp:host", bad: true},
		{in: "sftp://host", bad: true},
		{in: "sftp::/x", bad: true},
		// Nothing in a location may reach ssh as an option (issue 14).
		{in: "sftp:-oProxyCommand=touch /tmp/x:/repo", bad: true},
		{in: "sftp://-oProxyCommand=x//repo", bad: true},
		{in: "sftp:-lroot@host:/repo", bad: true},
		{in: "sftp://host:-p1//repo", bad: true},
		{in: "sftp://host:22x//repo", bad: true},
		{in: "sftp://host:0//repo", bad: true},
		{in: "sftp:ho st:/repo", bad: true},
		{in: "sftp:host\n:/repo", bad: true},
	}
	for _, tt := range tests {
		got, err := sftp.ParseURL(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%s accepted", tt.in)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

func server(t *testing.T) sftp.Config {
	loc, command := backendtest.SFTPServer(t)
	cfg, err := sftp.ParseURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = command
	return cfg
}

var n atomic.Int64

func TestSuite(t *testing.T) {
	cfg := server(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		c := cfg
		c.Path = path.Join(cfg.Path, fmt.Sprintf("suite-%d-%d", os.Getpid(), n.Add(1)))
		be, err := sftp.Open(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

func TestBadServer(t *testing.T) {
	_, err := sftp.Open(context.Background(), sftp.Config{Host: "x", Command: "echo not an sftp server; exit 3"})
	if err == nil {
		t.Fatal("a broken ssh command was accepted")
	}
}

func open(t *testing.T) (*sftp.Backend, string) {
	t.Helper()
	c := server(t)
	c.Path = path.Join(c.Path, fmt.Sprintf("t-%d-%d", os.Getpid(), n.Add(1)))
	be, err := sftp.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	if err := be.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return be, c.Path
}

// TestTemp runs on the test server, which is on this machine: the
// repository path on the server is a local path here.
func TestTemp(t *testing.T) {
	be, dir := open(t)
	backendtest.RunTemp(t, backend.NewRetry(be), dir)
}

// syncFile records what save does with its temporary file.
type syncFile struct {
	sftp.TempFile
	log     *[]string
	syncErr error
}

func (f *syncFile) ReadFrom(r io.Reader) (int64, error) {
	*f.log = append(*f.log, "write")
	return f.TempFile.ReadFrom(r)
}

func (f *syncFile) Sync() error {
	*f.log = append(*f.log, "sync")
	if f.syncErr != nil {
		return f.syncErr
	}
	return f.TempFile.Sync()
}

func (f *syncFile) Close() error {
	*f.log = append(*f.log, "close")
	return f.TempFile.Close()
}

// TestSaveSyncs: every save syncs its temporary file on the real server
// (OpenSSH offers fsync@openssh.com) after writing it and before closing
// and renaming it.
func TestSaveSyncs(t *testing.T) {
	be, _ := open(t)
	if !be.SyncSupported() {
		t.Fatal("the OpenSSH test server does not offer fsync@openssh.com")
	}
	var log []string
	sftp.WrapTempFiles(be, func(f sftp.TempFile) sftp.TempFile { return &syncFile{TempFile: f, log: &log} })
	ctx := context.Background()
	hs := []backend.Handle{{Type: backend.PackFile, Name: "ab01"}, {Type: backend.IndexFile, Name: "cd02"}, {Type: backend.ConfigFile}}
	for _, h := range hs {
		log = log[:0]
		if err := backend.SaveBytes(ctx, be, h, []byte("content of "+h.String())); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(log, ","); got != "write,sync,close" {
			t.Errorf("save %s: %s, want write,sync,close", h, got)
		}
		if b, err := backend.LoadAll(ctx, be, h); err != nil || string(b) != "content of "+h.String() {
			t.Errorf("load %s: %q %v", h, b, err)
		}
	}
	log = log[:0]
	if err := be.Replace(ctx, hs[2], strings.NewReader("new config"), 10); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "write,sync,close" {
		t.Errorf("replace: %s, want write,sync,close", got)
	}
}

// TestSaveSyncFails: a failed sync fails the save and leaves neither the
// file nor its temporary file; a server that lacks the extension only
// loses the sync.
func TestSaveSyncFails(t *testing.T) {
	be, _ := open(t)
	ctx := context.Background()
	var log []string
	syncErr := errors.New("disk on fire")
	sftp.WrapTempFiles(be, func(f sftp.TempFile) sftp.TempFile { return &syncFile{TempFile: f, log: &log, syncErr: syncErr} })
	h := backend.Handle{Type: backend.PackFile, Name: "ab03"}
	if err := backend.SaveBytes(ctx, be, h, []byte("x")); !errors.Is(err, syncErr) {
		t.Fatalf("save with a failing sync: %v", err)
	}
	if _, err := be.Stat(ctx, h); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file saved although its sync failed: %v", err)
	}
	if err := backend.ListTemp(ctx, be, func(f backend.TempFile) error {
		t.Errorf("temporary file left: %s", f.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	unsupported := &pkgsftp.StatusError{Code: uint32(pkgsftp.ErrSSHFxOpUnsupported)}
	sftp.WrapTempFiles(be, func(f sftp.TempFile) sftp.TempFile {
		return &syncFile{TempFile: f, log: &log, syncErr: unsupported}
	})
	if err := backend.SaveBytes(ctx, be, h, []byte("x")); err != nil {
		t.Fatalf("save on a server without fsync: %v", err)
	}
	if b, err := backend.LoadAll(ctx, be, h); err != nil || string(b) != "x" {
		t.Fatalf("load: %q %v", b, err)
	}
}
