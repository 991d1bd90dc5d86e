package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type backupOptions struct {
	tags              []string
	host              string
	excludes          []string
	excludeFiles      []string
	oneFileSystem     bool
	parent            string
	full              bool
	differential      bool
	rescan            bool
	ignoreCtime       bool
	ignoreInode       bool
	stdin             bool
	stdinFilename     string
	filesFrom         []string
	filesFromRaw      []string
	excludeCaches     bool
	excludeIfPresent  []string
	excludeLargerThan string
	dryRun            bool
	time              string
	skipIfUnchanged   bool
	indexInterval     time.Duration
}

func newBackupCommand(g *globalOptions) *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup [flags] PATH...",
		Short: "Back up files and directories into a new snapshot",
		Long: `Back up files and directories into a new snapshot.

Kinds (every snapshot is complete on its own; the kind decides which files
are read again and which stored data the snapshot may share):
  --full          read every file, store everything in a new generation
  --differential  compare with the latest full snapshot of the same host
                  and paths, join its generation (none: acts as --full)
  (default)       incremental: compare with the latest snapshot of the same
                  host and paths (or --parent ID), join its generation

A file whose type, size, mtime, ctime and inode equal those in the base is
not read again (--ignore-ctime, --ignore-inode relax this; --rescan reads
everything without starting a generation).

With --skip-if-unchanged (or skip-if-unchanged = true in a profile) no
snapshot is written when the new one would equal its parent: the same tree
(contents and metadata such as mtime and mode) and the same paths; the
output names the parent and the exit code is 0.

A backup that is killed or loses its connection can simply be run again: it
reads the files again but uploads only what the repository does not hold
yet, since an index file is written at least every --index-interval of
upload (and every 64 packs).

Exit code 3 means the snapshot was written but some files could not be read
(each is reported on stderr).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p := g.prof; p != nil {
				// A profile gives what to back up when no paths do.
				if len(args) == 0 && !o.stdin && len(o.filesFrom)+len(o.filesFromRaw) == 0 {
					args = p.Sources
				}
				o.excludes = append(append([]string{}, p.Exclude...), o.excludes...)
				o.excludeFiles = append(append([]string{}, p.ExcludeFile...), o.excludeFiles...)
				o.excludeIfPresent = append(append([]string{}, p.ExcludeIfPresent...), o.excludeIfPresent...)
				o.excludeCaches = o.excludeCaches || p.ExcludeCaches
				o.skipIfUnchanged = o.skipIfUnchanged || p.SkipIfUnchanged
				o.tags = append(append([]string{}, p.Tags...), o.tags...)
				if o.excludeLargerThan == "" {
					o.excludeLargerThan = p.ExcludeLargerThan
				}
				if o.host == "" {
					o.host = p.Host
				}
			}
			return runBackup(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.tags, "tag", nil, "add `tags` to the snapshot (comma-separated, repeatable)")
	f.StringVar(&o.host, "host", "", "record `hostname` instead of this machine's")
	f.StringArrayVarP(&o.excludes, "exclude", "e", nil, "exclude `pattern` (repeatable)")
	f.StringArrayVar(&o.excludeFiles, "exclude-file", nil, "read exclude patterns from `file` (repeatable)")
	f.BoolVarP(&o.oneFileSystem, "one-file-system", "x", false, "don't cross filesystem boundaries")
	f.StringVar(&o.parent, "parent", "", "use snapshot `ID` as the base for change detection")
	f.BoolVar(&o.full, "full", false, "make a full backup: read everything, start a new generation")
	f.BoolVar(&o.differential, "differential", false, "make a differential backup against the latest full one")
	f.BoolVar(&o.rescan, "rescan", false, "read every file again, even if its metadata is unchanged")
	f.BoolVar(&o.ignoreCtime, "ignore-ctime", false, "ignore ctime when detecting changed files")
	f.BoolVar(&o.ignoreInode, "ignore-inode", false, "ignore inode numbers when detecting changed files")
	f.BoolVar(&o.stdin, "stdin", false, "back up standard input as one file")
	f.StringVar(&o.stdinFilename, "stdin-filename", "stdin", "`name` of the file backed up with --stdin")
	f.StringArrayVar(&o.filesFrom, "files-from", nil, "read paths to back up from `file`, one per line (repeatable)")
	f.StringArrayVar(&o.filesFromRaw, "files-from-raw", nil, "read NUL-separated paths to back up from `file` (repeatable)")
	f.BoolVar(&o.excludeCaches, "exclude-caches", false, "exclude directories tagged with CACHEDIR.TAG (except the tag)")
	f.StringArrayVar(&o.excludeIfPresent, "exclude-if-present", nil, "exclude directories containing `name` (except it; repeatable)")
	f.StringVar(&o.excludeLargerThan, "exclude-larger-than", "", "exclude files larger than `size` (e.g. 500M, 2G)")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "report what would be stored, store nothing")
	f.StringVar(&o.time, "time", "", "record `time` (\"2006-01-02 15:04:05\" or RFC 3339) instead of now")
	f.DurationVar(&o.indexInterval, "index-interval", repo.DefaultIndexInterval, "write an index file at least every `duration` of upload, so a killed backup resumes")
	f.BoolVar(&o.skipIfUnchanged, "skip-if-unchanged", false, "write no snapshot when nothing changed since the parent snapshot")
	return cmd
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid --time %q: want \"2006-01-02 15:04:05\" or RFC 3339", s)
}

// backupSources checks the flags and returns the paths to back up.
func (o *backupOptions) sources(args []string) ([]string, error) {
	listed, err := job.ReadFilesFrom(o.filesFrom, false)
	if err != nil {
		return nil, err
	}
	raw, err := job.ReadFilesFrom(o.filesFromRaw, true)
	if err != nil {
		return nil, err
	}
	paths := append(append(append([]string{}, args...), listed...), raw...)
	if o.stdin {
		if len(paths) > 0 {
			return nil, errors.New("backup: --stdin takes no paths")
		}
		return nil, nil
	}
	if len(paths) == 0 {
		return nil, &exitError{code: exitFatal, err: errors.New("backup: nothing to back up"),
			hint: "give paths, --files-from FILE or --stdin"}
	}
	if o.full && o.differential {
		return nil, errors.New("backup: --full and --differential exclude each other")
	}
	return paths, job.CheckSources(paths)
}

func (o *backupOptions) kind() snapshot.Kind {
	switch {
	case o.full:
		return snapshot.Full
	case o.differential:
		return snapshot.Differential
	}
	return snapshot.Incremental
}

func runBackup(cmd *cobra.Command, g *globalOptions, o backupOptions, args []string) error {
	ctx := cmd.Context()
	paths, err := o.sources(args)
	if err != nil {
		return err
	}
	if o.indexInterval <= 0 {
		return fmt.Errorf("backup: invalid --index-interval %v: want a positive duration", o.indexInterval)
	}
	patterns, err := job.ReadPatternFiles(o.excludeFiles)
	if err != nil {
		return err
	}
	excl, err := snapshot.NewMatcher(append(append([]string{}, o.excludes...), patterns...), false)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	opts := archiver.Options{
		Paths: paths, Excludes: excl, OneFileSystem: o.oneFileSystem, Tags: o.tags, Hostname: o.host,
		IgnoreCtime: o.ignoreCtime, IgnoreInode: o.ignoreInode, Rescan: o.rescan,
		ExcludeCaches: o.excludeCaches, ExcludeIfPresent: o.excludeIfPresent, Program: "cairn " + version,
		SkipIfUnchanged: o.skipIfUnchanged,
	}
	if o.excludeLargerThan != "" {
		if opts.ExcludeLargerThan, err = job.ParseSize(o.excludeLargerThan); err != nil {
			return fmt.Errorf("backup --exclude-larger-than: %w", err)
		}
	}
	if o.time != "" {
		if opts.Time, err = parseTime(o.time); err != nil {
			return err
		}
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	abs := job.AbsPaths(paths)
	if o.stdin {
		opts.Stdin, opts.StdinFilename = g.env.Stdin, o.stdinFilename
		abs = []string{"/" + o.stdinFilename}
	}
	// The session drops the index entries of packs that are gone, so
	// their data is stored again and the new snapshot is complete.
	return g.withSession(ctx, writing("backup").dryRunning(o.dryRun),
		func(ctx context.Context, s *repo.Session) error {
			return backupInSession(ctx, g, o, s, opts, abs)
		})
}

func backupInSession(ctx context.Context, g *globalOptions, o backupOptions, s *repo.Session, opts archiver.Options, abs []string) error {
	var mu sync.Mutex
	opts.OnError = func(p string, err error) {
		mu.Lock()
		defer mu.Unlock()
		g.clearProgress()
		if g.json {
			g.stderrJSON(backupError{MessageType: "error", Error: jsonMessage{err.Error()}, During: "archival", Item: p})
			return
		}
		g.warnf("warning: %s: %v\n", p, err)
	}
	req := job.BackupRequest{Options: opts, Kind: o.kind(), Parent: o.parent, Sources: abs, OnUnreadable: g.warnUnreadable,
		IndexInterval: o.indexInterval,
		OnAdopted: func(a repo.Adopted) {
			if g.verbose > 0 && !g.json {
				g.printf("took over %d packs (%d blobs, %s) an interrupted backup uploaded\n", a.Packs, a.Blobs, formatBytes(a.Bytes))
			}
		},
		OnPlan: func(plan archiver.Plan) {
			if plan.Fallback != "" {
				g.warnf("note: %s\n", plan.Fallback)
			}
			if g.verbose > 0 && !g.json && plan.Parent != nil {
				g.printf("using parent snapshot %s\n", plan.Parent.ID().Short())
			}
		}}
	stop := g.startProgress(&req.Options)
	sn, err := job.Backup(ctx, s, req)
	stop()
	if sn != nil {
		printBackupSummary(g, sn, o.dryRun)
	}
	return err
}

// backupError is one source file or directory that could not be backed
// up (or restored), as a line on stderr under --json (restic's "error"
// message).
type backupError struct {
	MessageType string      `json:"message_type"`
	Error       jsonMessage `json:"error"`
	During      string      `json:"during"`
	Item        string      `json:"item"`
}

type jsonMessage struct {
	Message string `json:"message"`
}

func printBackupSummary(g *globalOptions, sn *snapshot.Snapshot, dryRun bool) {
	s := sn.Summary
	if g.json {
		_ = jsonOut(g, job.SummaryOf(sn, dryRun))
		return
	}
	g.printf("Files:       %d new, %d changed, %d unmodified\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	g.printf("Dirs:        %d new, %d changed, %d unmodified\n", s.DirsNew, s.DirsChanged, s.DirsUnmodified)
	g.printf("Read:        %s\n", formatBytes(s.BytesRead))
	g.printf("Added:       %s (%s stored)\n", formatBytes(s.BytesAdded), formatBytes(s.BytesStored))
	g.printf("Processed:   %d files, %s in %s\n", s.TotalFiles, formatBytes(s.TotalBytes), formatDuration(s.Duration))
	switch {
	case s.Skipped && dryRun:
		g.printf("dry run: no changes since snapshot %s, no snapshot would be written\n", sn.Parent.Short())
		return
	case s.Skipped:
		g.printf("no changes since snapshot %s, no snapshot written\n", sn.Parent.Short())
		return
	case dryRun:
		g.printf("dry run: nothing was stored (%s backup, generation %s)\n", sn.Kind, sn.Generation.Short())
		return
	}
	g.printf("snapshot %s saved (%s, generation %s)\n", sn.ID().Short(), sn.Kind, sn.Generation.Short())
}

func formatDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
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
