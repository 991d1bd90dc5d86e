// Command gendata writes the benchmark's ~1 GB mixed data set: text,
// compressible binary, random data and VM-image-like files, all from a
// fixed seed so every run backs up the same bytes. With -files N it
// writes N small text files (100 to 4,000 bytes) in directories of 1,000
// instead.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "output directory")
	scale := flag.Int("mib", 1024, "approximate total size in MiB")
	files := flag.Int("files", 0, "write this many small files instead of the mix")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "gendata: -dir is required")
		os.Exit(2)
	}
	run := func() error { return mix(*dir, *scale) }
	if *files > 0 {
		run = func() error { return small(*dir, *files) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

// small writes n small text files, 1,000 per directory.
func small(dir string, n int) error {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 4000)
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%04d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		b := buf[:100+r.IntN(3900)]
		genText(r, b)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d.txt", i)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func mix(dir string, mib int) error {
	r := rand.New(rand.NewPCG(1, 2))
	unit := mib << 20 / 100 // one percent of the total
	kinds := []struct {
		name    string
		files   int
		percent int
		gen     func(*rand.Rand, []byte)
	}{
		{"text", 40, 30, genText},
		{"binary", 10, 20, genBinary},
		{"random", 4, 20, genRandom},
		{"vm", 2, 30, genVM},
	}
	for _, k := range kinds {
		d := filepath.Join(dir, k.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		size := k.percent * unit / k.files
		buf := make([]byte, size)
		for i := 0; i < k.files; i++ {
			k.gen(r, buf)
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%s-%03d.dat", k.name, i)), buf, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

var words = []string{"backup", "restore", "snapshot", "repository", "chunk", "index", "pack", "tree", "blob",
	"the", "a", "of", "and", "to", "in", "is", "for", "with", "on", "file", "directory", "error", "return", "func",
	"if", "else", "err", "nil", "string", "int", "byte", "context", "ctx", "write", "read", "open", "close",
	"lorem", "ipsum", "dolor", "sit", "amet", "data", "value", "key", "map", "slice", "struct", "type"}

// genText writes random sentences: compresses about 3-4x, no repeats.
func genText(r *rand.Rand, b []byte) {
	w := bufio.NewWriterSize(&sliceWriter{b: b[:0]}, 1<<16)
	n := 0
	for n < len(b) {
		line := r.IntN(12) + 3
		for j := 0; j < line && n < len(b); j++ {
			s := words[r.IntN(len(words))]
			if r.IntN(8) == 0 {
				s = fmt.Sprintf("%s%d", s, r.IntN(100000))
			}
			w.WriteString(s)
			w.WriteByte(' ')
			n += len(s) + 1
		}
		w.WriteByte('\n')
		n++
	}
	w.Flush()
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	room := cap(s.b) - len(s.b)
	if len(p) > room {
		p = p[:room]
	}
	s.b = append(s.b, p...)
	return len(p), nil
}

// genBinary writes low-entropy records (small integers, flags, padding),
// like object files or databases: compressible about 2x.
func genBinary(r *rand.Rand, b []byte) {
	for i := 0; i+16 <= len(b); i += 16 {
		b[i] = byte(r.IntN(4))
		b[i+1] = byte(r.IntN(16))
		v := r.Uint64()
		for j := 2; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
		for j := 8; j < 16; j++ {
			b[i+j] = 0
		}
		if r.IntN(4) == 0 {
			b[i+8] = byte(r.IntN(256))
		}
	}
}

func genRandom(r *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// genVM writes 4 KiB blocks: most zero, some text, some random, as a
// disk image with free space looks.
func genVM(r *rand.Rand, b []byte) {
	const block = 4096
	for off := 0; off+block <= len(b); off += block {
		blk := b[off : off+block]
		switch x := r.IntN(10); {
		case x < 6:
			clear(blk)
		case x < 8:
			genText(r, blk)
		default:
			genRandom(r, blk)
		}
	}
}
