package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/klauspost/compress/zstd"
)

// TestReadBlobsChecksEveryBlob: ReadBlobs decodes blobs two at a time and
// hashes them in step; every blob is still checked against its ID before
// fn sees it, in offset order, whether it is the first or the second of a
// pair or the last one left over: a blob with the ID of other content and
// one whose stored bytes are damaged go to fail, the others to fn with
// their plaintext. An error from fn stops the read at that blob.
func TestReadBlobsChecksEveryBlob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	var buf bytes.Buffer
	w := pack.NewWriter(pack.Generation{}, pack.DataBlob, &buf)
	codec, ids := pack.NewCodec(r.Key(), zstd.SpeedFastest), r.Key().NewIDHasher()
	const n = 8
	var plains [n][]byte
	var entries []pack.Entry
	for i := range n {
		p := []byte(strings.Repeat(fmt.Sprintf("blob %d; ", i), 1000*(i+1)))
		if i%3 == 1 {
			p = p[:i*100+1] // short, uncompressed: lengths of all kinds
		}
		plains[i] = p
		stored, e := codec.Encode(nil, p, pack.DataBlob)
		e.ID = ids.Sum(p)
		// Blob 4 is damaged, so 5 and 6 are a pair and 7 is left over:
		// a wrong ID as the first of a pair, the second, and left over.
		if i == 2 || i == 6 || i == 7 {
			e.ID = ids.Sum(append([]byte("other "), p...))
		}
		if err := w.Add(e, stored); err != nil {
			t.Fatal(err)
		}
	}
	entries, _, err := w.Finalize(r.Key())
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[entries[4].Offset+entries[4].Length/2] ^= 1 // blob 4 doesn't open
	id := pack.Hash(b)
	if err := os.MkdirAll(filepath.Dir(repotest.PackPath(dir, id)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(repotest.PackPath(dir, id), b, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, stopAt := range []int{-1, 0, 1, 3, 5} {
		var got []int
		failed := map[int]error{}
		which := func(e pack.Entry) int {
			for i, x := range entries {
				if x.Offset == e.Offset {
					return i
				}
			}
			t.Fatalf("entry at %d is none of the pack's", e.Offset)
			return -1
		}
		stop := errors.New("stop")
		err := r.ReadBlobs(ctx, id, entries, func(e pack.Entry, plain []byte) error {
			i := which(e)
			if !bytes.Equal(plain, plains[i]) {
				t.Errorf("blob %d: fn got other bytes", i)
			}
			got = append(got, i)
			if i == stopAt {
				return stop
			}
			return nil
		}, func(e pack.Entry, err error) { failed[which(e)] = err })
		want := []int{0, 1, 3, 5}
		if stopAt >= 0 {
			if !errors.Is(err, stop) {
				t.Fatalf("stop at %d: ReadBlobs returned %v, want fn's error", stopAt, err)
			}
			want = want[:strings.Index("0135", fmt.Sprint(stopAt))+1]
		} else if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("stop at %d: fn saw blobs %v, want %v", stopAt, got, want)
		}
		if stopAt >= 0 {
			continue
		}
		if len(failed) != 4 {
			t.Fatalf("failed blobs %v, want 2, 4, 6 and 7", failed)
		}
		for _, i := range []int{2, 6, 7} {
			if err := failed[i]; !errors.Is(err, repo.ErrDamaged) || !strings.Contains(err.Error(), "does not match its ID") {
				t.Errorf("blob %d: %v", i, err)
			}
		}
		if err := failed[4]; !errors.Is(err, repo.ErrDamaged) || strings.Contains(err.Error(), "does not match its ID") {
			t.Errorf("damaged blob 4: %v", err)
		}
	}
}

// TestSaverIDPair: the IDs of two chunks hashed in step are the IDs each
// gets alone, whichever is longer.
func TestSaverIDPair(t *testing.T) {
	t.Parallel()
	r, _ := repotest.New(t, repo.InitOptions{})
	r.StartWriting()
	s := r.NewSaver()
	a := bytes.Repeat([]byte("first chunk "), 100000)
	b := bytes.Repeat([]byte("second "), 777)
	for _, p := range [][2][]byte{{a, b}, {b, a}, {a, a[:0]}, {a[:64], b[:63]}} {
		x, y := s.IDPair(p[0], p[1])
		if x != s.ID(p[0]) || y != s.ID(p[1]) {
			t.Fatalf("IDPair of %d and %d bytes differs from ID", len(p[0]), len(p[1]))
		}
	}
}
