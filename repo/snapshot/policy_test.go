package snapshot_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/snapshot"
)

func mk(times ...string) []*snapshot.Snapshot {
	var out []*snapshot.Snapshot
	for _, s := range times {
		t, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			panic(err)
		}
		out = append(out, &snapshot.Snapshot{Time: t, Tags: nil})
	}
	return out
}

func kept(p snapshot.Policy, sns []*snapshot.Snapshot) string {
	var out []string
	for _, d := range p.Apply(sns) {
		if d.Keep {
			out = append(out, d.Snapshot.Time.Format("01-02 15:04"))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestPolicy(t *testing.T) {
	week := mk("2026-03-01 01:00", "2026-03-01 13:00", "2026-03-02 01:00", "2026-03-03 01:00", "2026-03-03 23:59",
		"2026-03-05 01:00", "2026-03-08 01:00", "2026-03-09 01:00", "2026-03-15 01:00")
	newYear := mk("2025-12-30 10:00", "2025-12-31 23:30", "2026-01-01 00:30", "2026-01-02 10:00")
	tests := []struct {
		name string
		p    snapshot.Policy
		sns  []*snapshot.Snapshot
		want string
	}{
		{"last 2", snapshot.Policy{Last: 2}, week, "03-09 01:00,03-15 01:00"},
		{"last all", snapshot.Policy{Last: -1}, newYear, "01-01 00:30,01-02 10:00,12-30 10:00,12-31 23:30"},
		// Several per day: the newest of each day counts; gaps are skipped.
		{"daily 4", snapshot.Policy{Daily: 4}, week, "03-05 01:00,03-08 01:00,03-09 01:00,03-15 01:00"},
		{"daily 9 with gaps", snapshot.Policy{Daily: 9}, week,
			"03-01 13:00,03-02 01:00,03-03 23:59,03-05 01:00,03-08 01:00,03-09 01:00,03-15 01:00"},
		// ISO weeks start on Monday: Mar 2 2026 is one, so Mar 8 (Sunday) ends
		// the week of Mar 2-5 and Mar 1 belongs to the week before.
		{"weekly 3", snapshot.Policy{Weekly: 3}, week, "03-01 13:00,03-08 01:00,03-15 01:00"},
		{"monthly over the year boundary", snapshot.Policy{Monthly: 2}, newYear, "01-02 10:00,12-31 23:30"},
		{"yearly", snapshot.Policy{Yearly: 5}, newYear, "01-02 10:00,12-31 23:30"},
		{"hourly", snapshot.Policy{Hourly: 2}, mk("2026-01-01 10:05", "2026-01-01 10:55", "2026-01-01 11:10"), "01-01 10:55,01-01 11:10"},
		{"within 7d", snapshot.Policy{Within: snapshot.Duration{Days: 7}}, week, "03-08 01:00,03-09 01:00,03-15 01:00"},
		{"within-daily 3d", snapshot.Policy{WithinDaily: snapshot.Duration{Days: 7}}, week, "03-08 01:00,03-09 01:00,03-15 01:00"},
		{"combined", snapshot.Policy{Last: 1, Weekly: 2, Monthly: 1}, week, "03-08 01:00,03-15 01:00"},
		{"empty keeps nothing", snapshot.Policy{}, week, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kept(tt.p, tt.sns)
			want := strings.Split(tt.want, ",")
			slices.Sort(want)
			if got != strings.Join(want, ",") {
				t.Fatalf("kept %s\n want %s", got, strings.Join(want, ","))
			}
		})
	}
}

// TestPolicyTimeZone: buckets are cut in the policy's time zone. Two
// snapshots 23:30 and 00:30 UTC fall on different UTC days but on the same
// day in New York.
func TestPolicyTimeZone(t *testing.T) {
	sns := mk("2026-06-01 23:30", "2026-06-02 00:30")
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database")
	}
	if got := len(strings.Split(kept(snapshot.Policy{Daily: 5, Location: time.UTC}, sns), ",")); got != 2 {
		t.Fatalf("UTC: kept %d, want 2", got)
	}
	if got := kept(snapshot.Policy{Daily: 5, Location: ny}, sns); got != "06-02 00:30" {
		t.Fatalf("New York: kept %s, want only the newer", got)
	}
}

func TestPolicyReasonsAndTags(t *testing.T) {
	sns := mk("2026-01-01 10:00", "2026-01-02 10:00", "2026-01-03 10:00")
	sns[0].Tags = []string{"keep"}
	ds := snapshot.Policy{Last: 1, Daily: 2, Tags: []string{"keep"}}.Apply(sns)
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s:%v:%s", d.Snapshot.Time.Format("02"), d.Keep, strings.Join(d.Reasons, "+")))
	}
	want := []string{"03:true:last snapshot+daily snapshot", "02:true:daily snapshot", "01:true:tagged keep"}
	if !slices.Equal(got, want) {
		t.Fatalf("decisions %v\nwant %v", got, want)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]snapshot.Duration{"1y2m3d4h": {1, 2, 3, 4}, "7d": {Days: 7}, "36h": {Hours: 36}} {
		if got, err := snapshot.ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "7", "d", "3w", "1y-2d"} {
		if _, err := snapshot.ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPolicyFuture: for the within windows, snapshots dated after the
// policy's now are as old as one made now and the windows end at now, so a
// clock set wrong once can't push the present out of them; the count rules
// keep the snapshots' own order and buckets (a clock that went back must
// not merge every snapshot into today's).
func TestPolicyFuture(t *testing.T) {
	now := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	// A clock that went back a year: every snapshot is "from the future".
	backwards := mk("2026-03-13 01:00", "2026-03-14 01:00", "2026-03-15 01:00")
	if got := kept(snapshot.Policy{Daily: 3, Now: now.AddDate(-1, 0, 0)}, backwards); got != "03-13 01:00,03-14 01:00,03-15 01:00" {
		t.Fatalf("daily 3 with the clock a year back kept %s", got)
	}
	sns := mk("2026-03-13 01:00", "2026-03-14 01:00", "2026-03-15 01:00", "2026-03-18 05:00", "2027-01-01 00:00")
	tests := []struct {
		name string
		p    snapshot.Policy
		want string
	}{
		{"within 2d", snapshot.Policy{Within: snapshot.Duration{Days: 2}, Now: now}, "03-13 01:00,03-14 01:00,03-15 01:00,03-18 05:00,01-01 00:00"},
		{"within-daily 1d", snapshot.Policy{WithinDaily: snapshot.Duration{Days: 1}, Now: now}, "03-14 01:00,03-15 01:00,03-18 05:00,01-01 00:00"},
		{"within 2d without now", snapshot.Policy{Within: snapshot.Duration{Days: 2}}, "01-01 00:00"},
		{"last 2", snapshot.Policy{Last: 2, Now: now}, "03-18 05:00,01-01 00:00"},
		{"daily 3", snapshot.Policy{Daily: 3, Now: now}, "03-15 01:00,03-18 05:00,01-01 00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kept(tt.p, sns)
			want := strings.Split(tt.want, ",")
			slices.Sort(want)
			if got != strings.Join(want, ",") {
				t.Fatalf("kept %s\n want %s", got, strings.Join(want, ","))
			}
		})
	}
}
