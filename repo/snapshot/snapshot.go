package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
)

// Kind is the kind of backup a snapshot was made by.
type Kind string

// Snapshot kinds (DESIGN.md section 1).
const (
	Full         Kind = "full"
	Differential Kind = "differential"
	Incremental  Kind = "incremental"
)

// Summary records what a backup did.
type Summary struct {
	FilesNew        int64         `json:"files_new"`
	FilesChanged    int64         `json:"files_changed"`
	FilesUnmodified int64         `json:"files_unmodified"`
	DirsNew         int64         `json:"dirs_new"`
	DirsChanged     int64         `json:"dirs_changed"`
	DirsUnmodified  int64         `json:"dirs_unmodified"`
	BytesRead       int64         `json:"bytes_read"`
	BytesAdded      int64         `json:"bytes_added"`
	BytesStored     int64         `json:"bytes_added_stored"`
	BlobsAdded      int64         `json:"blobs_added"`
	TotalFiles      int64         `json:"total_files"`
	TotalBytes      int64         `json:"total_bytes"`
	Errors          int64         `json:"errors"`
	Duration        time.Duration `json:"duration_ns"`
	// Repaired lists the paths `repair snapshots` cut damage out of.
	Repaired []string `json:"repaired,omitempty"`
	// Skipped says the backup wrote no snapshot: its tree and paths are
	// its parent's (archiver.Options.SkipIfUnchanged). A stored snapshot
	// never has it set.
	Skipped bool `json:"skipped,omitempty"`
}

// Snapshot is the record of one backup.
type Snapshot struct {
	Time       time.Time       `json:"time"`
	Tree       pack.ID         `json:"tree"`
	Paths      []string        `json:"paths"`
	Hostname   string          `json:"hostname"`
	Username   string          `json:"username,omitempty"`
	UID        uint32          `json:"uid,omitempty"`
	GID        uint32          `json:"gid,omitempty"`
	Tags       []string        `json:"tags,omitempty"`
	Excludes   []string        `json:"excludes,omitempty"`
	Kind       Kind            `json:"kind"`
	Parent     *pack.ID        `json:"parent,omitempty"`
	Generation pack.Generation `json:"generation"`
	Summary    *Summary        `json:"summary,omitempty"`
	Program    string          `json:"program_version,omitempty"`
	// Original is the ID of the snapshot this one rewrites (e.g. `tag`).
	Original *pack.ID `json:"original,omitempty"`
	// GenerationFullTime is when the full backup that started this
	// snapshot's generation was made, LastDifferentialTime when the
	// newest differential backup it builds on was (unset for a full one,
	// or when unknown). Schedules read them after retention removed those
	// snapshots.
	GenerationFullTime   *time.Time `json:"generation_full_time,omitempty"`
	LastDifferentialTime *time.Time `json:"last_differential_time,omitempty"`

	id pack.ID
}

// FullTime returns when the full backup of sn's generation was made (zero:
// unknown).
func (sn *Snapshot) FullTime() time.Time {
	if sn.Kind == Full {
		return sn.Time
	}
	if sn.GenerationFullTime != nil {
		return *sn.GenerationFullTime
	}
	return time.Time{}
}

// DiffTime returns when the newest differential backup sn builds on (or
// is) was made (zero: none).
func (sn *Snapshot) DiffTime() time.Time {
	if sn.Kind == Differential {
		return sn.Time
	}
	if sn.LastDifferentialTime != nil {
		return *sn.LastDifferentialTime
	}
	return time.Time{}
}

// ID returns the snapshot's ID (zero until saved or loaded).
func (sn *Snapshot) ID() pack.ID { return sn.id }

// Save stores sn and sets its ID. Call it only after repo.Flush succeeded.
func Save(ctx context.Context, r Files, sn *Snapshot) error {
	b, err := json.Marshal(sn)
	if err != nil {
		return err
	}
	id, err := r.SaveUnpacked(ctx, backend.SnapshotFile, b)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	sn.id = id
	return nil
}

// Load reads snapshot id.
func Load(ctx context.Context, r Files, id pack.ID) (*Snapshot, error) {
	b, err := r.LoadUnpacked(ctx, backend.SnapshotFile, id)
	if err != nil {
		return nil, fmt.Errorf("load snapshot %s: %w", id.Short(), err)
	}
	sn, err := DecodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w: %w", id.Short(), repo.ErrDamaged, err)
	}
	sn.id = id
	return sn, nil
}

// UnreadableError names the snapshot files that could not be read.
type UnreadableError struct {
	IDs  []pack.ID
	Errs []error
}

