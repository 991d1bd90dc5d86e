package archiver

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Progress is updated by a running backup; read it from any goroutine.
type Progress struct {
	Start      time.Time
	FilesDone  atomic.Int64
	BytesDone  atomic.Int64
	TotalFiles atomic.Int64
	TotalBytes atomic.Int64
	ScanDone   atomic.Bool
	Errors     atomic.Int64
	current    atomic.Pointer[string]
}

// NewProgress returns a Progress starting now.
func NewProgress() *Progress { return &Progress{Start: time.Now()} }

func (p *Progress) setCurrent(path string) {
	if p != nil {
		p.current.Store(&path)
	}
}

func (p *Progress) fileDone(bytes int64, counted bool) {
	if p == nil {
		return
	}
	p.FilesDone.Add(1)
	if !counted {
		p.BytesDone.Add(bytes)
	}
}

func (p *Progress) addBytes(n int64) {
	if p != nil {
		p.BytesDone.Add(n)
	}
}

// Status is a consistent reading of a Progress.
type Status struct {
	Elapsed     time.Duration
	FilesDone   int64
	BytesDone   int64
	TotalFiles  int64
	TotalBytes  int64
	ScanDone    bool
	Errors      int64
	CurrentFile string
	// PercentDone is of bytes (0 to 1), ETA is zero while unknown.
	PercentDone float64
	ETA         time.Duration
}

// Status reads p.
func (p *Progress) Status() Status {
	s := Status{
		Elapsed:   time.Since(p.Start),
		FilesDone: p.FilesDone.Load(), BytesDone: p.BytesDone.Load(),
		TotalFiles: p.TotalFiles.Load(), TotalBytes: p.TotalBytes.Load(),
		ScanDone: p.ScanDone.Load(), Errors: p.Errors.Load(),
	}
	if c := p.current.Load(); c != nil {
		s.CurrentFile = *c
	}
	if s.TotalBytes > 0 {
		s.PercentDone = min(1, float64(s.BytesDone)/float64(s.TotalBytes))
	}
	if s.ScanDone && s.BytesDone > 0 && s.PercentDone < 1 {
		rate := float64(s.BytesDone) / s.Elapsed.Seconds()
		s.ETA = time.Duration(float64(s.TotalBytes-s.BytesDone) / rate * float64(time.Second))
	}
	return s
}

// scan counts the files and bytes a backup of targets will look at, for
// the progress totals. It applies the same excludes as the backup.
func (a *archiver) scan(ctx context.Context, targets []string) {
	p := a.opts.Progress
	var walk func(path string, dev uint64)
	walk = func(path string, dev uint64) {
		if ctx.Err() != nil {
			return
		}
		fi, err := lstat(path)
		if err != nil {
			return
		}
		switch {
		case fi.Mode().IsRegular():
			if a.opts.ExcludeLargerThan > 0 && fi.Size() > a.opts.ExcludeLargerThan {
				return
			}
			p.TotalFiles.Add(1)
			p.TotalBytes.Add(fi.Size())
		case fi.IsDir():
			st, ok := sysStat(fi)
			if ok && dev != 0 && a.opts.OneFileSystem && st.dev != dev {
				return
			}
			names, _ := a.opts.listDir(path)
			for _, n := range names {
				c := filepath.Join(path, n)
				if !a.opts.Excludes.Match(filepath.ToSlash(c)) {
					walk(c, dev)
				}
			}
		}
	}
	for _, t := range targets {
		dev := uint64(0)
		if fi, err := lstat(t); err == nil {
			if st, ok := sysStat(fi); ok {
				dev = st.dev
			}
		}
		walk(t, dev)
	}
	p.ScanDone.Store(true)
}
