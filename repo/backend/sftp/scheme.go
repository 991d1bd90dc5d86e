package sftp

import (
	"context"
	"fmt"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// Scheme registers sftp:user@host:/path and sftp://user@host:port//path.
func Scheme() location.Scheme {
	return location.Scheme{Name: "sftp", Remote: true, Example: "sftp:user@host:/path",
		Open: func(ctx context.Context, loc string, opts map[string]string, env location.Env) (backend.Backend, error) {
			cfg, err := ParseURL(loc)
			if err != nil {
				return nil, err
			}
			for k, v := range opts {
				if k != "command" {
					return nil, fmt.Errorf("unknown option -o sftp.%s for an sftp repository (known: sftp.command)", k)
				}
				cfg.Command = v
			}
			be, err := Open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			if !be.SyncSupported() && env.Warnf != nil {
				env.Warnf("warning: the SFTP server at %s does not offer fsync@openssh.com: files it stores may be lost if it crashes before its disk is flushed\n", cfg.Host)
			}
			return be, nil
		}}
}