func (e *UnreadableError) Error() string {
	if len(e.Errs) == 1 {
		return e.Errs[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d snapshots can't be read: ", len(e.Errs))
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *UnreadableError) Unwrap() []error { return e.Errs }

// LoadAll reads every snapshot, sorted by time. It returns all of them or
// none: if any snapshot can't be read the error (an *UnreadableError)
// names each one, so no caller can take the readable ones for all.
func LoadAll(ctx context.Context, r Files) ([]*Snapshot, error) {
	sns, bad, err := LoadReadable(ctx, r)
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	return sns, nil
}

// LoadReadable reads every snapshot concurrently, sorted by time, and
// names those that could not be read (nil when all could); err is set
// only when the snapshots could not be listed or the work was cancelled.
// Callers that go on with the readable ones must say which were not.
func LoadReadable(ctx context.Context, r Files) ([]*Snapshot, *UnreadableError, error) {
	ids, err := r.List(ctx, backend.SnapshotFile)
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots: %w", err)
	}
	var (
		mu  sync.Mutex
		out []*Snapshot
		bad []struct {
			id  pack.ID
			err error
		}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, id := range ids {
		g.Go(func() error {
			sn, err := Load(gctx, r, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				bad = append(bad, struct {
					id  pack.ID
					err error
				}{id, err})
				return nil
			}
			out = append(out, sn)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(out, func(a, b *Snapshot) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.id.String(), b.id.String())
	})
	if len(bad) == 0 {
		return out, nil, nil
	}
	slices.SortFunc(bad, func(a, b struct {
		id  pack.ID
		err error
	}) int {
		return strings.Compare(a.id.String(), b.id.String())
	})
	ue := &UnreadableError{}
	for _, b := range bad {
		ue.IDs = append(ue.IDs, b.id)
		ue.Errs = append(ue.Errs, b.err)
	}
	return out, ue, nil
}

// Filter selects snapshots by host, tag and path.
type Filter struct {
	Hosts []string
	Tags  []string
	Paths []string
}

// Match reports whether sn passes f.
func (f Filter) Match(sn *Snapshot) bool {
	if len(f.Hosts) > 0 && !slices.Contains(f.Hosts, sn.Hostname) {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(sn.Tags, t) {
			return false
		}
	}
	if len(f.Paths) > 0 && !samePaths(f.Paths, sn.Paths) {
		return false
	}
	return true
}

func samePaths(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Find resolves a snapshot reference: "latest" (newest matching f), a full
// ID or a unique ID prefix.
func Find(ctx context.Context, r Files, ref string, f Filter) (*Snapshot, error) {
	if ref == "latest" {
		// An unreadable snapshot may be the newest: latest is then
		// unknown, and an older one must not be taken for it.
		sns, err := LoadAll(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("find snapshot latest: %w", err)
		}
		for i := len(sns) - 1; i >= 0; i-- {
			if f.Match(sns[i]) {
				return sns[i], nil
			}
		}
		return nil, fmt.Errorf("find snapshot latest: no matching snapshot: %w", fs.ErrNotExist)
	}
	if ref == "" || strings.Trim(ref, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("invalid snapshot reference %q: want an ID, an ID prefix or latest", ref)
	}
	id, err := r.FindID(ctx, backend.SnapshotFile, ref)
	if err != nil {
		return nil, fmt.Errorf("find snapshot %s: %w", ref, err)
	}
	return Load(ctx, r, id)
}

// SplitRef splits "ID:path" into the snapshot reference and the path.
func SplitRef(s string) (ref, p string) {
	ref, p, _ = strings.Cut(s, ":")
	return ref, p
}

// FindNode walks from tree root to the slash-separated path p and returns
// the node there (a synthetic dir node for the root) and the path's
// cleaned form.
func FindNode(ctx context.Context, r BlobLoader, root pack.ID, p string) (*Node, string, error) {
	p = path.Clean("/" + p)
	rootID := root
	node := &Node{Name: "", Type: TypeDir, Mode: fs.ModeDir | 0o755, Subtree: &rootID}
	if p == "/" {
		return node, p, nil
	}
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if node.Type != TypeDir {
			return nil, p, fmt.Errorf("path %s: %q is not a directory", p, node.Name)
		}
		t, err := LoadTree(ctx, r, *node.Subtree)
		if err != nil {
			return nil, p, err
		}
		next := t.Find(part)
		if next == nil {
			return nil, p, fmt.Errorf("path %s: %w", p, fs.ErrNotExist)
		}
		node = next
	}
	return node, p, nil
}

// DecodeSnapshot parses the JSON of a snapshot file and checks it.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	var sn Snapshot
	if err := json.Unmarshal(b, &sn); err != nil {
		return nil, err
	}
	switch sn.Kind {
	case Full, Differential, Incremental:
	default:
		return nil, fmt.Errorf("unknown snapshot kind %q", sn.Kind)
	}
	if sn.Tree.IsNull() {
		return nil, errors.New("snapshot has no tree")
	}
	return &sn, nil
}

// Retag rewrites sn with its tags changed: set replaces them (when not
// nil), then add and remove apply. The new snapshot records the ID it
// replaces; the old file is removed after the new one is stored. It
// returns the new snapshot, or sn itself when nothing changed.
func Retag(ctx context.Context, r Files, sn *Snapshot, set, add, remove []string) (*Snapshot, bool, error) {
	tags := slices.Clone(sn.Tags)
	if set != nil {
		tags = slices.Clone(set)
	}
	for _, t := range add {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(remove, t) })
	tags = slices.DeleteFunc(tags, func(t string) bool { return t == "" })
	if slices.Equal(tags, sn.Tags) {
		return sn, false, nil
	}
	ns := *sn
	ns.Tags = tags
	orig := sn.ID()
	if sn.Original != nil {
		orig = *sn.Original
	}
	ns.Original = &orig
	if err := Save(ctx, r, &ns); err != nil {
		return nil, false, err
	}
	if err := r.RemoveFile(ctx, backend.Handle{Type: backend.SnapshotFile, Name: sn.ID().String()}); err != nil {
		return &ns, true, fmt.Errorf("remove old snapshot %s: %w", sn.ID().Short(), err)
	}
	return &ns, true, nil
}

// Files is what reading, writing and removing snapshot files needs of a
// repository.
type Files interface {
	SaveUnpacked(ctx context.Context, t backend.FileType, plaintext []byte) (pack.ID, error)
	LoadUnpacked(ctx context.Context, t backend.FileType, id pack.ID) ([]byte, error)
	List(ctx context.Context, t backend.FileType) ([]pack.ID, error)
	FindID(ctx context.Context, t backend.FileType, prefix string) (pack.ID, error)
	RemoveFile(ctx context.Context, h backend.Handle) error
}
