// Package chunker cuts byte streams into content-defined chunks with a
// repository's own polynomial, on top of github.com/restic/chunker, reusing
// one buffer across files.
package chunker

import (
	"io"

	rc "github.com/restic/chunker"
)

// Pol is an irreducible polynomial that parameterises the rolling hash.
type Pol = rc.Pol

// Default chunk size bounds (average 1 MiB), as in restic.
const (
	DefaultMinSize = 512 << 10
	DefaultMaxSize = 8 << 20
)

// RandomPolynomial returns a new random irreducible polynomial for a new
// repository.
func RandomPolynomial() (Pol, error) { return rc.RandomPolynomial() }

// Chunker splits a stream into chunks. It is not safe for concurrent use.
type Chunker struct {
	c        *rc.Chunker
	pol      Pol
	min, max uint
}

// New returns a chunker for pol and the given size bounds (0: defaults).
func New(pol Pol, minSize, maxSize uint) *Chunker {
	if minSize == 0 {
		minSize = DefaultMinSize
	}
	if maxSize == 0 {
		maxSize = DefaultMaxSize
	}
	return &Chunker{pol: pol, min: minSize, max: maxSize}
}

// MaxSize returns the largest chunk the chunker emits.
func (c *Chunker) MaxSize() uint { return c.max }

// MinSize returns the size below which a stream is one chunk.
func (c *Chunker) MinSize() uint { return c.min }

// Reset starts chunking r.
func (c *Chunker) Reset(r io.Reader) {
	if c.c == nil {
		c.c = rc.NewWithBoundaries(r, c.pol, c.min, c.max)
		return
	}
	c.c.ResetWithBoundaries(r, c.pol, c.min, c.max)
}

// Next returns the next chunk, stored in buf (grown if needed; pass the
// result back in to reuse it), or io.EOF after the last one.
func (c *Chunker) Next(buf []byte) ([]byte, error) {
	ch, err := c.c.Next(buf[:0])
	if err != nil {
		return nil, err
	}
	return ch.Data, nil
}
