package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"time"
)

// Retry wraps a Backend and retries operations that fail transiently,
// with exponential backoff and jitter. Not-found, already-exists and
// cancellation are final at once. The final error names the operation,
// the object and the number of attempts.
type Retry struct {
	Backend
	// Attempts is the number of tries per operation (default 6).
	Attempts int
	// Base and Max bound the backoff (defaults 500 ms and 30 s).
	Base, Max time.Duration
	// OnRetry, if set, is told of each failed attempt that will be retried.
	OnRetry func(op string, h Handle, err error, wait time.Duration)
	// sleep is time-based unless a test replaces it.
	sleep func(context.Context, time.Duration) error
}

// NewRetry wraps be.
func NewRetry(be Backend) *Retry { return &Retry{Backend: be} }

// Unwrap returns the wrapped backend.
func (r *Retry) Unwrap() Backend { return r.Backend }

// permanent reports errors that trying again won't cure: missing or
// existing files, cancellation, a full or read-only disk, permissions.
func permanent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) || errors.Is(err, errStopList) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrRetained) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, fs.ErrPermission) || diskFull(err)
}

func (r *Retry) do(ctx context.Context, op string, h Handle, fn func() error) error {
	attempts, base, maxWait := r.Attempts, r.Base, r.Max
	if attempts <= 0 {
		attempts = 6
	}
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	sleep := r.sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil || permanent(err) || ctx.Err() != nil {
			return err
		}
		if i == attempts-1 {
			break
		}
		wait := min(maxWait, base<<i)
		wait = wait/2 + rand.N(wait/2+1) // jitter
		if r.OnRetry != nil {
			r.OnRetry(op, h, err, wait)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("%s %s: giving up after %d attempts: %w", op, h, attempts, err)
}

// Save retries saves. A failed attempt may have left nothing (saves are
// atomic), so trying again is safe; an "exists" error after a retried save
// means an earlier attempt did succeed.
func (r *Retry) Save(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	tried := false
	return r.do(ctx, "save", h, func() error {
		err := r.Backend.Save(ctx, h, rd, size)
		if tried && errors.Is(err, fs.ErrExist) {
			if fi, serr := r.Stat(ctx, h); serr == nil && fi.Size == size {
				return nil
			}
		}
		tried = true
		return err
	})
}

// Replace retries replacements, which are atomic and idempotent.
func (r *Retry) Replace(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	return r.do(ctx, "replace", h, func() error { return r.Backend.Replace(ctx, h, rd, size) })
}

// Load retries loads; fn may be called again with a fresh reader.
func (r *Retry) Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error {
	return r.do(ctx, "load", h, func() error { return r.Backend.Load(ctx, h, length, offset, fn) })
}

// Stat retries stats.
func (r *Retry) Stat(ctx context.Context, h Handle) (FileInfo, error) {
	var fi FileInfo
	err := r.do(ctx, "stat", h, func() error {
		var err error
		fi, err = r.Backend.Stat(ctx, h)
		return err
	})
	return fi, err
}

// Remove retries removes. A retried remove that finds the file gone means
// an earlier attempt removed it (its reply was lost): that is success.
func (r *Retry) Remove(ctx context.Context, h Handle) error {
	tried := false
	return r.do(ctx, "remove", h, func() error {
		err := r.Backend.Remove(ctx, h)
		if tried && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		tried = true
		return err
	})
}

// List retries a listing from the start, skipping names already passed
// to fn.
func (r *Retry) List(ctx context.Context, t FileType, fn func(FileInfo) error) error {
	seen := map[string]bool{}
	var fnErr error
	err := r.do(ctx, "list", Handle{Type: t}, func() error {
		return r.Backend.List(ctx, t, func(fi FileInfo) error {
			if seen[fi.Name] {
				return nil
			}
			seen[fi.Name] = true
			if err := fn(fi); err != nil {
				fnErr = err
				return errStopList
			}
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// errStopList ends a listing whose callback failed; it is not retried.
var errStopList = errors.New("listing stopped by the caller")
