package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/backend/rest"
	"github.com/cairn-backup/cairn/repo/server"
)

// TestSuite runs the backend conformance suite through the rest: client
// against cairn serve, each run in a repository of its own.
func TestSuite(t *testing.T) {
	ts := start(t, server.Options{})
	reg := &location.Registry{}
	reg.Register(rest.Scheme())
	env := location.Env{Getenv: func(k string) string {
		if k == rest.PasswordEnv {
			return "alice-pw"
		}
		return ""
	}}
	var n atomic.Int64
	base := strings.Replace(ts.URL, "http://", "rest:http://alice@", 1)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		be, err := reg.Open(context.Background(), fmt.Sprintf("%s/suite-%d/", base, n.Add(1)), nil, env)
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}
