package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory: the Go runtime lets the heap grow to twice the live data (GOGC)
// before collecting, and a backup's garbage (chunk buffers, compressed
// blobs) then shows as peak RSS. A soft memory limit that follows the live
// heap keeps the peak near what the work needs: the live heap plus half
// again, at least minMemoryLimit. It is raised as the live heap grows (a
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
			want := max(minMemoryLimit, live+max(live/2, 48<<20))
			if want > limit+limit/10 || want < limit-limit/4 {
				limit = want
				debug.SetMemoryLimit(limit)
			}
		}
	}()
}
