package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"
	"time"
)

// Point is a place in the Backend interface where the Faulty wrapper can
// inject a fault. Its zero value is no point: NewFaulty refuses a fault
// without one, so a fault can't silently never fire.
type Point int

// Fault points. Save covers Save and Replace.
const (
	Save Point = iota + 1
	Load
	Stat
	Remove
	List
)

func (p Point) String() string {
	switch p {
	case Save:
		return "save"
	case Load:
		return "load"
	case Stat:
		return "stat"
	case Remove:
		return "remove"
	case List:
		return "list"
	}
	return fmt.Sprintf("point(%d)", int(p))
}

func (p Point) valid() bool { return p >= Save && p <= List }

// Fault describes an injected failure for the Faulty wrapper. A call
// matches a fault if it is at Op, on a file of Type (zero: any type) whose
// path matches Pattern (empty: any path).
type Fault struct {
	// Op is the point of the Backend interface the fault is at.
	Op Point
	// Type matches Handle.Type (for List, the listed type); zero matches
	// all.
	Type FileType
	// Pattern matches Handle.Path() (path.Match; for List "data/",
	// "index/", …); empty matches all.
	Pattern string
	// After skips that many matching calls first; Times limits how many
	// calls fail (0: all after).
	After, Times int
	// What happens: Err is returned; Delay waits first; Truncate keeps
	// only that many bytes of what is saved or loaded; Flip flips the
	// lowest bit of the byte at FlipAt of what is saved or loaded.
	Err      error
	Delay    time.Duration
	Truncate int
	Flip     bool
	FlipAt   int
}

// Faulty wraps a Backend and injects faults, for tests of what a command
// does when storage fails or returns damaged data.
type Faulty struct {
	Backend
	mu     sync.Mutex
	faults []Fault
	seen   []int // matching calls, per fault
	fired  []int // calls the fault was applied to, per fault
}

// Unwrap returns the wrapped backend.
func (f *Faulty) Unwrap() Backend { return f.Backend }

// NewFaulty wraps be with faults. It panics on a fault without a valid
// Op or with a malformed Pattern: such a fault would never fire.
func NewFaulty(be Backend, faults ...Fault) *Faulty {
	for i, ft := range faults {
		if !ft.Op.valid() {
			panic(fmt.Sprintf("backend.NewFaulty: fault %d has no valid point (%v)", i, ft.Op))
		}
		if _, err := path.Match(ft.Pattern, ""); err != nil {
			panic(fmt.Sprintf("backend.NewFaulty: fault %d: pattern %q: %v", i, ft.Pattern, err))
		}
	}
	return &Faulty{Backend: be, faults: faults, seen: make([]int, len(faults)), fired: make([]int, len(faults))}
}

// Fired returns how many calls fault i (in the order given to NewFaulty)
// was applied to so far, so a test can assert that it was hit. A call
// counts once the fault is chosen for it, whatever the wrapped backend
// then does.
func (f *Faulty) Fired(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired[i]
}

// Matched returns how many calls matched fault i so far, including those
// skipped by After or beyond Times.
func (f *Faulty) Matched(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[i]
}

// ErrInjected is the default injected error.
var ErrInjected = errors.New("injected fault")

// fault returns the fault that applies to this call, if any: the first
// that matches and is within its After/Times window.
func (f *Faulty) fault(op Point, h Handle) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		ft := &f.faults[i]
		if ft.Op != op || (ft.Type != 0 && ft.Type != h.Type) {
			continue
		}
		if ft.Pattern != "" {
			if ok, _ := path.Match(ft.Pattern, h.Path()); !ok {
				continue
			}
		}
		f.seen[i]++
		n := f.seen[i] - ft.After
		if n <= 0 || (ft.Times > 0 && n > ft.Times) {
			continue
		}
		f.fired[i]++
		return ft
	}
	return nil
}

func (ft *Fault) mangle(b []byte) []byte {
	if ft.Truncate > 0 && ft.Truncate < len(b) {
		b = b[:ft.Truncate]
	}
	if ft.Flip && ft.FlipAt >= 0 && ft.FlipAt < len(b) {
		b = bytes.Clone(b)
		b[ft.FlipAt] ^= 1
	}
	return b
}

func (ft *Fault) wait(ctx context.Context) error {
	if ft.Delay <= 0 {
		return nil
	}
	select {
	case <-time.After(ft.Delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ft *Fault) err(op Point, h Handle) error {
	if ft.Err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, h, ft.Err)
}

// Save injects faults into saves.
func (f *Faulty) Save(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	return f.put(ctx, h, rd, size, f.Backend.Save)
}

// Replace injects faults into replacements (at the Save point).
func (f *Faulty) Replace(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	return f.put(ctx, h, rd, size, f.Backend.Replace)
}

func (f *Faulty) put(ctx context.Context, h Handle, rd io.ReaderAt, size int64, put func(context.Context, Handle, io.ReaderAt, int64) error) error {
	ft := f.fault(Save, h)
	if ft == nil {
		return put(ctx, h, rd, size)
	}
	if err := ft.wait(ctx); err != nil {
		return err
	}
	if err := ft.err(Save, h); err != nil {
		return err
	}
	buf := make([]byte, size)
	if _, err := rd.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	buf = ft.mangle(buf)
	return put(ctx, h, bytes.NewReader(buf), int64(len(buf)))
}

// Load injects faults into loads.
func (f *Faulty) Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error {
	ft := f.fault(Load, h)
	if ft == nil {
		return f.Backend.Load(ctx, h, length, offset, fn)
	}
	if err := ft.wait(ctx); err != nil {
		return err
	}
	if err := ft.err(Load, h); err != nil {
		return err
	}
	return f.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
		b, err := io.ReadAll(rd)
		if err != nil {
			return err
		}
		return fn(bytes.NewReader(ft.mangle(b)))
	})
}

// Stat injects faults into stats.
func (f *Faulty) Stat(ctx context.Context, h Handle) (FileInfo, error) {
	if ft := f.fault(Stat, h); ft != nil {
		if err := ft.wait(ctx); err != nil {
			return FileInfo{}, err
		}
		if err := ft.err(Stat, h); err != nil {
			return FileInfo{}, err
		}
	}
	return f.Backend.Stat(ctx, h)
}

// Remove injects faults into removes.
func (f *Faulty) Remove(ctx context.Context, h Handle) error {
	if ft := f.fault(Remove, h); ft != nil {
		if err := ft.wait(ctx); err != nil {
			return err
		}
		if err := ft.err(Remove, h); err != nil {
			return err
		}
	}
	return f.Backend.Remove(ctx, h)
}

// List injects faults into listings (the pattern matches "data/", "index/", …).
func (f *Faulty) List(ctx context.Context, t FileType, fn func(FileInfo) error) error {
	if ft := f.fault(List, Handle{Type: t}); ft != nil {
		if err := ft.wait(ctx); err != nil {
			return err
		}
		if err := ft.err(List, Handle{Type: t}); err != nil {
			return err
		}
	}
	return f.Backend.List(ctx, t, fn)
}
