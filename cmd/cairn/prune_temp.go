package main

import (
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/repo/pruner"
)

// writePruneTemp says what prune did with leftover temporary files; it
// says nothing when there were none.
func writePruneTemp(w io.Writer, t pruner.TempFiles, dryRun bool) {
	if t.Removed > 0 {
		verb := "removed"
		if dryRun {
			verb = "would remove"
		}
		fmt.Fprintf(w, "temporary files:  %s %d, %s (left by interrupted writes)\n", verb, t.Removed, formatBytes(t.RemovedBytes))
	}
	if t.Young > 0 {
		fmt.Fprintf(w, "kept (too young): %d temporary files, %s, inside the grace period\n", t.Young, formatBytes(t.YoungBytes))
	}
}
