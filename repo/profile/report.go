package profile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Step statuses.
const (
	StepOK      = "ok"
	StepPartial = "partial"
	StepFailed  = "failed"
	StepSkipped = "skipped"
)

// Step is one step of a run in its report.
type Step struct {
	Name     string         `json:"name"`
	Status   string         `json:"status"`
	ExitCode int            `json:"exit_code"`
	Start    time.Time      `json:"start"`
	Duration float64        `json:"duration_seconds"`
	Figures  map[string]any `json:"figures,omitempty"`
	Error    string         `json:"error,omitempty"`
	// Output is a hook's output: its last 4 KiB, after a line saying how
	// much was cut before them.
	Output string `json:"output,omitempty"`
}

// Report is the record of one `cairn run` (README documents its schema).
type Report struct {
	Profile  string          `json:"profile"`
	RunID    string          `json:"run_id"`
	Start    time.Time       `json:"start"`
	End      time.Time       `json:"end"`
	Status   string          `json:"status"` // success, partial, failure
	ExitCode int             `json:"exit_code"`
	Level    string          `json:"level"`
	Snapshot json.RawMessage `json:"snapshot"` // the backup summary, or null
	Steps    []Step          `json:"steps"`
	Errors   []string        `json:"errors"`
}

// Step returns the step called name, or nil.
func (r *Report) Step(name string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// Severity orders exit codes (DESIGN.md §4) from harmless to worst: a
// partial backup (3) is better than a fatal error (1).
func Severity(code int) int {
	switch code {
	case 0:
		return 0
	case 3:
		return 1
	}
	return code + 1
}

// AppendReport appends r as one JSON line to path (made if missing).
func AppendReport(path string, r *Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("report file %s: %w", path, err)
	}
	// A report made readable by others before is closed again.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("report file %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("report file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("report file %s: %w", path, err)
	}
	return f.Close()
}

// CheckRun records which share of the packs a run read.
type CheckRun struct {
	Time time.Time `json:"time"`
	Part int       `json:"part"`
	Of   int       `json:"of"`
}

// State is what cairn keeps between runs of a profile on this machine.
type State struct {
	LastRun     *Report    `json:"last_run,omitempty"`
	LastSuccess time.Time  `json:"last_success,omitzero"`
	LastPrune   time.Time  `json:"last_prune,omitzero"`
	Checks      []CheckRun `json:"checks,omitempty"`
}

// ErrNoStateDir is returned by StateDir when the environment names no
// place for run state (cron or a systemd service without User= and
// StateDirectory= give no HOME).
var ErrNoStateDir = errors.New("profile: no directory for run state: set CAIRN_STATE_DIR, STATE_DIRECTORY (systemd's StateDirectory=), XDG_STATE_HOME or HOME")

// StateDir returns where run state lives: $CAIRN_STATE_DIR, else the
// first of systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME/cairn, else
// ~/.local/state/cairn. Without any of them it fails rather than guess a
// shared directory such as /tmp, where another user could plant or read
// the state.
func StateDir(getenv func(string) string) (string, error) {
	if d := getenv("CAIRN_STATE_DIR"); d != "" {
		return d, nil
	}
	if d, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "cairn"), nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "cairn"), nil
	}
	return "", ErrNoStateDir
}

// StateKey names the state and run lock of profile name of the
// configuration file config: the name and a hash of the file's absolute
// path, so two configuration files with a profile of the same name keep
// their runs, prunes and check rotations apart.
func StateKey(config, name string) string {
	if abs, err := filepath.Abs(config); err == nil {
		config = abs
	}
	sum := sha256.Sum256([]byte(config))
	return name + "-" + hex.EncodeToString(sum[:8])
}

// AdoptLegacyState renames the state an older cairn kept under the
// profile's name alone (name.json) to key, unless key has state already.
// The first configuration file to run a profile of that name after the
// upgrade takes it over; any other starts afresh, as it should have.
func AdoptLegacyState(dir, name, key string) error {
	legacy, p := filepath.Join(dir, name+".json"), filepath.Join(dir, key+".json")
	if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.Rename(legacy, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("run state %s: %w", legacy, err)
	}
	return nil
}

// LoadState reads the state kept under key (empty if there is none yet).
func LoadState(dir, key string) (*State, error) {
	p := filepath.Join(dir, key+".json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("run state %s: %w", p, err)
	}
	return &st, nil
}

// SaveState writes the state kept under key atomically.
func SaveState(dir, key string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(dir, key+".json")
	if err := writeAtomic(p, b); err != nil {
		return fmt.Errorf("run state %s: %w", p, err)
	}
	return nil
}

