package checker_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// BenchmarkCheckReadData is the hot path of `check --read-data`: every
// pack streamed, every blob opened, decompressed and re-hashed, every
// header parsed and compared with the index. The data is half text
// (compressible) and half random, 16 MiB packs as `cairn init` makes
// them; bytes are those of the packs read.
func BenchmarkCheckReadData(b *testing.B) {
	_, dir := repotest.New(b, repo.InitOptions{PackSize: 16 << 20})
	src := filepath.Join(b.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta ", "eta ", "theta\n"}
	for i := range 8 {
		buf := make([]byte, 8<<20)
		if i%2 == 0 {
			for j := 0; j < len(buf); {
				j += copy(buf[j:], words[rnd.IntN(len(words))])
			}
		} else {
			for j := range buf {
				buf[j] = byte(rnd.Uint32())
			}
		}
		if err := os.WriteFile(filepath.Join(src, string(rune('a'+i))), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	r := repotest.Open(b, dir)
	repotest.Backup(b, r, src)
	r.Session().Close()
	r = repotest.OpenOn(b, local.New(dir), repo.SessionOptions{Index: true, KeepMissing: true})
	var size int64
	for _, fi := range r.Session().Packs() {
		size += fi.Size
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Damaged() || rep.PacksRead != rep.Packs {
			b.Fatalf("errors %v, %d of %d packs read", rep.Errors, rep.PacksRead, rep.Packs)
		}
	}
}
