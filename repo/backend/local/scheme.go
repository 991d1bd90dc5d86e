package local

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// Scheme registers local directories: a path, or local:PATH for a path
// with a colon.
func Scheme() location.Scheme {
	return location.Scheme{Name: "local", Example: "/path or local:/path",
		Open: func(_ context.Context, loc string, opts map[string]string, _ location.Env) (backend.Backend, error) {
			for k := range opts {
				return nil, fmt.Errorf("unknown option -o local.%s: a local repository takes none", k)
			}
			return New(strings.TrimPrefix(loc, "local:")), nil
		}}
}
