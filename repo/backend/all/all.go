// Package all registers every backend this binary supports: adding a
// backend is one line here.
package all

import (
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/backend/rclone"
	"github.com/cairn-backup/cairn/repo/backend/rest"
	"github.com/cairn-backup/cairn/repo/backend/s3"
	"github.com/cairn-backup/cairn/repo/backend/sftp"
)

// Registry returns the schemes of all backends.
func Registry() *location.Registry {
	r := &location.Registry{}
	r.Register(local.Scheme())
	r.Register(sftp.Scheme())
	r.Register(s3.Scheme())
	r.Register(rest.Scheme())
	r.Register(rclone.Scheme())
	return r
}