// writeAtomic replaces path with b, mode 0600 (os.CreateTemp's).
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	f.Close()
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// RunLock is the local lock that keeps two runs of a profile apart.
type RunLock struct{ f *os.File }

// Holder describes the run holding a run lock.
type Holder struct {
	RunID string    `json:"run_id"`
	PID   int       `json:"pid"`
	Start time.Time `json:"start"`
}

// ErrRunning is returned by LockRun when another run holds the lock.
var ErrRunning = errors.New("another run of this profile is in progress")

// LockRun takes the run lock kept under key (see StateKey; flock,
// released when the process ends, however it ends).
func LockRun(dir, key string, h Holder) (*RunLock, error) {
	name := key
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	p := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if err := tryLockFile(f); err != nil {
		b, _ := os.ReadFile(p)
		f.Close()
		var other Holder
		if json.Unmarshal(bytes.TrimSpace(b), &other) == nil && other.RunID != "" {
			return nil, fmt.Errorf("profile %s: %w: run %s (pid %d, started %s) holds %s", name, ErrRunning,
				other.RunID, other.PID, other.Start.Format(time.RFC3339), p)
		}
		return nil, fmt.Errorf("profile %s: %w (%s is locked)", name, ErrRunning, p)
	}
	b, _ := json.Marshal(h)
	_ = f.Truncate(0)
	_, _ = f.WriteAt(append(b, '\n'), 0)
	return &RunLock{f: f}, nil
}

// Unlock releases the lock.
func (l *RunLock) Unlock() error {
	_ = l.f.Truncate(0)
	return l.f.Close()
}

// Metrics are the figures of a run written for Prometheus.
type Metrics struct {
	Profile          string
	Status           int // exit code of the run
	LastRun          time.Time
	LastSuccess      time.Time
	BackupDuration   float64
	BackupBytesAdded float64
	BackupFiles      float64
	Snapshots        map[string]int // by kind
	NewestSnapshot   time.Time
	RepositorySize   float64
	CheckErrors      float64
	Steps            []Step
}

// WriteMetrics writes m in the Prometheus text format to path, atomically
// (for node_exporter's textfile collector).
func WriteMetrics(path string, m Metrics) error {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"profile": m.Profile}
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		reg.MustRegister(g)
	}
	ts := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	gauge("cairn_run_status", "Exit code of the last run (0 success, 3 partial, others failed).", float64(m.Status))
	gauge("cairn_last_run_timestamp_seconds", "When the last run ended.", ts(m.LastRun))
	gauge("cairn_last_success_timestamp_seconds", "When the last successful run ended.", ts(m.LastSuccess))
	gauge("cairn_backup_duration_seconds", "Duration of the last run's backup.", m.BackupDuration)
	gauge("cairn_backup_bytes_added", "Bytes the last backup added to the repository (before compression).", m.BackupBytesAdded)
	gauge("cairn_backup_files", "Files in the last backup's snapshot.", m.BackupFiles)
	gauge("cairn_newest_snapshot_timestamp_seconds", "Time of the profile's newest snapshot.", ts(m.NewestSnapshot))
	gauge("cairn_repository_size_bytes", "Size of the repository's files.", m.RepositorySize)
	gauge("cairn_check_errors", "Problems the last run's check found.", m.CheckErrors)
	kinds := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_snapshots", Help: "Snapshots of the profile by kind.", ConstLabels: labels}, []string{"kind"})
	for _, k := range []string{"full", "differential", "incremental"} {
		kinds.WithLabelValues(k).Set(float64(m.Snapshots[k]))
	}
	reg.MustRegister(kinds)
	steps := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_step_status", Help: "Exit code of each step of the last run (-1: skipped).", ConstLabels: labels}, []string{"step"})
	for _, s := range m.Steps {
		v := float64(s.ExitCode)
		if s.Status == StepSkipped {
			v = -1
		}
		steps.WithLabelValues(s.Name).Set(v)
	}
	reg.MustRegister(steps)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	// Gathered and written here rather than with WriteToTextfile, which
	// leaves the file readable by everyone: metrics are 0600 like the
	// report and the state (node_exporter reads them as the same user, or
	// the admin loosens the directory).
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return fmt.Errorf("metrics file %s: %w", path, err)
		}
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	return nil
}

// StatusOf names a run's result by its exit code.
func StatusOf(code int) string {
	switch code {
	case 0:
		return "success"
	case 3:
		return "partial"
	}
	return "failure"
}
