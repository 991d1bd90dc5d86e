package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/repo/archiver"
)

// progressState is the terminal line currently shown, so warnings can
// clear it first.
type progressState struct {
	mu    sync.Mutex
	shown bool
}

// startProgress shows the backup's progress: a bar redrawn on a terminal,
// or with --json a status event per second on stdout. Nothing with
// --quiet or when stdout is not a terminal. It returns the function that
// stops it (after printing a final event).
func (g *globalOptions) startProgress(opts *archiver.Options) func() {
	terminal := g.env.StdoutIsTerminal != nil && g.env.StdoutIsTerminal()
	if g.quiet || (!g.json && !terminal) {
		return func() {}
	}
	p := archiver.NewProgress()
	opts.Progress = p
	interval := 200 * time.Millisecond
	if g.json {
		interval = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				g.showProgress(p.Status(), true)
				return
			case <-t.C:
				g.showProgress(p.Status(), false)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

type statusEvent struct {
	MessageType    string   `json:"message_type"`
	SecondsElapsed float64  `json:"seconds_elapsed"`
	SecondsLeft    float64  `json:"seconds_remaining,omitempty"`
	PercentDone    float64  `json:"percent_done"`
	TotalFiles     int64    `json:"total_files"`
	FilesDone      int64    `json:"files_done"`
	TotalBytes     int64    `json:"total_bytes"`
	BytesDone      int64    `json:"bytes_done"`
	ErrorCount     int64    `json:"error_count"`
	CurrentFiles   []string `json:"current_files,omitempty"`
}

func (g *globalOptions) showProgress(s archiver.Status, final bool) {
	if g.json {
		ev := statusEvent{MessageType: "status", SecondsElapsed: s.Elapsed.Seconds(), SecondsLeft: s.ETA.Seconds(),
			PercentDone: s.PercentDone, TotalFiles: s.TotalFiles, FilesDone: s.FilesDone,
			TotalBytes: s.TotalBytes, BytesDone: s.BytesDone, ErrorCount: s.Errors}
		if s.CurrentFile != "" && !final {
			ev.CurrentFiles = []string{s.CurrentFile}
		}
		b, _ := json.Marshal(ev)
		fmt.Fprintf(g.env.Stdout, "%s\n", b)
		return
	}
	g.progress.mu.Lock()
	defer g.progress.mu.Unlock()
	if final {
		if g.progress.shown {
			fmt.Fprint(g.env.Stdout, "\r\033[K")
			g.progress.shown = false
		}
		return
	}
	fmt.Fprintf(g.env.Stdout, "\r\033[K%s", progressLine(s, g.termWidth()))
	g.progress.shown = true
}

// clearProgress removes the progress line before a warning is printed.
func (g *globalOptions) clearProgress() {
	g.progress.mu.Lock()
	defer g.progress.mu.Unlock()
	if g.progress.shown && !g.json {
		fmt.Fprint(g.env.Stdout, "\r\033[K")
		g.progress.shown = false
	}
}

func (g *globalOptions) termWidth() int {
	if g.env.TermWidth != nil {
		if w := g.env.TermWidth(); w > 20 {
			return w
		}
	}
	return 80
}

// progressLine renders one status line of at most width columns.
func progressLine(s archiver.Status, width int) string {
	el := clock(s.Elapsed)
	var b strings.Builder
	if s.ScanDone && s.TotalBytes > 0 {
		fmt.Fprintf(&b, "[%s] %5.1f%%  %d/%d files  %s/%s", el, 100*s.PercentDone, s.FilesDone, s.TotalFiles,
			formatBytes(s.BytesDone), formatBytes(s.TotalBytes))
	} else {
		fmt.Fprintf(&b, "[%s] %d files  %s", el, s.FilesDone, formatBytes(s.BytesDone))
	}
	if secs := s.Elapsed.Seconds(); secs > 0 {
		fmt.Fprintf(&b, "  %s/s", formatBytes(int64(float64(s.BytesDone)/secs)))
	}
	if s.ETA > 0 {
		fmt.Fprintf(&b, "  ETA %s", clock(s.ETA))
	}
	if s.Errors > 0 {
		fmt.Fprintf(&b, "  %d errors", s.Errors)
	}
	line := []rune(b.String())
	if room := width - 1 - len(line) - 2; s.CurrentFile != "" && room > 10 {
		cur := []rune(s.CurrentFile)
		if len(cur) > room {
			cur = append([]rune("…"), cur[len(cur)-room+1:]...)
		}
		line = append(append(line, ' ', ' '), cur...)
	}
	if len(line) >= width {
		line = line[:width-1]
	}
	return string(line)
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}
