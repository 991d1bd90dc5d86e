// Command cairn is a content-addressed, deduplicating, encrypted backup
// tool; README.md describes its use.
//
// This package is only the command line. Each command (one cmd_*.go file
// per command, on github.com/spf13/cobra) parses its flags and the global
// ones into an options struct, opens the repository through repo/connect,
// says which session it needs (no lock, a shared or an exclusive lock, the
// index loaded or not), calls the library (repo/job and the packages below
// it) and renders the result as text or --json, with progress on a
// terminal; it exits with the code job.Code gives the error.
//
// It holds no repository logic: no file format, no lock or index handling
// (repo/layers_test.go checks its imports and that it reaches the
// repository only through sessions), no backend switch, no retention or schedule decisions; those belong to the library,
// so everything a command does can also be done, and tested, without the
// CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The pipeline's buffers are recycled, so garbage is small;
		// a lower GC target keeps peak memory close to the live heap.
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Caught, not ignored (children get the default back): a write to a
	// closed pipe on stdout then fails with EPIPE instead of killing the
	// process with its lock left in the repository, and Run stops the
	// command (exit 141, as a shell reports SIGPIPE).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if os.Getenv("GOMEMLIMIT") == "" {
		governMemory(ctx)
	}
	env := &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Now: time.Now,
		IsTerminal:       func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		StdoutIsTerminal: func() bool { return term.IsTerminal(int(os.Stdout.Fd())) },
		TermWidth: func() int {
			w, _, err := term.GetSize(int(os.Stdout.Fd()))
			if err != nil {
				return 0
			}
			return w
		},
		ReadPassword: func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(os.Stderr)
			return string(b), err
		},
	}
	// CAIRN_NOW fixes the clock (tests and simulations; never sleeps).
	if v := os.Getenv("CAIRN_NOW"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			err := fmt.Errorf("CAIRN_NOW=%q: want an RFC 3339 time like 2026-01-02T03:04:05Z", v)
			if jsonFlag(os.Args[1:]) {
				writeJSONError(os.Stderr, err, "", exitFatal)
			} else {
				fmt.Fprintf(os.Stderr, "error: %v\n", err)
			}
			os.Exit(exitFatal)
		}
		env.Now = func() time.Time { return t }
	}
	code := Run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}
