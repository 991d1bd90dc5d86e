package restorer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
)

// TestRestoreManyBatches: a tree of more files than one planning batch
// holds (maxBatchFiles is 4096), with contents shared between files of
// different batches and files of several chunks among them, restores byte
// for byte. Pack readers reuse their buffers from pack to pack and batch
// to batch; a buffer handed back while still in use would show as a file
// with another file's bytes.
func TestRestoreManyBatches(t *testing.T) {
	t.Parallel()
	r, _ := repotest.New(t, repo.InitOptions{})
	src := filepath.Join(t.TempDir(), "src")
	files := map[string]string{}
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 10_000
	for i := 0; i < n; i++ {
		content := fmt.Sprintf("file %d: %s\n", i, strings.Repeat("x", rng.IntN(3000)))
		if i%7 == 0 {
			content = fmt.Sprintf("shared content %d\n", i%5) // the same blob in every batch
		}
		files[fmt.Sprintf("d%02d/f%05d.txt", i/1000, i)] = content
	}
	for i := 0; i < 3; i++ { // several chunks each, in different batches
		big := make([]byte, 3<<20+i*12345)
		for j := range big {
			big[j] = byte(rng.Uint32())
		}
		files[fmt.Sprintf("d%02d/big%d.bin", i*4, i)] = string(big)
	}
	repotest.WriteFiles(t, src, files)
	sn := repotest.Backup(t, r, src)

	target := filepath.Join(t.TempDir(), "target")
	st, err := restorer.Restore(context.Background(), r, sn, src, target, restorer.Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != int64(len(files)) || st.Errors != 0 {
		t.Errorf("stats %+v, want %d files", st, len(files))
	}
	sameTree(t, src, target)
}
