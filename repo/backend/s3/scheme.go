package s3

import (
	"context"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// Scheme registers s3:http[s]://host[:port]/bucket[/prefix]; credentials
// come from the AWS_* environment variables.
func Scheme() location.Scheme {
	return location.Scheme{Name: "s3", Remote: true, Example: "s3:https://host/bucket",
		Open: func(_ context.Context, loc string, opts map[string]string, env location.Env) (backend.Backend, error) {
			cfg, err := ParseURL(loc)
			if err != nil {
				return nil, err
			}
			get := env.Getenv
			cfg.KeyID, cfg.Secret = get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
			cfg.SessionToken, cfg.Region = get("AWS_SESSION_TOKEN"), get("AWS_DEFAULT_REGION")
			for k, v := range opts {
				if err := cfg.ApplyOption("s3."+k, v); err != nil {
					return nil, err
				}
			}
			return Open(cfg)
		}}
}
