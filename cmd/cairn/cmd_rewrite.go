package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/rewriter"
	"github.com/cairn-backup/cairn/repo/termsafe"
)

type rewriteOptions struct {
	filterOptions
	excludes, excludeFiles   []string
	iexcludes, iexcludeFiles []string
	forget, dryRun           bool
	newHost, newTime         string
}

// rewriteResult is the JSON shape of `rewrite`.
type rewriteResult struct {
	DryRun       bool                `json:"dry_run"`
	Rewritten    int                 `json:"rewritten"`
	Unchanged    int                 `json:"unchanged"`
	RemovedPaths int                 `json:"removed_paths"`
	Snapshots    []rewrittenSnapshot `json:"snapshots"`
}

type rewrittenSnapshot struct {
	Snapshot    string   `json:"snapshot"`
	NewSnapshot *string  `json:"new_snapshot"`
	Rewritten   bool     `json:"rewritten"`
	Empty       bool     `json:"empty,omitempty"`
	Removed     []string `json:"removed"`
	Files       int64    `json:"removed_files"`
	Bytes       int64    `json:"removed_bytes"`
	Forgotten   bool     `json:"original_removed"`
}

func newRewriteCommand(g *globalOptions) *cobra.Command {
	var o rewriteOptions
	cmd := &cobra.Command{
		Use:   "rewrite [flags] [SNAPSHOT...]",
		Short: "Remove paths from existing snapshots, or change their host or time",
		Long: `Write a new version of each given snapshot (or of every snapshot the
filters select) without the paths that match the exclude patterns, which
are matched against the full path inside the snapshot as backup's are; a
pattern that matches a directory removes everything below it. The new
snapshot keeps the original's kind, time, host, paths, tags, generation
and parent, and records the original's ID. Snapshots without matching
paths are left alone, and so is a snapshot every path of which matches
(remove it with forget). --new-host and --new-time change the metadata
(a snapshot is then rewritten even without matching paths).

Only the trees on the way to a removed path are written again. The
originals stay until --forget removes them; the data only they use is
freed by prune. Of the summary, total_files and total_bytes are lowered
by the files removed; the other figures describe the original backup.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRewrite(cmd.Context(), g, &o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.excludes, "exclude", "e", nil, "remove paths matching `pattern` (repeatable)")
	f.StringArrayVar(&o.excludeFiles, "exclude-file", nil, "read exclude patterns from `file` (repeatable)")
	f.StringArrayVar(&o.iexcludes, "iexclude", nil, "like --exclude `pattern`, ignoring case")
	f.StringArrayVar(&o.iexcludeFiles, "iexclude-file", nil, "like --exclude-file `file`, ignoring case")
	f.BoolVar(&o.forget, "forget", false, "remove the original snapshots once the new ones are saved")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "list what would be removed, write nothing")
	f.StringVar(&o.newHost, "new-host", "", "set the host name to `name`")
	f.StringVar(&o.newTime, "new-time", "", "set the time to `time` (\"2006-01-02 15:04:05\" or RFC 3339)")
	o.filterOptions.addFlags(cmd)
	return cmd
}

// libOptions turns the flags into the library's options.
func (o *rewriteOptions) libOptions() (rewriter.Options, error) {
	pats, err := job.ReadPatternFiles(o.excludeFiles)
	if err != nil {
		return rewriter.Options{}, fmt.Errorf("rewrite: %w", err)
	}
	ipats, err := job.ReadPatternFiles(o.iexcludeFiles)
	if err != nil {
		return rewriter.Options{}, fmt.Errorf("rewrite: %w", err)
	}
	m, err := combineMatchers(append(append([]string{}, o.excludes...), pats...), append(append([]string{}, o.iexcludes...), ipats...))
	if err != nil {
		return rewriter.Options{}, fmt.Errorf("rewrite: %w", err)
	}
	opts := rewriter.Options{Excludes: m, NewHost: o.newHost, Forget: o.forget, DryRun: o.dryRun}
	if o.newTime != "" {
		if opts.NewTime, err = parseTime(o.newTime); err != nil {
			return opts, fmt.Errorf("rewrite: invalid --new-time %q: want \"2006-01-02 15:04:05\" or RFC 3339", o.newTime)
		}
	}
	return opts, nil
}

func runRewrite(ctx context.Context, g *globalOptions, o *rewriteOptions, args []string) error {
	opts, err := o.libOptions()
	if err != nil {
		return err
	}
	if opts.Excludes.Empty() && opts.NewHost == "" && opts.NewTime.IsZero() {
		return &exitError{code: exitFatal, err: rewriter.ErrNothingToDo,
			hint: "pass --exclude PATTERN, --exclude-file FILE, --new-host NAME or --new-time TIME"}
	}
	// Without --forget a rewrite only adds files: a shared lock, as
	// backup takes; removing the originals needs the exclusive one.
	need := writing("rewrite")
	if o.dryRun {
		need = reading("rewrite")
	} else if o.forget {
		need = exclusive("rewrite").indexed(true)
	}
	out := rewriteResult{DryRun: o.dryRun, Snapshots: []rewrittenSnapshot{}}
	err = g.withSession(ctx, need, func(ctx context.Context, s *repo.Session) error {
		r := s.Repository()
		sns, err := g.selectSnapshots(ctx, r, args, o.filter())
		if err != nil {
			return err
		}
		_, err = rewriter.Run(ctx, r, sns, opts, func(res rewriter.Result) error {
			v := rewrittenView(res)
			out.Snapshots = append(out.Snapshots, v)
			if res.Rewritten {
				out.Rewritten++
				out.RemovedPaths += len(res.Removed.Paths)
			} else {
				out.Unchanged++
			}
			writeRewritten(g, res, o.dryRun)
			return nil
		})
		return err
	})
	if err != nil {
		return err
	}
	if g.json {
		return jsonOut(g, out)
	}
	if o.dryRun {
		g.printf("dry run: would rewrite %d snapshots (removing %d paths), %d left alone\n", out.Rewritten, out.RemovedPaths, out.Unchanged)
	} else {
		g.printf("rewrote %d snapshots (%d paths removed), %d left alone\n", out.Rewritten, out.RemovedPaths, out.Unchanged)
	}
	return nil
}

func rewrittenView(res rewriter.Result) rewrittenSnapshot {
	v := rewrittenSnapshot{Snapshot: res.Snapshot.String(), Rewritten: res.Rewritten, Empty: res.Empty,
		Removed: res.Removed.Paths, Files: res.Removed.Files, Bytes: res.Removed.Bytes, Forgotten: res.Forgotten}
	if v.Removed == nil {
		v.Removed = []string{}
	}
	if res.NewSnapshot != (pack.ID{}) {
		id := res.NewSnapshot.String()
		v.NewSnapshot = &id
	}
	return v
}

// writeRewritten prints what was done with one snapshot.
func writeRewritten(g *globalOptions, res rewriter.Result, dryRun bool) {
	id := res.Snapshot.Short()
	switch {
	case res.Empty:
		g.printf("snapshot %s: every path matches; left alone (remove it with `cairn forget %s`)\n", id, id)
		return
	case !res.Rewritten:
		g.printf("snapshot %s: nothing to change; left alone\n", id)
		return
	case dryRun:
		g.printf("snapshot %s: would remove %d paths (%d files, %s)\n", id, len(res.Removed.Paths), res.Removed.Files, formatBytes(res.Removed.Bytes))
	default:
		g.printf("snapshot %s -> %s: removed %d paths (%d files, %s)\n", id, res.NewSnapshot.Short(),
			len(res.Removed.Paths), res.Removed.Files, formatBytes(res.Removed.Bytes))
	}
	for _, p := range res.Removed.Paths {
		g.printf("  %s\n", termsafe.Name(p))
	}
	if res.Forgotten {
		g.printf("removed the original snapshot %s\n", id)
	}
}
