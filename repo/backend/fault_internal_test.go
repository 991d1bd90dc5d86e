package backend

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPointString(t *testing.T) {
	t.Parallel()
	want := map[Point]string{Save: "save", Load: "load", Stat: "stat", Remove: "remove", List: "list", 0: "point(0)", 99: "point(99)"}
	for p, s := range want {
		if p.String() != s {
			t.Errorf("Point(%d).String() = %q, want %q", int(p), p.String(), s)
		}
	}
}

// TestFaultyPoints: a fault at each point fires on that operation and no
// other, with its error wrapped and naming the operation and the file.
func TestFaultyPoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	snap := Handle{Type: SnapshotFile, Name: "aaaa"}
	calls := map[Point]func(be Backend) error{
		Save: func(be Backend) error {
			return SaveBytes(ctx, be, Handle{Type: SnapshotFile, Name: "new"}, []byte("x"))
		},
		Load:   func(be Backend) error { _, err := LoadAll(ctx, be, snap); return err },
		Stat:   func(be Backend) error { _, err := be.Stat(ctx, snap); return err },
		Remove: func(be Backend) error { return be.Remove(ctx, snap) },
		List: func(be Backend) error {
			return be.List(ctx, SnapshotFile, func(FileInfo) error { return nil })
		},
	}
	for _, p := range []Point{Save, Load, Stat, Remove, List} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			mem := &memBackend{files: map[string][]byte{snap.Path(): []byte("snapshot")}}
			f := NewFaulty(mem, Fault{Op: p, Err: ErrInjected})
			for q, call := range calls {
				if q == p || q == Remove { // Remove changes the files; it runs last
					continue
				}
				if err := call(f); err != nil {
					t.Fatalf("%v with a fault at %v: %v", q, p, err)
				}
			}
			if f.Fired(0) != 0 {
				t.Fatalf("fault at %v fired %d times on other operations", p, f.Fired(0))
			}
			err := calls[p](f)
			if !errors.Is(err, ErrInjected) || !strings.HasPrefix(err.Error(), p.String()+" snapshots/") {
				t.Fatalf("%v: %v, want the injected error naming the operation and file", p, err)
			}
			if f.Fired(0) != 1 || f.Matched(0) != 1 {
				t.Fatalf("%v: fired %d, matched %d; want 1, 1", p, f.Fired(0), f.Matched(0))
			}
			if p != Remove {
				if err := calls[Remove](f); err != nil {
					t.Fatalf("remove with a fault at %v: %v", p, err)
				}
			}
		})
	}
}

// TestFaultyReplaceIsSave: Replace goes through the Save point.
func TestFaultyReplaceIsSave(t *testing.T) {
	t.Parallel()
	f := NewFaulty(&memBackend{files: map[string][]byte{}}, Fault{Op: Save, Err: ErrInjected})
	if err := f.Replace(context.Background(), Handle{Type: ConfigFile}, bytes.NewReader([]byte("c")), 1); !errors.Is(err, ErrInjected) || f.Fired(0) != 1 {
		t.Fatalf("replace: %v, fired %d", err, f.Fired(0))
	}
}

// TestFaultyMatching: Type and Pattern select the files; the first fault
// that matches and is in its window wins.
func TestFaultyMatching(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pack := Handle{Type: PackFile, Name: "abcdef"}
	idx := Handle{Type: IndexFile, Name: "abcdef"}
	snap := Handle{Type: SnapshotFile, Name: "abcdef"}
	tests := []struct {
		name  string
		fault Fault
		hits  map[Handle]bool
	}{
		{"any file", Fault{Op: Load}, map[Handle]bool{pack: true, idx: true, snap: true}},
		{"type pack", Fault{Op: Load, Type: PackFile}, map[Handle]bool{pack: true}},
		{"type index", Fault{Op: Load, Type: IndexFile}, map[Handle]bool{idx: true}},
		{"pattern of packs", Fault{Op: Load, Pattern: "data/*/*"}, map[Handle]bool{pack: true}},
		{"pattern of one file", Fault{Op: Load, Pattern: "snapshots/abc*"}, map[Handle]bool{snap: true}},
		{"type and pattern agree", Fault{Op: Load, Type: PackFile, Pattern: "data/ab/*"}, map[Handle]bool{pack: true}},
		{"type and pattern disagree", Fault{Op: Load, Type: IndexFile, Pattern: "data/*/*"}, map[Handle]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := &memBackend{files: map[string][]byte{}}
			for _, h := range []Handle{pack, idx, snap} {
				mem.files[h.Path()] = []byte("content")
			}
			ft := tt.fault
			ft.Err = ErrInjected
			f := NewFaulty(mem, ft)
			for _, h := range []Handle{pack, idx, snap} {
				_, err := LoadAll(ctx, f, h)
				if got := errors.Is(err, ErrInjected); got != tt.hits[h] {
					t.Errorf("load %v: %v, want fault %v", h, err, tt.hits[h])
				}
			}
			if f.Fired(0) != len(tt.hits) {
				t.Errorf("fired %d, want %d", f.Fired(0), len(tt.hits))
			}
		})
	}
	// List matches on the listed type.
	f := NewFaulty(&memBackend{files: map[string][]byte{}}, Fault{Op: List, Type: IndexFile, Err: ErrInjected})
	noop := func(FileInfo) error { return nil }
	if err := f.List(ctx, PackFile, noop); err != nil {
		t.Fatalf("list packs: %v", err)
	}
	if err := f.List(ctx, IndexFile, noop); !errors.Is(err, ErrInjected) {
		t.Fatalf("list index: %v", err)
	}
	// The first fault in its window wins; one past its window lets the
	// next one apply.
	f = NewFaulty(&memBackend{files: map[string][]byte{snap.Path(): []byte("x")}},
		Fault{Op: Stat, Times: 1, Err: errors.New("first")},
		Fault{Op: Stat, Err: errors.New("second")})
	for i, want := range []string{"first", "second", "second"} {
		if _, err := f.Stat(ctx, snap); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("stat %d: %v, want %q", i, err, want)
		}
	}
	if f.Fired(0) != 1 || f.Fired(1) != 2 || f.Matched(0) != 3 {
		t.Fatalf("fired %d, %d, matched %d; want 1, 2, 3", f.Fired(0), f.Fired(1), f.Matched(0))
	}
}

