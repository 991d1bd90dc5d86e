package backend

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// memBackend is the smallest real backend for these tests: a map.
type memBackend struct{ files map[string][]byte }

func (m *memBackend) Location() string { return "mem" }
func (m *memBackend) Save(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	if _, ok := m.files[h.Path()]; ok {
		return fs.ErrExist
	}
	b := make([]byte, size)
	if _, err := rd.ReadAt(b, 0); err != nil && err != io.EOF {
		return err
	}
	m.files[h.Path()] = b
	return nil
}
func (m *memBackend) Replace(ctx context.Context, h Handle, rd io.ReaderAt, size int64) error {
	delete(m.files, h.Path())
	return m.Save(ctx, h, rd, size)
}
func (m *memBackend) Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error {
	b, ok := m.files[h.Path()]
	if !ok {
		return fs.ErrNotExist
	}
	b = b[offset:]
	if length > 0 {
		b = b[:length]
	}
	return fn(strings.NewReader(string(b)))
}
func (m *memBackend) Stat(ctx context.Context, h Handle) (FileInfo, error) {
	b, ok := m.files[h.Path()]
	if !ok {
		return FileInfo{}, fs.ErrNotExist
	}
	return FileInfo{Name: h.Name, Size: int64(len(b))}, nil
}
func (m *memBackend) Remove(ctx context.Context, h Handle) error {
	if _, ok := m.files[h.Path()]; !ok {
		return fs.ErrNotExist
	}
	delete(m.files, h.Path())
	return nil
}
func (m *memBackend) List(ctx context.Context, t FileType, fn func(FileInfo) error) error {
	for p, b := range m.files {
		if strings.HasPrefix(p, t.String()+"/") {
			if err := fn(FileInfo{Name: filepath.Base(p), Size: int64(len(b))}); err != nil {
				return err
			}
		}
	}
	return nil
}
func (m *memBackend) Close() error { return nil }

func TestRetry(t *testing.T) {
	ctx := context.Background()
	h := Handle{Type: SnapshotFile, Name: "abc"}
	tests := []struct {
		name     string
		faults   []Fault
		wantErr  string
		attempts int
	}{
		{"transient then fine", []Fault{{Op: Save, Times: 2, Err: syscall.EIO}}, "", 3},
		{"always failing", []Fault{{Op: Save, Err: syscall.ECONNRESET}}, "save snapshots/abc: giving up after 4 attempts", 4},
		{"not retried: exists", []Fault{{Op: Save, Err: fs.ErrExist}}, "file already exists", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := &memBackend{files: map[string][]byte{}}
			faulty := NewFaulty(mem, tt.faults...)
			calls := 0
			r := &Retry{Backend: faulty, Attempts: 4, sleep: func(context.Context, time.Duration) error { calls++; return nil }}
			err := SaveBytes(ctx, r, h, []byte("data"))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if calls+1 != tt.attempts {
				t.Fatalf("%d attempts, want %d", calls+1, tt.attempts)
			}
		})
	}
	// Not found is final at once.
	r := &Retry{Backend: &memBackend{files: map[string][]byte{}}, sleep: func(context.Context, time.Duration) error {
		t.Fatal("retried a missing file")
		return nil
	}}
	if _, err := LoadAll(ctx, r, h); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load missing: %v", err)
	}
}

func TestLimited(t *testing.T) {
	ctx := context.Background()
	mem := &memBackend{files: map[string][]byte{}}
	const rate = 256 << 10
	l := NewLimited(mem, rate, rate)
	data := make([]byte, 512<<10)
	start := time.Now()
	h := Handle{Type: PackFile, Name: "p"}
	if err := SaveBytes(ctx, l, h, data); err != nil {
		t.Fatal(err)
	}
	got, err := LoadAll(ctx, l, h)
	if err != nil || len(got) != len(data) {
		t.Fatalf("load: %v %d", err, len(got))
	}
	// 1 MiB moved at 256 KiB/s each way, minus the initial bursts: well
	// over a second in total.
	if el := time.Since(start); el < time.Second {
		t.Fatalf("limited transfer took %v", el)
	}
}

// TestRetryThroughRandomFaults: through Retry, the random faults of the
// stress test (lost replies, cut reads, broken listings) never change
// what is stored, read, listed or removed.
func TestRetryThroughRandomFaults(t *testing.T) {
	ctx := context.Background()
	mem := &memBackend{files: map[string][]byte{}}
	rf := NewRandomFaults(mem, 42, 0.4)
	r := &Retry{Backend: rf, Attempts: 30, sleep: func(context.Context, time.Duration) error { return nil }}
	want := map[string]string{}
	for i := range 200 {
		name := strings.Repeat("0", 62) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		data := strings.Repeat(name, i%7+1)
		h := Handle{Type: SnapshotFile, Name: name}
		if err := r.Save(ctx, h, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
		want[name] = data
	}
	for name, data := range want {
		var got []byte
		err := r.Load(ctx, Handle{Type: SnapshotFile, Name: name}, 0, 0, func(rd io.Reader) error {
			var err error
			got, err = io.ReadAll(rd)
			return err
		})
		if err != nil || string(got) != data {
			t.Fatalf("load %s: %q, %v", name, got, err)
		}
	}
	listed := map[string]bool{}
	if err := r.List(ctx, SnapshotFile, func(fi FileInfo) error { listed[fi.Name] = true; return nil }); err != nil || len(listed) != len(want) {
		t.Fatalf("list: %d of %d names, %v", len(listed), len(want), err)
	}
	for name := range want {
		if err := r.Remove(ctx, Handle{Type: SnapshotFile, Name: name}); err != nil {
			t.Fatalf("remove %s: %v", name, err)
		}
	}
	if len(mem.files) != 0 {
		t.Fatalf("%d files left after removing all", len(mem.files))
	}
}

type closingBackend struct {
	memBackend
	closed int
}

func (c *closingBackend) Close() error { c.closed++; return nil }

// TestCloseReachesThroughWrappers: Close finds the backend below retry,
// rate limits and fault injection (the SFTP backend ends ssh there).
func TestCloseReachesThroughWrappers(t *testing.T) {
	c := &closingBackend{memBackend: memBackend{files: map[string][]byte{}}}
	be := NewRetry(NewLimited(NewFaulty(NewRandomFaults(c, 1, 0)), 1000, 1000))
	if err := Close(be); err != nil || c.closed != 1 {
		t.Fatalf("Close through wrappers: %v, closed %d times", err, c.closed)
	}
	if err := Close(NewRetry(&memBackend{})); err != nil {
		t.Fatalf("Close of a backend with nothing to close: %v", err)
	}
}
