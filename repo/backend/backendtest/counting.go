package backendtest

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/cairn-backup/cairn/repo/backend"
)

// Counting wraps a Backend and counts the requests made through it, as a
// server (or its bill) would.
type Counting struct {
	backend.Backend
	n atomic.Int64
}

// Requests returns the count and resets it.
func (c *Counting) Requests() int64 { return c.n.Swap(0) }

// Create forwards to the wrapped backend.
func (c *Counting) Create(ctx context.Context) error {
	if cr, ok := c.Backend.(backend.Creator); ok {
		return cr.Create(ctx)
	}
	return nil
}

// Save counts one request.
func (c *Counting) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	c.n.Add(1)
	return c.Backend.Save(ctx, h, rd, size)
}

// Replace counts one request.
func (c *Counting) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	c.n.Add(1)
	return c.Backend.Replace(ctx, h, rd, size)
}

// Load counts one request.
func (c *Counting) Load(ctx context.Context, h backend.Handle, n int, off int64, fn func(io.Reader) error) error {
	c.n.Add(1)
	return c.Backend.Load(ctx, h, n, off, fn)
}

// Stat counts one request.
func (c *Counting) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	c.n.Add(1)
	return c.Backend.Stat(ctx, h)
}

// Remove counts one request.
func (c *Counting) Remove(ctx context.Context, h backend.Handle) error {
	c.n.Add(1)
	return c.Backend.Remove(ctx, h)
}

// List counts one request per listing.
func (c *Counting) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	c.n.Add(1)
	return c.Backend.List(ctx, t, fn)
}
