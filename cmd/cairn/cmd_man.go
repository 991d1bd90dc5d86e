package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newManCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write a man page for every command into DIR",
		Long: `Write the man pages of cairn and of every command (cairn.1, cairn-backup.1,
cairn-key-add.1, …) and of the exit codes (cairn-exit-codes.1) into DIR,
created if missing. Existing pages are overwritten.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man %s: %w", dir, err)
			}
			now := g.env.Now()
			header := func() *doc.GenManHeader {
				return &doc.GenManHeader{Section: "1", Date: &now, Source: "cairn " + version, Manual: "cairn manual"}
			}
			root := cmd.Root()
			manTexts(root)
			if err := doc.GenManTree(root, header(), dir); err != nil {
				return fmt.Errorf("man %s: %w", dir, err)
			}
			// The exit codes are a help topic, which GenManTree leaves out.
			for _, c := range root.Commands() {
				if c.Name() != "exit-codes" {
					continue
				}
				p := filepath.Join(dir, "cairn-exit-codes.1")
				f, err := os.Create(p)
				if err != nil {
					return fmt.Errorf("man %s: %w", dir, err)
				}
				err = doc.GenMan(c, header(), f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("man %s: %w", p, err)
				}
			}
			g.printf("wrote the man pages to %s\n", dir)
			return nil
		},
	}
}

// manTexts makes the indented blocks of the help texts (lists, tables,
// the exit codes) preformatted in the pages: the texts are read as
// Markdown, where a block indented by 4 spaces is kept as it is.
func manTexts(c *cobra.Command) {
	var out []string
	prevIndented := false
	for _, l := range strings.Split(c.Long, "\n") {
		indented := strings.HasPrefix(l, "  ")
		if indented != prevIndented && l != "" && len(out) > 0 && out[len(out)-1] != "" {
			out = append(out, "")
		}
		if indented {
			l = "  " + l
		}
		out = append(out, l)
		prevIndented = indented
	}
	c.Long = strings.Join(out, "\n")
	for _, sub := range c.Commands() {
		manTexts(sub)
	}
}