// TestFaultyAfterTimes: After skips matching calls, Times limits the ones
// that fail.
func TestFaultyAfterTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := Handle{Type: SnapshotFile, Name: "s"}
	tests := []struct {
		after, times int
		fail         []bool // for 6 calls
	}{
		{0, 0, []bool{true, true, true, true, true, true}},
		{2, 0, []bool{false, false, true, true, true, true}},
		{0, 2, []bool{true, true, false, false, false, false}},
		{1, 3, []bool{false, true, true, true, false, false}},
	}
	for _, tt := range tests {
		mem := &memBackend{files: map[string][]byte{h.Path(): []byte("x")}}
		f := NewFaulty(mem, Fault{Op: Load, After: tt.after, Times: tt.times, Err: ErrInjected})
		fired := 0
		for i, want := range tt.fail {
			_, err := LoadAll(ctx, f, h)
			if errors.Is(err, ErrInjected) != want {
				t.Errorf("After %d Times %d, call %d: %v, want failure %v", tt.after, tt.times, i, err, want)
			}
			if want {
				fired++
			}
		}
		if f.Fired(0) != fired || f.Matched(0) != len(tt.fail) {
			t.Errorf("After %d Times %d: fired %d, matched %d; want %d, %d", tt.after, tt.times, f.Fired(0), f.Matched(0), fired, len(tt.fail))
		}
	}
}

// TestFaultyMangle: Truncate and Flip change what is loaded or saved,
// without an error.
func TestFaultyMangle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := Handle{Type: SnapshotFile, Name: "s"}
	data := []byte("0123456789")
	tests := []struct {
		name  string
		fault Fault
		want  string
	}{
		{"truncate", Fault{Truncate: 4}, "0123"},
		{"truncate beyond", Fault{Truncate: 40}, "0123456789"},
		{"flip", Fault{Flip: true, FlipAt: 2}, "0133456789"},
		{"flip beyond", Fault{Flip: true, FlipAt: 20}, "0123456789"},
		{"truncate and flip", Fault{Truncate: 3, Flip: true, FlipAt: 0}, "112"},
	}
	for _, tt := range tests {
		for _, p := range []Point{Load, Save} {
			mem := &memBackend{files: map[string][]byte{}}
			ft := tt.fault
			ft.Op = p
			f := NewFaulty(mem, ft)
			if err := SaveBytes(ctx, f, h, data); err != nil {
				t.Fatal(err)
			}
			got, err := LoadAll(ctx, f, h)
			if err != nil || string(got) != tt.want {
				t.Errorf("%s at %v: %q, %v; want %q", tt.name, p, got, err, tt.want)
			}
			if f.Fired(0) != 1 {
				t.Errorf("%s at %v: fired %d", tt.name, p, f.Fired(0))
			}
			if string(mem.files[h.Path()]) != map[Point]string{Load: string(data), Save: tt.want}[p] {
				t.Errorf("%s at %v: stored %q", tt.name, p, mem.files[h.Path()])
			}
		}
	}
	if string(data) != "0123456789" {
		t.Fatalf("the caller's buffer was changed: %q", data)
	}
}

// TestFaultyDelay: Delay waits before the call, and gives up with the
// context.
func TestFaultyDelay(t *testing.T) {
	t.Parallel()
	h := Handle{Type: SnapshotFile, Name: "s"}
	f := NewFaulty(&memBackend{files: map[string][]byte{h.Path(): []byte("x")}}, Fault{Op: Stat, Delay: 20 * time.Millisecond})
	start := time.Now()
	if _, err := f.Stat(context.Background(), h); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("delayed stat: %v after %v", err, time.Since(start))
	}
	f = NewFaulty(f.Backend, Fault{Op: Stat, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := f.Stat(ctx, h); !errors.Is(err, context.DeadlineExceeded) || f.Fired(0) != 1 {
		t.Fatalf("stat delayed past the deadline: %v, fired %d", err, f.Fired(0))
	}
}

// TestNewFaultyRefusesFaultsThatCantFire: no point or a malformed pattern
// panics instead of never firing.
func TestNewFaultyRefusesFaultsThatCantFire(t *testing.T) {
	t.Parallel()
	for _, ft := range []Fault{{}, {Op: 42}, {Op: Load, Pattern: "data/["}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFaulty(%+v) did not panic", ft)
				}
			}()
			NewFaulty(&memBackend{}, ft)
		}()
	}
}
