package job

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
	// Future counts the snapshots dated after now (a clock set wrong);
	// Newest and AgeSeconds are of the others.
	Future *FutureSnapshots `json:"future,omitempty"`
	// Unchanged is set when the last run found nothing changed since a
	// snapshot still there (skip-if-unchanged): the sources were backed
	// up as of that run, however old the snapshot.
	Unchanged *Unchanged `json:"unchanged,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Unchanged is a run that wrote no snapshot because nothing changed.
type Unchanged struct {
	Since      string    `json:"since_snapshot"`
	Run        time.Time `json:"run"`
	AgeSeconds float64   `json:"age_seconds"`
}

// FutureSnapshots are the snapshots of a profile dated after now.
type FutureSnapshots struct {
	Snapshots    int       `json:"snapshots"`
	Newest       time.Time `json:"newest"`
	AheadSeconds float64   `json:"ahead_seconds"`
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
		if sn.Time.After(req.Now) {
			// Not the newest backup: a snapshot from the future would
			// hide that backups stopped until its date comes.
			if ps.Future == nil {
				ps.Future = &FutureSnapshots{}
			}
			ps.Future.Snapshots++
			if sn.Time.After(ps.Future.Newest) {
				ps.Future.Newest = sn.Time
				ps.Future.AheadSeconds = sn.Time.Sub(req.Now).Seconds()
			}
			continue
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
		ps.Unchanged = lastUnchanged(req.State, mine, *ps.Newest, req.Now)
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

// lastUnchanged returns the last run of st when its backup found nothing
// changed since one of sns, after newest and not in the future.
func lastUnchanged(st *profile.State, sns []*snapshot.Snapshot, newest, now time.Time) *Unchanged {
	if st == nil || st.LastRun == nil {
		return nil
	}
	run := st.LastRun
	b := run.Step("backup")
	var sum struct {
		Skipped bool   `json:"skipped"`
		Parent  string `json:"parent"`
	}
	if b == nil || b.Status != profile.StepOK || json.Unmarshal(run.Snapshot, &sum) != nil || !sum.Skipped ||
		!run.Start.After(newest) || run.Start.After(now) {
		return nil
	}
	for _, sn := range sns {
		if sn.ID().String() == sum.Parent {
			return &Unchanged{Since: sn.ID().Short(), Run: run.Start, AgeSeconds: now.Sub(run.Start).Seconds()}
		}
	}
	return nil
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

// Health levels of a profile's status for monitoring: the exit codes of
// Nagios and Icinga plugins.
const (
	HealthOK       = 0
	HealthWarning  = 1
	HealthCritical = 2
)

// Health says how ps stands against the age limits warn and crit (0: no
// limit; with neither it is always HealthOK): critical when the newest
// snapshot (or the last run that found nothing changed since it) is
// older than crit, or there is none (the repository can't
// be read); a warning when it is older than warn, or when snapshots are
// dated in the future. The message says the age and the limit passed.
func (ps ProfileStatus) Health(warn, crit time.Duration) (int, string) {
	if warn <= 0 && crit <= 0 {
		return HealthOK, ""
	}
	level, msgs := HealthOK, []string{}
	if ps.Newest == nil || ps.AgeSeconds == nil {
		level = HealthCritical
		switch {
		case ps.Error != "":
			msgs = append(msgs, "repository can't be read: "+ps.Error)
		case ps.Future != nil:
			msgs = append(msgs, "no snapshot dated before now")
		default:
			msgs = append(msgs, "no snapshot")
		}
	} else {
		age := time.Duration(*ps.AgeSeconds * float64(time.Second))
		what := "newest snapshot is %s old"
		if u := ps.Unchanged; u != nil {
			age = time.Duration(u.AgeSeconds * float64(time.Second))
			what = "last backup (nothing changed since snapshot " + u.Since + ") is %s old"
		}
		switch {
		case crit > 0 && age > crit:
			level = HealthCritical
			msgs = append(msgs, fmt.Sprintf(what+" (max-age %s)", FormatAgeBeyond(age, crit), FormatAge(crit)))
		case warn > 0 && age > warn:
			level = HealthWarning
			msgs = append(msgs, fmt.Sprintf(what+" (warn-age %s)", FormatAgeBeyond(age, warn), FormatAge(warn)))
		}
	}
	if f := ps.Future; f != nil {
		level = max(level, HealthWarning)
		msgs = append(msgs, f.String())
	}
	return level, strings.Join(msgs, "; ")
}

// String says how many snapshots are dated in the future and how far
// ahead the newest is.
func (f *FutureSnapshots) String() string {
	what := fmt.Sprintf("%d snapshots", f.Snapshots)
	if f.Snapshots == 1 {
		what = "1 snapshot"
	}
	return fmt.Sprintf("%s dated in the future, newest %s ahead", what, FormatAge(time.Duration(f.AheadSeconds*float64(time.Second))))
}

// ageUnits are the units ages are written in.
var ageUnits = []struct {
	name string
	d    time.Duration
}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}

// FormatAge writes d in its largest unit and the next one, the second
// rounded: "1d 2h", "3h 5m", "14s" (never rounded to a larger unit than
// it is: 14 seconds are "14s", not "0m").
func FormatAge(d time.Duration) string { return formatAge(d, 2, true) }

// FormatAgeBeyond writes age, which is over limit, as FormatAge does
// but cut instead of rounded, in as many more units as it takes to tell
// it from limit: an age just over a limit of 1h is "1h 0m 2s", not "1h".
func FormatAgeBeyond(age, limit time.Duration) string {
	for n := 2; n <= len(ageUnits); n++ {
		if s := formatAge(age, n, false); s != formatAge(limit, n, false) {
			return s
		}
	}
	return age.String()
}

// formatAge writes d in n units from its largest, the last rounded or
// cut.
func formatAge(d time.Duration, n int, round bool) string {
	if d < 0 {
		return "-" + formatAge(-d, n, round)
	}
	top := len(ageUnits) - 1
	for i, u := range ageUnits {
		if d >= u.d {
			top = i
			break
		}
	}
	last := min(top+n-1, len(ageUnits)-1)
	if round {
		d = d.Round(ageUnits[last].d)
	} else {
		d = d.Truncate(ageUnits[last].d)
	}
	var parts []string
	for i, u := range ageUnits[:last+1] {
		v := d / u.d
		d -= v * u.d
		// Inner zero units are written so "1h 0m 2s" reads as exact.
		if v > 0 || len(parts) > 0 && i < last {
			parts = append(parts, fmt.Sprintf("%d%s", v, u.name))
		}
	}
	if len(parts) == 0 {
		return "0" + ageUnits[last].name
	}
	// Zero last units say nothing.
	for len(parts) > 1 && strings.HasPrefix(parts[len(parts)-1], "0") {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, " ")
}
