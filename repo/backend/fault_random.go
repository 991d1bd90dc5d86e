package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// RandomFaults wraps a Backend and makes a random share of its calls fail
// the way real storage fails: an error before the call, an error after a
// save or remove that did happen (the reply was lost), a delay, a read
// cut short, a listing that breaks off. It stores nothing wrong: whatever
// it lets through is what the storage holds. The stress test builds cairn
// with it (build tag cairn_faults); no release binary contains a caller.
type RandomFaults struct {
	Backend
	mu   sync.Mutex
	rnd  *rand.Rand
	rate float64
}

// ErrRandomFault is the error RandomFaults injects.
var ErrRandomFault = errors.New("injected transient fault")

// Unwrap returns the wrapped backend.
func (f *RandomFaults) Unwrap() Backend { return f.Backend }

// NewRandomFaults wraps be; rate is the chance of a fault per call.
func NewRandomFaults(be Backend, seed uint64, rate float64) *RandomFaults {
	return &RandomFaults{Backend: be, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rate: rate}
}

// roll returns 0 for no fault, else a fault kind in 1..4, and a delay.
func (f *RandomFaults) roll() (int, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rnd.Float64() >= f.rate {
		return 0, 0
	}
	return 1 + f.rnd.IntN(4), time.Duration(1+f.rnd.IntN(40)) * time.Millisecond
}

func (f *RandomFaults) fraction() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rnd.Float64()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func injected(op string, h Handle, when string) error {
	return fmt.Errorf("%s %s: %w (%s)", op, h, ErrRandomFault, when)
}

// Save fails before or after storing, or stores late.
func (f *RandomFaults) Save(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	return f.put(ctx, "save", h, rd, size, f.Backend.Save)
}

// Replace fails before or after replacing, or replaces late.
func (f *RandomFaults) Replace(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	return f.put(ctx, "replace", h, rd, size, f.Backend.Replace)
}

func (f *RandomFaults) put(ctx context.Context, op string, h Handle, rd io.ReaderAt, size int64, put func(context.Context, Handle, io.ReaderAt, int64) error) error {
	kind, d := f.roll()
	switch kind {
	case 1:
		return injected(op, h, "before")
	case 2:
		if err := put(ctx, h, rd, size); err != nil {
			return err
		}
		return injected(op, h, "after it was stored")
	case 3, 4:
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	return put(ctx, h, rd, size)
}

// Load fails before reading, or delivers part of the data and then an
// error, or reads late.
func (f *RandomFaults) Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error {
	kind, d := f.roll()
	switch kind {
	case 1:
		return injected("load", h, "before")
	case 2, 3:
		frac := f.fraction()
		return f.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
			b, err := io.ReadAll(rd)
			if err != nil {
				return err
			}
			cut := int(float64(len(b)) * frac)
			return fn(io.MultiReader(bytes.NewReader(b[:cut]), errReader{injected("load", h, "connection lost mid-read")}))
		})
	case 4:
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	return f.Backend.Load(ctx, h, length, offset, fn)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Stat fails or answers late.
func (f *RandomFaults) Stat(ctx context.Context, h Handle) (FileInfo, error) {
	kind, d := f.roll()
	switch kind {
	case 1, 2:
		return FileInfo{}, injected("stat", h, "before")
	case 3, 4:
		if err := sleepCtx(ctx, d); err != nil {
			return FileInfo{}, err
		}
	}
	return f.Backend.Stat(ctx, h)
}

// Remove fails before or after removing, or removes late.
func (f *RandomFaults) Remove(ctx context.Context, h Handle) error {
	kind, d := f.roll()
	switch kind {
	case 1:
		return injected("remove", h, "before")
	case 2:
		if err := f.Backend.Remove(ctx, h); err != nil {
			return err
		}
		return injected("remove", h, "after it was removed")
	case 3, 4:
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	return f.Backend.Remove(ctx, h)
}

// List fails at once or breaks off after some names.
func (f *RandomFaults) List(ctx context.Context, t FileType, fn func(FileInfo) error) error {
	kind, d := f.roll()
	h := Handle{Type: t}
	switch kind {
	case 1:
		return injected("list", h, "before")
	case 2, 3:
		frac := f.fraction()
		var all []FileInfo
		if err := f.Backend.List(ctx, t, func(fi FileInfo) error { all = append(all, fi); return nil }); err != nil {
			return err
		}
		for _, fi := range all[:int(float64(len(all))*frac)] {
			if err := fn(fi); err != nil {
				return err
			}
		}
		return injected("list", h, "broke off")
	case 4:
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	return f.Backend.List(ctx, t, fn)
}
