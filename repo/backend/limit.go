package backend

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// Limited wraps a Backend and limits the bytes per second sent (Save) and
// received (Load), for --limit-upload and --limit-download.
type Limited struct {
	Backend
	up, down *rate.Limiter
}

// Unwrap returns the wrapped backend.
func (l *Limited) Unwrap() Backend { return l.Backend }

// NewLimited wraps be; a rate of 0 means unlimited in that direction.
func NewLimited(be Backend, uploadBytesPerSec, downloadBytesPerSec int) Backend {
	if uploadBytesPerSec <= 0 && downloadBytesPerSec <= 0 {
		return be
	}
	l := &Limited{Backend: be}
	if uploadBytesPerSec > 0 {
		l.up = rate.NewLimiter(rate.Limit(uploadBytesPerSec), burst(uploadBytesPerSec))
	}
	if downloadBytesPerSec > 0 {
		l.down = rate.NewLimiter(rate.Limit(downloadBytesPerSec), burst(downloadBytesPerSec))
	}
	return l
}

func burst(rateBytes int) int { return max(rateBytes/4, 64<<10) }

// Save sends through the upload limit.
func (l *Limited) Save(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	if l.up == nil {
		return l.Backend.Save(ctx, h, rd, size)
	}
	return l.Backend.Save(ctx, h, &limitedReaderAt{ctx: ctx, r: rd, lim: l.up}, size)
}

// Replace sends through the upload limit.
func (l *Limited) Replace(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	if l.up == nil {
		return l.Backend.Replace(ctx, h, rd, size)
	}
	return l.Backend.Replace(ctx, h, &limitedReaderAt{ctx: ctx, r: rd, lim: l.up}, size)
}

// Load receives through the download limit.
func (l *Limited) Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error {
	if l.down == nil {
		return l.Backend.Load(ctx, h, length, offset, fn)
	}
	return l.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
		return fn(&limitedReader{ctx: ctx, r: rd, lim: l.down})
	})
}

type limitedReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
	lim *rate.Limiter
}

// ReadAt fills p in burst-sized steps, waiting for the limiter before
// each, and keeps the io.ReaderAt contract (a short read has an error).
func (l *limitedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		step := min(len(p)-done, l.lim.Burst())
		if err := l.lim.WaitN(l.ctx, step); err != nil {
			return done, err
		}
		n, err := l.r.ReadAt(p[done:done+step], off+int64(done))
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

type limitedReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(p) > l.lim.Burst() {
		p = p[:l.lim.Burst()]
	}
	n, err := l.r.Read(p)
	if werr := l.lim.WaitN(l.ctx, n); werr != nil {
		return n, werr
	}
	return n, err
}
