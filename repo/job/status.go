package job

import (
	"context"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/copier"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// ProfileStatus is the documented JSON shape of `cairn status`, one per
// profile.
type ProfileStatus struct {
	Profile     string                  `json:"profile"`
	Repository  string                  `json:"repository"`
	LastRun     *RunSummary             `json:"last_run"`
	LastSuccess *time.Time              `json:"last_success"`
	Newest      *time.Time              `json:"newest_snapshot"`
	AgeSeconds  *float64                `json:"newest_snapshot_age_seconds"`
	Snapshots   int                     `json:"snapshots"`
	Levels      map[string]*LevelStatus `json:"last_by_level"`
	Mirrors     []MirrorStatus          `json:"mirrors"`
	Verified    *VerifiedShare          `json:"verified"`
	Error       string                  `json:"error,omitempty"`
}

// RunSummary is the last run of a profile.
type RunSummary struct {
	RunID    string    `json:"run_id"`
	End      time.Time `json:"end"`
	Status   string    `json:"status"`
	ExitCode int       `json:"exit_code"`
	Level    string    `json:"level"`
}

// LevelStatus is the newest snapshot of a kind.
type LevelStatus struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// MirrorStatus is how many of the profile's snapshots a mirror lacks.
type MirrorStatus struct {
	Mirror  string `json:"mirror"`
	Missing int    `json:"missing"`
	Error   string `json:"error,omitempty"`
}

// VerifiedShare is how many parts of the check window the rotating check
// read within the window.
type VerifiedShare struct {
	Parts  int `json:"parts_read"`
	Of     int `json:"of"`
	Window int `json:"window_days"`
}

// StatusRequest is what a profile's status is made from.
type StatusRequest struct {
	Profile *profile.Profile
	// State is the profile's state on this machine (nil: none).
	State *profile.State
	Now   time.Time
	Host  string
	// Open opens the profile's repository; OpenMirror one of its
	// mirrors with the profile's mirror password.
	Open       func(ctx context.Context) (*repo.Repository, error)
	OpenMirror func(ctx context.Context, location string) (*repo.Repository, error)
}

// Status says how a profile's backups stand. What can't be read is said
// in the result's errors, never hidden.
func Status(ctx context.Context, req StatusRequest) ProfileStatus {
	p := req.Profile
	ps := ProfileStatus{Profile: p.Name, Repository: p.Repository, Levels: map[string]*LevelStatus{}, Mirrors: []MirrorStatus{}}
	if st := req.State; st != nil {
		if r := st.LastRun; r != nil {
			ps.LastRun = &RunSummary{RunID: r.RunID, End: r.End, Status: r.Status, ExitCode: r.ExitCode, Level: r.Level}
		}
		if !st.LastSuccess.IsZero() {
			t := st.LastSuccess
			ps.LastSuccess = &t
		}
		ps.Verified = Verified(st, p.CheckWindow, req.Now)
	}
	r, err := req.Open(ctx)
	if err != nil {
		ps.Error = err.Error()
		return ps
	}
	sns, bad, err := snapshot.LoadReadable(ctx, r)
	if err != nil {
		ps.Error = err.Error()
		return ps
	}
	if bad != nil {
		// Said, not hidden: the newest snapshot may be one of them.
		ps.Error = bad.Error()
	}
	host, paths := Scope(p, req.Host)
	filter := snapshot.Filter{Hosts: []string{host}, Paths: paths}
	var mine []*snapshot.Snapshot
	for _, sn := range sns {
		if !filter.Match(sn) {
			continue
		}
		mine = append(mine, sn)
		if l := ps.Levels[string(sn.Kind)]; l == nil || sn.Time.After(l.Time) {
			ps.Levels[string(sn.Kind)] = &LevelStatus{ID: sn.ID().Short(), Time: sn.Time}
		}
		if ps.Newest == nil || sn.Time.After(*ps.Newest) {
			t := sn.Time
			ps.Newest = &t
		}
	}
	ps.Snapshots = len(mine)
	if ps.Newest != nil {
		age := req.Now.Sub(*ps.Newest).Seconds()
		ps.AgeSeconds = &age
	}
	for _, m := range p.Mirrors {
		ms := MirrorStatus{Mirror: m}
		_, missing, err := Lacking(ctx, req.OpenMirror, m, mine)
		ms.Missing = len(missing)
		if err != nil {
			ms.Error = err.Error()
		}
		ps.Mirrors = append(ps.Mirrors, ms)
	}
	return ps
}

// Verified returns the share of the check window read by the checks in
// st within the window before now (nil without a window).
func Verified(st *profile.State, window string, now time.Time) *VerifiedShare {
	if window == "" {
		return nil
	}
	w, err := profile.ParseDays(window)
	if err != nil {
		return nil
	}
	of := max(1, int(w/(24*time.Hour)))
	parts := map[int]bool{}
	for _, c := range st.Checks {
		if c.Of == of && now.Sub(c.Time) < w {
			parts[c.Part] = true
		}
	}
	return &VerifiedShare{Parts: len(parts), Of: of, Window: of}
}

// Lacking opens the mirror at loc and returns how many snapshots it has
// and which of sns it lacks.
func Lacking(ctx context.Context, open func(context.Context, string) (*repo.Repository, error), loc string, sns []*snapshot.Snapshot) (int, []*snapshot.Snapshot, error) {
	dst, err := open(ctx, loc)
	if err != nil {
		return 0, nil, err
	}
	dsns, _, err := snapshot.LoadReadable(ctx, dst)
	if err != nil {
		return 0, nil, err
	}
	return len(dsns), copier.Missing(sns, dsns), nil
}
