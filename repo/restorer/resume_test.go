package restorer_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/restorer"
)

// TestRestoreResumesInsideFile: --overwrite if-changed on a partially
// restored file (cut at 60%, one chunk in the middle corrupted) keeps the
// chunks that already match and writes only the missing and corrupted
// ones; the result is byte-exact. The corrupted chunk is all zeros, so it
// must be written, not left as a hole over the garbage.
func TestRestoreResumesInsideFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBuilder(t)
	rnd := rand.New(rand.NewPCG(3, 4))
	var content []byte
	var ids []string
	var starts []int
	const zeroChunk = 2
	for i := 0; i < 10; i++ {
		chunk := make([]byte, 50000+1000*i)
		if i != zeroChunk {
			for j := range chunk {
				chunk[j] = byte(rnd.Uint32())
			}
		}
		starts = append(starts, len(content))
		content = append(content, chunk...)
		ids = append(ids, b.blob(pack.DataBlob, chunk).String())
	}
	file := map[string]any{"name": "big", "type": "file", "mode": 0o644, "size": len(content), "content": ids, "mtime": time.Unix(1e9, 0)}
	sn := b.snapshot(b.tree(file))
	target := t.TempDir()
	p := filepath.Join(target, "big")
	if _, err := restorer.Restore(ctx, b.r, sn, "/", target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}

	cut := len(content) * 6 / 10
	if err := os.Truncate(p, int64(cut)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 100), int64(starts[zeroChunk]+1000)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// What has to be written: the corrupted chunk and every chunk from
	// the one the cut goes through.
	want := int64(len(content) - starts[zeroChunk+1] + starts[zeroChunk])
	for i := range starts {
		if starts[i] <= cut && (i+1 == len(starts) || starts[i+1] > cut) {
			want = int64(starts[zeroChunk+1]-starts[zeroChunk]) + int64(len(content)-starts[i])
		}
	}

	var prog restorer.Progress
	st, err := restorer.Restore(ctx, b.r, sn, "/", target, restorer.Options{Overwrite: restorer.OverwriteIfChanged, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("resumed file differs from the snapshot (%d bytes, want %d)", len(got), len(content))
	}
	t.Logf("file %d bytes, cut at %d: resumed restore wrote %d bytes (stats %d)", len(content), cut, prog.BytesDone.Load(), st.Bytes)
	if prog.BytesDone.Load() != want || st.Bytes != want {
		t.Fatalf("resumed restore wrote %d bytes (stats %d), want %d: only the missing and corrupted chunks", prog.BytesDone.Load(), st.Bytes, want)
	}
	if fi, _ := os.Stat(p); !fi.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Fatalf("mtime %v after the resumed restore, want the snapshot's", fi.ModTime())
	}

	// Longer than the snapshot's version, every chunk in place: only cut.
	f, _ = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("trailing garbage"))
	f.Close()
	st, err = restorer.Restore(ctx, b.r, sn, "/", target, restorer.Options{Overwrite: restorer.OverwriteIfChanged})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, content) || st.Bytes != 0 {
		t.Fatalf("file with trailing bytes: %d bytes written, content equal %v", st.Bytes, bytes.Equal(got, content))
	}
}
