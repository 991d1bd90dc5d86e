package main

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// Memory: the Go runtime lets the heap grow to twice the live data (GOGC)
// before collecting, and a backup's garbage (chunk buffers, compressed
// blobs) then shows as peak RSS. A soft memory limit that follows the live
// heap keeps the peak near what the work needs: the live heap plus a
// quarter again (24 MiB at least), at least minMemoryLimit. The buffers
// are pointer-free, so a collection costs little: at 104 MiB instead of
// 128 for the 80 MiB live heap of a first backup, the peak RSS is 15 MiB
// lower for no CPU time that shows (issue 17). It is raised as the live heap grows (a
// large index, a large tree), so the collector never runs against a limit
// below the live data. GOMEMLIMIT, when set, is used instead.
const (
	minMemoryLimit = 96 << 20
	memoryInterval = 200 * time.Millisecond
)

// governMemory keeps the soft memory limit in step with the live heap
// until ctx is done.
func governMemory(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	limit := int64(minMemoryLimit)
	debug.SetMemoryLimit(limit)
	go func() {
		t := time.NewTicker(memoryInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			live := int64(sample[0].Value.Uint64())
			want := max(minMemoryLimit, live+max(live/4, 24<<20))
			if want > limit+limit/10 || want < limit-limit/4 {
				limit = want
				debug.SetMemoryLimit(limit)
			}
		}
	}()
}

// peakProfileInterval is how often profilePeakHeap looks at the live heap.
const peakProfileInterval = 100 * time.Millisecond

// profilePeakHeap samples the live heap until the returned stop is called
// and keeps the heap profile taken when it was highest (it shows what was
// live at the last collection); stop writes that profile to path. For
// finding what makes a command's peak RSS (--mem-profile).
func profilePeakHeap(path string) (stop func() error) {
	runtime.MemProfileRate = 64 << 10
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var (
		mu   sync.Mutex
		peak uint64
		prof bytes.Buffer
	)
	take := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		live := sample[0].Value.Uint64()
		mu.Lock()
		defer mu.Unlock()
		if prof.Len() > 0 && live <= peak+peak/50 {
			return // not a new peak (by 2%): a profile costs a few ms
		}
		peak = live
		prof.Reset()
		_ = pprof.Lookup("heap").WriteTo(&prof, 0)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(peakProfileInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() error {
		close(done)
		<-finished
		take()
		mu.Lock()
		defer mu.Unlock()
		return os.WriteFile(path, prof.Bytes(), 0o644)
	}
}
