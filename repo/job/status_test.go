package job_test

import (
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/job"
)

func TestFormatAge(t *testing.T) {
	t.Parallel()
	d := func(days, h, m, s int) time.Duration {
		return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
	}
	cases := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{d(0, 0, 0, 14), "14s"},
		{d(0, 0, 0, 14) + 400*time.Millisecond, "14s"},
		{d(0, 0, 1, 5), "1m 5s"},
		{d(0, 0, 59, 59) + 600*time.Millisecond, "1h"},
		{d(0, 3, 5, 10), "3h 5m"},
		{d(0, 3, 5, 40), "3h 6m"},
		{d(1, 2, 0, 0), "1d 2h"},
		{d(3, 3, 59, 50), "3d 4h"},
		{d(2, 7, 0, 0), "2d 7h"},
		{d(0, 23, 59, 50), "1d"},
		{d(3, 0, 5, 0), "3d"},
		{-d(0, 0, 0, 14), "-14s"},
	}
	for _, c := range cases {
		if got := job.FormatAge(c.d); got != c.want {
			t.Errorf("FormatAge(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	beyond := []struct {
		age, limit time.Duration
		want       string
	}{
		{d(0, 0, 0, 14), d(0, 0, 0, 3), "14s"},
		{d(0, 1, 0, 2), d(0, 1, 0, 0), "1h 0m 2s"},
		{d(0, 26, 0, 30), d(0, 26, 0, 0), "1d 2h 0m 30s"},
		{d(2, 7, 0, 0), d(0, 26, 0, 0), "2d 7h"},
	}
	for _, c := range beyond {
		if got := job.FormatAgeBeyond(c.age, c.limit); got != c.want {
			t.Errorf("FormatAgeBeyond(%v, %v) = %q, want %q", c.age, c.limit, got, c.want)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 3, 17, 9, 0, 0, 0, time.UTC)
	status := func(age time.Duration, future int) job.ProfileStatus {
		newest := now.Add(-age)
		secs := age.Seconds()
		ps := job.ProfileStatus{Newest: &newest, AgeSeconds: &secs}
		if future > 0 {
			ps.Future = &job.FutureSnapshots{Snapshots: future, Newest: now.Add(76 * time.Hour), AheadSeconds: (76 * time.Hour).Seconds()}
		}
		return ps
	}
	cases := []struct {
		name       string
		ps         job.ProfileStatus
		warn, crit time.Duration
		level      int
		msg        string
	}{
		{"no limits", job.ProfileStatus{}, 0, 0, job.HealthOK, ""},
		{"fresh", status(time.Hour, 0), 2 * time.Hour, 26 * time.Hour, job.HealthOK, ""},
		{"warning", status(3*time.Hour+5*time.Minute, 0), 2 * time.Hour, 26 * time.Hour, job.HealthWarning, "newest snapshot is 3h 5m old (warn-age 2h)"},
		{"critical", status(14*time.Second, 0), 0, 3 * time.Second, job.HealthCritical, "newest snapshot is 14s old (max-age 3s)"},
		{"critical over warning", status(55*time.Hour, 0), 2 * time.Hour, 26 * time.Hour, job.HealthCritical, "newest snapshot is 2d 7h old (max-age 1d 2h)"},
		{"no snapshot", job.ProfileStatus{}, time.Hour, 0, job.HealthCritical, "no snapshot"},
		{"unreadable", job.ProfileStatus{Error: "repository does not exist"}, 0, time.Hour, job.HealthCritical, "repository can't be read: repository does not exist"},
		{"future", status(time.Hour, 2), 2 * time.Hour, 26 * time.Hour, job.HealthWarning, "2 snapshots dated in the future, newest 3d 4h ahead"},
		{"unchanged since", func() job.ProfileStatus {
			ps := status(50*time.Hour, 0)
			ps.Unchanged = &job.Unchanged{Since: "1a2b3c4d", Run: now.Add(-14 * time.Second), AgeSeconds: 14}
			return ps
		}(), time.Second, 26 * time.Hour, job.HealthWarning, "last backup (nothing changed since snapshot 1a2b3c4d) is 14s old (warn-age 1s)"},
		{"only future", job.ProfileStatus{Future: &job.FutureSnapshots{Snapshots: 1, AheadSeconds: 14}}, 0, time.Hour, job.HealthCritical,
			"no snapshot dated before now; 1 snapshot dated in the future, newest 14s ahead"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			level, msg := c.ps.Health(c.warn, c.crit)
			if level != c.level || msg != c.msg {
				t.Fatalf("Health = %d %q, want %d %q", level, msg, c.level, c.msg)
			}
		})
	}
}
