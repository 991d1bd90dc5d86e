package job

import (
	"context"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// Record keeps the run's history: the state in dir, a line in the
// profile's report file and its metrics file. Each failure is returned;
// none stops the others.
func (rn *Run) Record(ctx context.Context, dir string) []error {
	var errs []error
	p, rep := rn.Profile, rn.rep
	key := rn.StateKey
	if key == "" {
		key = p.Name
	}
	if err := profile.SaveState(dir, key, rn.State); err != nil {
		errs = append(errs, err)
	}
	if p.ReportFile != "" {
		if err := profile.AppendReport(p.ReportFile, rep); err != nil {
			errs = append(errs, err)
		}
	}
	if p.MetricsFile != "" {
		if err := profile.WriteMetrics(p.MetricsFile, rn.metrics(ctx)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// metrics are the run's figures and the repository's, as Prometheus
// sees them.
func (rn *Run) metrics(ctx context.Context) profile.Metrics {
	rep := rn.rep
	m := profile.Metrics{Profile: rn.Profile.Name, Status: rep.ExitCode, LastRun: rep.End, LastSuccess: rn.State.LastSuccess,
		Steps: rep.Steps, Snapshots: map[string]int{}}
	if s := rep.Step("backup"); s != nil && s.Figures != nil {
		num := func(k string) float64 { v, _ := s.Figures[k].(float64); return v }
		m.BackupDuration = s.Duration
		m.BackupBytesAdded = num("bytes_added")
		m.BackupFiles = num("total_files")
	}
	if s := rep.Step("check"); s != nil && s.Figures != nil {
		v, _ := s.Figures["errors"].(int)
		m.CheckErrors = float64(v)
	}
	if rn.Repo == nil {
		return m
	}
	if sns, _, err := snapshot.LoadReadable(ctx, rn.Repo); err == nil {
		f := snapshot.Filter{Hosts: []string{rn.host}, Paths: rn.paths}
		for _, sn := range sns {
			if f.Match(sn) {
				m.Snapshots[string(sn.Kind)]++
				if sn.Time.After(m.NewestSnapshot) {
					m.NewestSnapshot = sn.Time
				}
			}
		}
	}
	for _, t := range backend.AllTypes {
		_ = rn.Repo.Backend().List(ctx, t, func(fi backend.FileInfo) error { m.RepositorySize += float64(fi.Size); return nil })
	}
	return m
}
