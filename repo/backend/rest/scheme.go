package rest

import (
	"context"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// Scheme registers rest:http[s]://[user[:password]@]host[:port]/path/.
// The password may instead come from -o rest.password-file=FILE or the
// environment variable CAIRN_REST_PASSWORD; -o rest.cacert=FILE trusts a
// private CA, -o rest.connections=N bounds concurrent requests.
func Scheme() location.Scheme {
	return location.Scheme{Name: "rest", Remote: true, Example: "rest:https://user@host:8000/repo/",
		Open: func(_ context.Context, loc string, opts map[string]string, env location.Env) (backend.Backend, error) {
			cfg, err := ParseURL(loc)
			if err != nil {
				return nil, err
			}
			for k, v := range opts {
				if err := cfg.ApplyOption("rest."+k, v); err != nil {
					return nil, err
				}
			}
			cfg.PasswordFromEnv(env.Getenv)
			if cfg.Password != "" && cfg.URL.Scheme == "http" && !backend.LoopbackHost(cfg.URL.Hostname()) && env.Warnf != nil {
				env.Warnf("warning: the password for %s goes over plain HTTP; use https:// (cairn serve --tls-cert/--tls-key)", backend.Redact(loc))
			}
			return Open(cfg)
		}}
}
