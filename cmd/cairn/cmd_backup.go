package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type backupOptions struct {
	tags          []string
	host          string
	excludes      []string
	excludeFiles  []string
	oneFileSystem bool
	parent        string
	ignoreCtime   bool
	ignoreInode   bool
}

func newBackupCommand(g *globalOptions) *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup [flags] PATH...",
		Short: "Back up files and directories into a new snapshot",
		Long: `Back up files and directories into a new snapshot.

By default the backup is incremental: files whose type, size, mtime, ctime
and inode equal those in the latest snapshot of the same host and paths are
not read again. Every snapshot is complete on its own.

Exit code 3 means the snapshot was written but some files could not be read
(each is reported on stderr).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.tags, "tag", nil, "add `tags` to the snapshot (comma-separated, repeatable)")
	f.StringVar(&o.host, "host", "", "record `hostname` instead of this machine's")
	f.StringArrayVarP(&o.excludes, "exclude", "e", nil, "exclude `pattern` (repeatable)")
	f.StringArrayVar(&o.excludeFiles, "exclude-file", nil, "read exclude patterns from `file` (repeatable)")
	f.BoolVarP(&o.oneFileSystem, "one-file-system", "x", false, "don't cross filesystem boundaries")
	f.StringVar(&o.parent, "parent", "", "use snapshot `ID` as the parent for change detection")
	f.BoolVar(&o.ignoreCtime, "ignore-ctime", false, "ignore ctime when detecting changed files")
	f.BoolVar(&o.ignoreInode, "ignore-inode", false, "ignore inode numbers when detecting changed files")
	return cmd
}

func readPatternFiles(files []string) ([]string, error) {
	var out []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read exclude file %s: %w", name, err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read exclude file %s: %w", name, err)
		}
	}
	return out, nil
}

func runBackup(cmd *cobra.Command, g *globalOptions, o backupOptions, paths []string) error {
	ctx := cmd.Context()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("backup source %s: does not exist", p)
			}
			return fmt.Errorf("backup source %s: %w", p, err)
		}
	}
	patterns, err := readPatternFiles(o.excludeFiles)
	if err != nil {
		return err
	}
	patterns = append(append([]string{}, o.excludes...), patterns...)
	excl, err := snapshot.NewMatcher(patterns, false)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	host := o.host
	if host == "" {
		host, _ = os.Hostname()
	}
	r, err := g.openRepo(ctx, true)
	if err != nil {
		return err
	}
	abs := make([]string, len(paths))
	for i, p := range paths {
		abs[i], _ = filepath.Abs(p)
	}
	var parent *snapshot.Snapshot
	if o.parent != "" {
		if parent, err = snapshot.Find(ctx, r, o.parent, snapshot.Filter{}); err != nil {
			return err
		}
	} else {
		parent, err = snapshot.Find(ctx, r, "latest", snapshot.Filter{Hosts: []string{host}, Paths: abs})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	opts := archiver.Options{
		Paths: paths, Excludes: excl, OneFileSystem: o.oneFileSystem, Tags: o.tags, Hostname: host,
		Parent: parent, Kind: snapshot.Incremental, IgnoreCtime: o.ignoreCtime, IgnoreInode: o.ignoreInode,
		Program: "cairn " + version,
	}
	if parent != nil {
		opts.Generation = parent.Generation
		if g.verbose > 0 && !g.json {
			g.printf("using parent snapshot %s\n", parent.ID().Short())
		}
	}
	var mu sync.Mutex
	opts.OnError = func(p string, err error) {
		mu.Lock()
		defer mu.Unlock()
		g.warnf("warning: %s: %v\n", p, err)
	}
	sn, err := archiver.Run(ctx, r, opts)
	if err != nil {
		return err
	}
	printBackupSummary(g, sn)
	if sn.Summary.Errors > 0 {
		return fmt.Errorf("snapshot %s saved, but %d files could not be read: %w", sn.ID().Short(), sn.Summary.Errors, errPartial)
	}
	return nil
}

func printBackupSummary(g *globalOptions, sn *snapshot.Snapshot) {
	s := sn.Summary
	if g.json {
		_ = jsonOut(g, struct {
			MessageType string `json:"message_type"`
			*snapshot.Summary
			SnapshotID string `json:"snapshot_id"`
			Kind       string `json:"kind"`
		}{"summary", s, sn.ID().String(), string(sn.Kind)})
		return
	}
	g.printf("Files:       %d new, %d changed, %d unmodified\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	g.printf("Dirs:        %d new, %d changed, %d unmodified\n", s.DirsNew, s.DirsChanged, s.DirsUnmodified)
	g.printf("Read:        %s\n", formatBytes(s.BytesRead))
	g.printf("Added:       %s (%s stored)\n", formatBytes(s.BytesAdded), formatBytes(s.BytesStored))
	g.printf("Processed:   %d files, %s in %s\n", s.TotalFiles, formatBytes(s.TotalBytes), s.Duration.Round(time.Millisecond))
	g.printf("snapshot %s saved (%s)\n", sn.ID().Short(), sn.Kind)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
