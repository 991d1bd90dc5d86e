package profile_test

import (
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/profile"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSchedule(t *testing.T) {
	cases := []struct {
		name               string
		full, diff         string
		now                string
		lastFull, lastDiff string
		want               profile.Level
	}{
		{"nothing yet", "monthly", "weekly", "2027-03-10 02:00", "", "", profile.Full},
		{"full this month, none this week", "monthly", "weekly", "2027-03-10 02:00", "2027-03-01 02:00", "", profile.Differential},
		{"full this week", "monthly", "weekly", "2027-03-03 02:00", "2027-03-01 02:00", "", profile.Incremental},
		{"differential this week", "monthly", "weekly", "2027-03-11 02:00", "2027-03-01 02:00", "2027-03-08 02:00", profile.Incremental},
		{"new month", "monthly", "weekly", "2027-04-01 02:00", "2027-03-01 02:00", "2027-03-29 02:00", profile.Full},
		{"machine off on the 1st", "monthly", "weekly", "2027-04-03 02:00", "2027-03-01 02:00", "2027-03-29 02:00", profile.Full},
		{"ISO week across the year", "monthly", "weekly", "2027-01-01 02:00", "2026-12-01 02:00", "2026-12-28 02:00", profile.Full},
		{"ISO week across the year, full done", "monthly", "weekly", "2027-01-02 02:00", "2027-01-01 02:00", "2026-12-28 02:00", profile.Incremental},
		{"week 53 to week 1", "never", "weekly", "2027-01-04 02:00", "", "2026-12-31 02:00", profile.Differential},
		{"never full, nothing yet", "never", "weekly", "2027-03-10 02:00", "", "", profile.Differential},
		{"never anything", "never", "never", "2027-03-10 02:00", "", "", profile.Incremental},
		{"daily full", "daily", "never", "2027-03-10 02:00", "2027-03-09 23:00", "", profile.Full},
		{"daily full done today", "daily", "never", "2027-03-10 22:00", "2027-03-10 02:00", "", profile.Incremental},
		{"weekly full", "weekly", "daily", "2027-03-09 02:00", "2027-03-08 02:00", "", profile.Differential},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h profile.History
			if c.lastFull != "" {
				h.LastFull = day(c.lastFull)
			}
			if c.lastDiff != "" {
				h.LastDiff = day(c.lastDiff)
			}
			if got := profile.Schedule(c.full, c.diff, day(c.now), h); got != c.want {
				t.Fatalf("%s", got)
			}
		})
	}
}

func TestDue(t *testing.T) {
	cases := []struct {
		period, now, last string
		want              bool
	}{
		{"weekly", "2027-03-08 02:00", "", true},
		{"weekly", "2027-03-08 02:00", "2027-03-07 02:00", true},
		{"weekly", "2027-03-14 02:00", "2027-03-08 02:00", false},
		{"monthly", "2027-03-31 02:00", "2027-03-01 02:00", false},
		{"monthly", "2027-04-01 02:00", "2027-03-01 02:00", true},
		{"daily", "2027-03-09 00:01", "2027-03-08 23:59", true},
		{"always", "2027-03-09 00:01", "2027-03-09 00:00", true},
		{"never", "2027-03-09 00:01", "", false},
		// A clock set back (backfills) doesn't make it due again.
		{"weekly", "2027-02-01 02:00", "2027-03-08 02:00", false},
	}
	for _, c := range cases {
		var last time.Time
		if c.last != "" {
			last = day(c.last)
		}
		if got := profile.Due(c.period, day(c.now), last); got != c.want {
			t.Errorf("Due(%s, %s, %q) = %v", c.period, c.now, c.last, got)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]time.Duration{"30d": 720 * time.Hour, "2w": 336 * time.Hour, "48h": 48 * time.Hour} {
		if got, err := profile.ParseDays(s); err != nil || got != want {
			t.Errorf("ParseDays(%s) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"0d", "x", "1h", ""} {
		if _, err := profile.ParseDays(s); err == nil {
			t.Errorf("ParseDays(%q) accepted", s)
		}
	}
	if v, err := profile.ParsePercent("2%"); err != nil || v != 0.02 {
		t.Errorf("ParsePercent(2%%) = %v %v", v, err)
	}
	for _, s := range []string{"2", "0%", "101%", "x%"} {
		if _, err := profile.ParsePercent(s); err == nil {
			t.Errorf("ParsePercent(%q) accepted", s)
		}
	}
}
