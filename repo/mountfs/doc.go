// Package mountfs presents a repository's snapshots as a read-only file
// system (FUSE, through github.com/hanwen/go-fuse/v2; Linux only):
//
//	snapshots/<time>/…         every snapshot by its time (2006-01-02T15:04:05Z07:00,
//	                           "-1", "-2", … added when snapshots share a second)
//	hosts/<host>/<time>/…      by host
//	tags/<tag>/<time>/…        by tag
//	ids/<short id>/…           by ID
//
// and a latest symlink in each listing directory naming its newest
// snapshot. Inside a snapshot the nodes show their recorded type, mode,
// owner, size, times, rdev and xattrs; hardlinked files of one snapshot
// share an inode number (derived from their recorded device and inode).
//
// Nothing is read ahead: a directory's tree is loaded when it is looked
// up or listed (a split tree part by part, so listing a directory of
// millions of entries holds one part at a time), and a read loads only
// the data blobs it touches, through the repository's blob loading and
// its cache. New snapshots appear without remounting: the listing
// directories look for new snapshot files at most every few seconds and
// reload the index when there are some, so their data can be read.
package mountfs

import (
	"errors"
	"runtime"
	"time"
)

// Options say how the file system is mounted.
type Options struct {
	// AllowOther lets other users than the one mounting access the file
	// system (FUSE allow_other; for non-root users it needs
	// user_allow_other in /etc/fuse.conf).
	AllowOther bool
	// OwnerRoot shows every file as owned by root (uid and gid 0).
	OwnerRoot bool
	// Refresh is how long a listing of the snapshots is trusted before
	// the snapshot files are listed again (default 3s).
	Refresh time.Duration
	// OnError is told of errors met while serving (a tree or blob that
	// could not be loaded), which the reader sees as EIO.
	OnError func(error)
}

// ErrUnsupported means FUSE mounts are not available on this platform
// (they are on Linux).
var ErrUnsupported = errors.New("mount is not supported on " + runtime.GOOS)

// ErrNoFUSE means FUSE is not available on this machine.
var ErrNoFUSE = errors.New("FUSE is not available")
