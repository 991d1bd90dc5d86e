package sftp_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"sync/atomic"
	"testing"

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
