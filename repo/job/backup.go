package job

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// BackupRequest is one backup: what the archiver reads, and what the
// snapshot is based on.
type BackupRequest struct {
	// Options are the archiver's; Backup sets Kind, Parent, Generation
	// and BeforeSnapshot.
	Options archiver.Options
	// Kind is the kind asked for (the plan may fall back, e.g. a
	// differential without a full snapshot becomes full).
	Kind snapshot.Kind
	// Parent names an explicit change-detection base ("": chosen).
	Parent string
	// Sources are the absolute paths the snapshot is recorded with.
	Sources []string
	// OnUnreadable is told of snapshots left out of the choice of a
	// parent because they can't be read.
	OnUnreadable func(*snapshot.UnreadableError)
	// OnPlan is told what the backup is based on before it starts.
	OnPlan func(archiver.Plan)
	// IndexInterval is how long the backup uploads at most before it
	// writes an index file, so a backup killed and run again uploads
	// little twice (0: repo.DefaultIndexInterval).
	IndexInterval time.Duration
	// OnAdopted is told of the packs of an interrupted backup (written,
	// never indexed) this one took over instead of uploading them again.
	OnAdopted func(repo.Adopted)
}

// Backup makes a snapshot in the session s (a shared lock with the
// index loaded): it picks the parent and generation for the kind, runs
// the archiver and checks the lock before the snapshot is written. A
// backup with unreadable files returns its snapshot and an error
// wrapping ErrPartial. With Options.SkipIfUnchanged a backup that found
// nothing changed since its parent returns the snapshot it did not write
// (Summary.Skipped set).
func Backup(ctx context.Context, s *repo.Session, req BackupRequest) (*snapshot.Snapshot, error) {
	r := s.Repository()
	var explicit *snapshot.Snapshot
	var err error
	if req.Parent != "" {
		if explicit, err = snapshot.Find(ctx, r, req.Parent, snapshot.Filter{}); err != nil {
			return nil, err
		}
	}
	var sns []*snapshot.Snapshot
	if req.Parent == "" && req.Kind != snapshot.Full {
		var bad *snapshot.UnreadableError
		if sns, bad, err = snapshot.LoadReadable(ctx, r); err != nil {
			return nil, err
		}
		if bad != nil && req.OnUnreadable != nil {
			req.OnUnreadable(bad)
		}
	}
	plan, err := archiver.PlanKind(sns, req.Kind, req.Options.Hostname, req.Sources, explicit)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if req.OnPlan != nil {
		req.OnPlan(plan)
	}
	opts := req.Options
	opts.Kind, opts.Parent, opts.Generation = plan.Kind, plan.Parent, plan.Generation
	opts.BeforeSnapshot = s.Check
	if req.IndexInterval > 0 {
		r.SetIndexInterval(req.IndexInterval)
	}
	// A full backup starts a new generation, which no pack written
	// before holds.
	if plan.Kind != snapshot.Full {
		adopted, err := s.AdoptPacks(ctx)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		if adopted.Packs > 0 && req.OnAdopted != nil {
			req.OnAdopted(adopted)
		}
	}
	sn, err := archiver.Run(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	if sn.Summary.Errors > 0 {
		what := "snapshot " + sn.ID().Short() + " saved"
		switch {
		case sn.Summary.Skipped:
			what = "no snapshot written (no changes since snapshot " + sn.Parent.Short() + ")"
		case r.DryRun():
			what = "dry run finished"
		}
		return sn, fmt.Errorf("%s, but %d files could not be read: %w", what, sn.Summary.Errors, ErrPartial)
	}
	return sn, nil
}

// BackupSummary is the documented JSON summary of a backup (README): the
// last line of `backup --json` and the snapshot of a run's report.
type BackupSummary struct {
	MessageType string `json:"message_type"`
	*snapshot.Summary
	SnapshotID string `json:"snapshot_id,omitempty"`
	Kind       string `json:"kind"`
	Parent     string `json:"parent,omitempty"`
	Generation string `json:"generation"`
	DryRun     bool   `json:"dry_run,omitempty"`
}

// SummaryOf returns the summary of the backup that made sn. A skipped
// backup has no snapshot ID; "skipped" is true and "parent" names the
// snapshot nothing changed since.
func SummaryOf(sn *snapshot.Snapshot, dryRun bool) BackupSummary {
	s := BackupSummary{MessageType: "summary", Summary: sn.Summary, Kind: string(sn.Kind), Generation: sn.Generation.String(), DryRun: dryRun}
	if !dryRun && !sn.Summary.Skipped {
		s.SnapshotID = sn.ID().String()
	}
	if sn.Parent != nil {
		s.Parent = sn.Parent.String()
	}
	return s
}

// ProfileBackup returns the archiver options, the absolute source paths
// and the exclusions a profile gives a backup.
func ProfileBackup(p *profile.Profile, host string) (archiver.Options, []string, error) {
	opts := archiver.Options{Paths: p.Sources, Tags: p.Tags, Hostname: p.Host, ExcludeCaches: p.ExcludeCaches,
		ExcludeIfPresent: p.ExcludeIfPresent, SkipIfUnchanged: p.SkipIfUnchanged}
	if opts.Hostname == "" {
		opts.Hostname = host
	}
	if err := CheckSources(p.Sources); err != nil {
		return opts, nil, err
	}
	patterns, err := ReadPatternFiles(p.ExcludeFile)
	if err != nil {
		return opts, nil, err
	}
	if opts.Excludes, err = snapshot.NewMatcher(append(append([]string{}, p.Exclude...), patterns...), false); err != nil {
		return opts, nil, fmt.Errorf("backup: %w", err)
	}
	if p.ExcludeLargerThan != "" {
		if opts.ExcludeLargerThan, err = ParseSize(p.ExcludeLargerThan); err != nil {
			return opts, nil, fmt.Errorf("backup exclude-larger-than: %w", err)
		}
	}
	return opts, AbsPaths(p.Sources), nil
}

// CheckSources returns an error when none of paths can be backed up
// because each is missing or can't be looked at, naming the first. Some
// missing ones (an unmounted disk) are the archiver's to report: the
// others are backed up and the backup is partial.
func CheckSources(paths []string) error {
	var first error
	for _, p := range paths {
		_, err := os.Lstat(p)
		if err == nil {
			return nil
		}
		if first == nil {
			if errors.Is(err, fs.ErrNotExist) {
				first = fmt.Errorf("backup source %s: does not exist", p)
			} else {
				first = fmt.Errorf("backup source %s: %w", p, err)
			}
		}
	}
	if first != nil && len(paths) > 1 {
		return fmt.Errorf("%w; none of the %d sources exists", first, len(paths))
	}
	return first
}

// AbsPaths returns the absolute forms of paths, as snapshots record them.
func AbsPaths(paths []string) []string {
	abs := make([]string, len(paths))
	for i, p := range paths {
		if a, err := filepath.Abs(p); err == nil {
			abs[i] = a
		} else {
			abs[i] = p
		}
	}
	return abs
}

// ReadFilesFrom returns the paths listed in files (lines, or NUL-separated
// with raw); empty lines and, in line mode, # comments are skipped.
func ReadFilesFrom(files []string, raw bool) ([]string, error) {
	var out []string
	for _, name := range files {
		var b []byte
		var err error
		if name == "-" {
			err = errors.New("reading the list from standard input is not supported with this flag; pass a file")
		} else {
			b, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, fmt.Errorf("read --files-from %s: %w", name, err)
		}
		sep := "\n"
		if raw {
			sep = "\x00"
		}
		for _, line := range strings.Split(string(b), sep) {
			if !raw {
				line = strings.TrimRight(line, "\r")
				if strings.HasPrefix(strings.TrimSpace(line), "#") {
					continue
				}
			}
			if line != "" {
				out = append(out, line)
			}
		}
	}
	return out, nil
}

// ReadPatternFiles returns the exclude patterns of files: one per line,
// blank lines and # comments skipped.
func ReadPatternFiles(files []string) ([]string, error) {
	var out []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read exclude file %s: %w", name, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
		}
	}
	return out, nil
}

// ParseSize parses "123", "10k", "500M", "2G", "1T" (powers of 1024).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty size")
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	case "B":
		mult = 1
	default:
		if s[len(s)-1] < '0' || s[len(s)-1] > '9' {
			return 0, fmt.Errorf("invalid size %q: want a number with an optional K, M, G or T", s)
		}
		s += "B"
	}
	n, err := strconv.ParseFloat(s[:len(s)-1], 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional K, M, G or T", s)
	}
	return int64(n * float64(mult)), nil
}
