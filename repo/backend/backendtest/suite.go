// Package backendtest is the conformance suite every backend runs, so all
// backends behave the same to the repository.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Run runs the suite against backends made by newBackend (each call a new,
// empty repository location).
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	ctx := context.Background()
	create := func(t *testing.T) backend.Backend {
		be := newBackend(t)
		if c, ok := be.(backend.Creator); ok {
			if err := c.Create(ctx); err != nil {
				t.Fatalf("create: %v", err)
			}
		}
		t.Cleanup(func() { be.Close() })
		return be
	}

	t.Run("SaveLoadRange", func(t *testing.T) {
		be := create(t)
		data := bytes.Repeat([]byte("0123456789"), 1000)
		id := pack.Hash(data).String()
		for _, ft := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.KeyFile, backend.LockFile} {
			h := backend.Handle{Type: ft, Name: id}
			if err := backend.SaveBytes(ctx, be, h, data); err != nil {
				t.Fatalf("save %s: %v", h, err)
			}
			got, err := backend.LoadAll(ctx, be, h)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("load %s: %v", h, err)
			}
			for _, r := range []struct{ off, n int }{{0, 10}, {5, 100}, {9990, 10}, {1234, 0}} {
				var part []byte
				err := be.Load(ctx, h, r.n, int64(r.off), func(rd io.Reader) error {
					var err error
					part, err = io.ReadAll(rd)
					return err
				})
				want := data[r.off:]
				if r.n > 0 {
					want = data[r.off : r.off+r.n]
				}
				if err != nil || !bytes.Equal(part, want) {
					t.Fatalf("range %+v of %s: %v (%d bytes)", r, h, err, len(part))
				}
			}
			fi, err := be.Stat(ctx, h)
			if err != nil || fi.Size != int64(len(data)) {
				t.Fatalf("stat %s: %+v %v", h, fi, err)
			}
		}
	})

	t.Run("Config", func(t *testing.T) {
		be := create(t)
		h := backend.Handle{Type: backend.ConfigFile}
		if _, err := be.Stat(ctx, h); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stat missing config: %v, want fs.ErrNotExist", err)
		}
		if err := backend.SaveBytes(ctx, be, h, []byte("cfg")); err != nil {
			t.Fatal(err)
		}
		got, err := backend.LoadAll(ctx, be, h)
		if err != nil || string(got) != "cfg" {
			t.Fatalf("load config: %q %v", got, err)
		}
	})

	t.Run("NotExist", func(t *testing.T) {
		be := create(t)
		h := backend.Handle{Type: backend.SnapshotFile, Name: pack.Hash([]byte("none")).String()}
		if _, err := backend.LoadAll(ctx, be, h); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("load: %v, want fs.ErrNotExist", err)
		}
		if _, err := be.Stat(ctx, h); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stat: %v, want fs.ErrNotExist", err)
		}
		if err := be.Remove(ctx, h); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("remove: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("ListRemove", func(t *testing.T) {
		be := create(t)
		var want []string
		for i := 0; i < 40; i++ {
			data := []byte(fmt.Sprint("pack ", i))
			name := pack.Hash(data).String()
			want = append(want, name)
			if err := backend.SaveBytes(ctx, be, backend.Handle{Type: backend.PackFile, Name: name}, data); err != nil {
				t.Fatal(err)
			}
		}
		list := func() []string {
			var got []string
			if err := be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
				got = append(got, fi.Name)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sort.Strings(got)
			return got
		}
		sort.Strings(want)
		if got := list(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("list: %d names, want %d", len(got), len(want))
		}
		if err := be.Remove(ctx, backend.Handle{Type: backend.PackFile, Name: want[0]}); err != nil {
			t.Fatal(err)
		}
		if got := list(); len(got) != len(want)-1 {
			t.Fatalf("after remove: %d names", len(got))
		}
		stop := errors.New("stop")
		n := 0
		err := be.List(ctx, backend.PackFile, func(backend.FileInfo) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("list did not stop on callback error: %v after %d", err, n)
		}
	})

	t.Run("ConcurrentSave", func(t *testing.T) {
		be := create(t)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Go(func() {
				data := bytes.Repeat([]byte{byte(i)}, 100000+i)
				errs <- backend.SaveBytes(ctx, be, backend.Handle{Type: backend.PackFile, Name: pack.Hash(data).String()}, data)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("ManyObjects", func(t *testing.T) {
		// More than one page of an S3 listing (1000 keys).
		be := create(t)
		const n = 1100
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				data := []byte(fmt.Sprint("object ", i))
				errs <- backend.SaveBytes(ctx, be, backend.Handle{Type: backend.SnapshotFile, Name: pack.Hash(data).String()}, data)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		count := 0
		if err := be.List(ctx, backend.SnapshotFile, func(backend.FileInfo) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
		if count != n {
			t.Fatalf("listed %d of %d objects", count, n)
		}
	})

	t.Run("LargeObject", func(t *testing.T) {
		be := create(t)
		data := make([]byte, 40<<20)
		for i := range data {
			data[i] = byte(i * 7 / 5)
		}
		h := backend.Handle{Type: backend.PackFile, Name: pack.Hash(data).String()}
		if err := backend.SaveBytes(ctx, be, h, data); err != nil {
			t.Fatal(err)
		}
		got, err := backend.LoadAll(ctx, be, h)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("large object round trip: %v (%d bytes)", err, len(got))
		}
		var part []byte
		if err := be.Load(ctx, h, 1000, 33<<20, func(rd io.Reader) error {
			var err error
			part, err = io.ReadAll(rd)
			return err
		}); err != nil || !bytes.Equal(part, data[33<<20:33<<20+1000]) {
			t.Fatalf("range of a large object: %v", err)
		}
	})

	t.Run("NoOverwrite", func(t *testing.T) {
		be := create(t)
		h := backend.Handle{Type: backend.SnapshotFile, Name: pack.Hash([]byte("a")).String()}
		if err := backend.SaveBytes(ctx, be, h, []byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := backend.SaveBytes(ctx, be, h, []byte("b")); err == nil {
			t.Fatal("second save of the same name succeeded")
		}
		got, _ := backend.LoadAll(ctx, be, h)
		if string(got) != "a" {
			t.Fatalf("file was overwritten: %q", got)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		be := create(t)
		h := backend.Handle{Type: backend.ConfigFile}
		if err := be.Replace(ctx, h, bytes.NewReader([]byte("new")), 3); err != nil {
			t.Fatalf("replace of a missing file: %v", err)
		}
		if err := be.Replace(ctx, h, bytes.NewReader([]byte("newer")), 5); err != nil {
			t.Fatalf("replace of an existing file: %v", err)
		}
		got, err := backend.LoadAll(ctx, be, h)
		if err != nil || string(got) != "newer" {
			t.Fatalf("after replace: %q, %v", got, err)
		}
		ph := backend.Handle{Type: backend.ParityFile, Name: pack.Hash([]byte("p")).String()}
		if err := backend.SaveBytes(ctx, be, ph, []byte("p")); err != nil {
			t.Fatal(err)
		}
		var names []string
		if err := be.List(ctx, backend.ParityFile, func(fi backend.FileInfo) error {
			names = append(names, fi.Name)
			return nil
		}); err != nil || len(names) != 1 || names[0] != ph.Name {
			t.Fatalf("list parity: %v, %v", names, err)
		}
		if err := be.Replace(ctx, ph, bytes.NewReader([]byte("q")), 1); err != nil {
			t.Fatal(err)
		}
		if got, _ := backend.LoadAll(ctx, be, ph); string(got) != "q" {
			t.Fatalf("replaced parity file holds %q", got)
		}
	})
}
