package backend_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
)

// lyingStat reports a size other than the file's.
type lyingStat struct {
	backend.Backend
	size int64
}

func (l lyingStat) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	fi, err := l.Backend.Stat(ctx, h)
	fi.Size = l.size
	return fi, err
}

// TestLoadLimitedInto: whole files of every size around the 4 MiB probe,
// read with and without a reused buffer; files over the limit are
// refused, also when the storage lies about their size.
func TestLoadLimitedInto(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	be := local.New(t.TempDir())
	if err := be.Create(ctx); err != nil {
		t.Fatal(err)
	}
	const probe = 4 << 20
	var buf []byte
	for i, size := range []int{0, 1, 1000, probe - 1, probe, probe + 1, 3*probe + 7} {
		data := bytes.Repeat([]byte{byte(i + 1)}, size)
		h := backend.Handle{Type: backend.PackFile, Name: fmt.Sprintf("%064x", i+1)}
		if err := backend.SaveBytes(ctx, be, h, data); err != nil {
			t.Fatal(err)
		}
		for _, reuse := range []bool{false, true} {
			var in []byte
			if reuse {
				in = buf
			}
			got, err := backend.LoadLimitedInto(ctx, be, h, 16<<20, in)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d (reuse %v): %d bytes, %v", size, reuse, len(got), err)
			}
			if reuse {
				buf = got[:0]
			}
		}
		if size > 1000 {
			if _, err := backend.LoadLimitedInto(ctx, be, h, int64(size-1), buf); !errors.Is(err, backend.ErrTooLarge) {
				t.Fatalf("size %d over a limit of %d: %v", size, size-1, err)
			}
		}
		if size > probe {
			// The storage claims less than the file has: read no
			// further than the limit, and still get all of it when it
			// is within.
			liar := lyingStat{Backend: be, size: probe + 1}
			if got, err := backend.LoadLimitedInto(ctx, liar, h, 16<<20, buf); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d with a lying stat: %d bytes, %v", size, len(got), err)
			}
			if _, err := backend.LoadLimitedInto(ctx, liar, h, int64(size-1), nil); !errors.Is(err, backend.ErrTooLarge) {
				t.Fatalf("size %d with a lying stat over the limit: %v", size, err)
			}
		}
	}
}
