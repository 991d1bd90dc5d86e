package job

import (
	"context"
	"errors"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/restorer"
)

// Exit codes (DESIGN.md section 4). A run's steps carry them in its
// report; the CLI exits with them.
const (
	ExitOK          = 0
	ExitFatal       = 1
	ExitPartial     = 3
	ExitNoRepo      = 10
	ExitLocked      = 11
	ExitWrongPass   = 12
	ExitDamage      = 13
	ExitInterrupted = 130
)

// ErrPartial marks work that was done, but with errors already reported
// one by one (a backup with unreadable files): exit code 3.
var ErrPartial = errors.New("finished with errors")

// ExitCoder is an error that carries its own exit code.
type ExitCoder interface {
	error
	ExitStatus() int
}

// Code maps an error to its exit code. A lost lock comes first (its
// session's work then fails as cancelled), then an interruption: neither
// is damage, whatever failed on the way.
func Code(ctx context.Context, err error) int {
	var ec ExitCoder
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ec):
		return ec.ExitStatus()
	case errors.Is(err, repo.ErrLockLost):
		return ExitLocked
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, repo.ErrNoRepository):
		return ExitNoRepo
	case errors.Is(err, repo.ErrWrongPassword):
		return ExitWrongPass
	case errors.Is(err, repo.ErrLocked):
		return ExitLocked
	case errors.Is(err, repo.ErrDamaged):
		return ExitDamage
	case errors.Is(err, ErrPartial), errors.Is(err, restorer.ErrPartial):
		return ExitPartial
	}
	return ExitFatal
}

// Worse returns the worse of two exit codes (profile.Severity).
func Worse(a, b int) int {
	if profile.Severity(b) > profile.Severity(a) {
		return b
	}
	return a
}
