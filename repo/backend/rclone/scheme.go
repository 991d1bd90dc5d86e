package rclone

import (
	"context"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// Scheme registers rclone:REMOTE:PATH; -o rclone.program=PATH and
// -o rclone.args="serve restic --stdio …" change what is run,
// -o rclone.connections=N bounds concurrent requests.
func Scheme() location.Scheme {
	return location.Scheme{Name: "rclone", Remote: true, Example: "rclone:remote:path",
		Open: func(ctx context.Context, loc string, opts map[string]string, _ location.Env) (backend.Backend, error) {
			cfg, err := ParseURL(loc)
			if err != nil {
				return nil, err
			}
			for k, v := range opts {
				if err := cfg.ApplyOption("rclone."+k, v); err != nil {
					return nil, err
				}
			}
			return Open(ctx, cfg)
		}}
}
