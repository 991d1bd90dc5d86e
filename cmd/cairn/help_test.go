//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// commandPaths lists every command of the tree, help topics included, as
// their paths without "cairn " ("" is cairn itself).
func commandPaths(t *testing.T) []string {
	t.Helper()
	root := newRootCommand(&globalOptions{env: &Env{Getenv: func(string) string { return "" }}})
	var paths []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		paths = append(paths, strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "cairn"), " "))
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return paths
}

// runCLI runs cairn with args in-process and returns stdout, stderr and
// the exit code.
func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Now: func() time.Time { return t0 }}
	code := Run(context.Background(), env, args)
	return out.String(), errb.String(), code
}

// TestHelpGolden compares `cairn CMD --help` of every command with
// testdata/help/CMD.golden (-update rewrites them), and checks each has
// examples and an exit-code section.
func TestHelpGolden(t *testing.T) {
	t.Parallel()
	if *update {
		if err := os.MkdirAll(filepath.Join("testdata", "help"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	paths := commandPaths(t)
	if len(paths) < 40 {
		t.Fatalf("only %d commands in the tree: %q", len(paths), paths)
	}
	for _, p := range paths {
		name := strings.ReplaceAll(p, " ", "-")
		args := append(strings.Fields(p), "--help")
		if p == "" {
			name = "cairn"
		}
		if p == "exit-codes" {
			args = []string{"help", "exit-codes"}
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, stderr, code := runCLI(args...)
			if code != 0 || stderr != "" {
				t.Fatalf("cairn %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
			}
			golden(t, filepath.Join("help", name), []byte(out))
			if p == "exit-codes" {
				for _, c := range []string{"\n  0 ", "\n  1 ", "\n  3 ", "\n  10 ", "\n  11 ", "\n  12 ", "\n  13 ", "\n  130 "} {
					if !strings.Contains(out, c) {
						t.Errorf("exit code %q not explained:\n%s", strings.TrimSpace(c), out)
					}
				}
				return
			}
			if !strings.Contains(out, "\nExamples:\n  ") {
				t.Errorf("no examples (add them to commandHelp):\n%s", out)
			}
			if !strings.Contains(out, "\nExit codes:\n  0    success\n") {
				t.Errorf("no exit-code section (add it to commandHelp):\n%s", out)
			}
		})
	}
}

// TestHelpTableMatchesTree: every entry of commandHelp is a command, so
// none is left behind when a command is renamed.
func TestHelpTableMatchesTree(t *testing.T) {
	t.Parallel()
	have := map[string]bool{}
	for _, p := range commandPaths(t) {
		have[p] = true
	}
	for p := range commandHelp() {
		if !have[p] {
			t.Errorf("commandHelp has %q, which is not a command", p)
		}
	}
}
