package snapshot

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is a calendar duration for --keep-within: years, months, days
// and hours, as "1y2m3d4h".
type Duration struct {
	Years, Months, Days, Hours int
}

// ParseDuration parses "1y2m3d4h" (any subset, in this order).
func ParseDuration(s string) (Duration, error) {
	var d Duration
	rest := s
	if rest == "" {
		return d, errors.New("empty duration")
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return d, fmt.Errorf("invalid duration %q: want e.g. 1y6m, 7d or 12h", s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return d, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		switch rest[i] {
		case 'y':
			d.Years = n
		case 'm':
			d.Months = n
		case 'd':
			d.Days = n
		case 'h':
			d.Hours = n
		default:
			return d, fmt.Errorf("invalid duration %q: unit %q is not y, m, d or h", s, rest[i])
		}
		rest = rest[i+1:]
	}
	return d, nil
}

// Zero reports whether d is empty.
func (d Duration) Zero() bool { return d == Duration{} }

// before returns t minus d.
func (d Duration) before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}

func (d Duration) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n int
		u string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if p.n != 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.u)
		}
	}
	return b.String()
}

// Policy is a retention policy (restic's semantics). A count of -1 keeps
// every snapshot of that kind.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       Duration
	WithinHourly, WithinDaily, WithinWeekly      Duration
	WithinMonthly, WithinYearly                  Duration
	Tags                                         []string
	// Location is the time zone buckets are cut in (nil: time.Local).
	Location *time.Location
	// Now, when set, is the present for the age-based rules (the within
	// windows): a snapshot dated after it (a clock set wrong, backup
	// --time in the future) is as old as one made at Now, and the windows
	// end at Now at the latest, so such a snapshot can't push the present
	// out of them. The count rules (last, hourly … yearly) order by the
	// snapshots' own times, as restic does: treating every snapshot of a
	// clock that went back as made now would merge them into one bucket.
	Now time.Time
}

// Empty reports whether p keeps nothing.
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 && p.Yearly == 0 &&
		p.Within.Zero() && p.WithinHourly.Zero() && p.WithinDaily.Zero() && p.WithinWeekly.Zero() &&
		p.WithinMonthly.Zero() && p.WithinYearly.Zero() && len(p.Tags) == 0
}

// Decision says whether a snapshot is kept and why.
type Decision struct {
	Snapshot *Snapshot
	Keep     bool
	Reasons  []string
}

type bucketRule struct {
	name   string
	count  int
	within Duration
	bucket func(time.Time) int
}

func hourBucket(t time.Time) int {
	return t.Year()*1000000 + int(t.Month())*10000 + t.Day()*100 + t.Hour()
}
func dayBucket(t time.Time) int   { return t.Year()*10000 + int(t.Month())*100 + t.Day() }
func monthBucket(t time.Time) int { return t.Year()*100 + int(t.Month()) }
func yearBucket(t time.Time) int  { return t.Year() }
func weekBucket(t time.Time) int {
	y, w := t.ISOWeek()
	return y*100 + w
}

// Apply decides for sns (any order) which to keep. Decisions come newest
// first. Each rule keeps the newest snapshot of each of its most recent
// buckets (hour, day, ISO week, month, year), like restic.
func (p Policy) Apply(sns []*Snapshot) []Decision {
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	// at is a snapshot's time for the within windows.
	at := func(sn *Snapshot) time.Time {
		if !p.Now.IsZero() && sn.Time.After(p.Now) {
			return p.Now
		}
		return sn.Time
	}
	sorted := slices.Clone(sns)
	slices.SortStableFunc(sorted, func(a, b *Snapshot) int { return b.Time.Compare(a.Time) })
	out := make([]Decision, len(sorted))
	for i, sn := range sorted {
		out[i].Snapshot = sn
	}
	if len(sorted) == 0 {
		return out
	}
	newest := at(sorted[0])
	keep := func(i int, reason string) {
		out[i].Keep = true
		if !slices.Contains(out[i].Reasons, reason) {
			out[i].Reasons = append(out[i].Reasons, reason)
		}
	}
	rules := []bucketRule{
		{"hourly snapshot", p.Hourly, Duration{}, hourBucket},
		{"daily snapshot", p.Daily, Duration{}, dayBucket},
		{"weekly snapshot", p.Weekly, Duration{}, weekBucket},
		{"monthly snapshot", p.Monthly, Duration{}, monthBucket},
		{"yearly snapshot", p.Yearly, Duration{}, yearBucket},
		{"hourly within " + p.WithinHourly.String(), 0, p.WithinHourly, hourBucket},
		{"daily within " + p.WithinDaily.String(), 0, p.WithinDaily, dayBucket},
		{"weekly within " + p.WithinWeekly.String(), 0, p.WithinWeekly, weekBucket},
		{"monthly within " + p.WithinMonthly.String(), 0, p.WithinMonthly, monthBucket},
		{"yearly within " + p.WithinYearly.String(), 0, p.WithinYearly, yearBucket},
	}
	for i, sn := range sorted {
		if p.Last == -1 || i < p.Last {
			keep(i, "last snapshot")
		}
		if !p.Within.Zero() && !at(sn).Before(p.Within.before(newest)) {
			keep(i, "within "+p.Within.String())
		}
		for _, t := range p.Tags {
			if slices.Contains(sn.Tags, t) {
				keep(i, "tagged "+t)
			}
		}
	}
	for _, rule := range rules {
		if rule.count == 0 && rule.within.Zero() {
			continue
		}
		left := rule.count
		last := -1
		for i, sn := range sorted {
			if !rule.within.Zero() {
				if at(sn).Before(rule.within.before(newest)) {
					break
				}
			} else if left == 0 {
				break
			}
			b := rule.bucket(sn.Time.In(loc))
			if b == last {
				continue
			}
			last = b
			keep(i, rule.name)
			if left > 0 {
				left--
			}
		}
	}
	return out
}
