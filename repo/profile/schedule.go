package profile

import "time"

// Level is a backup level.
type Level string

// Levels.
const (
	Full         Level = "full"
	Differential Level = "differential"
	Incremental  Level = "incremental"
)

// samePeriod reports whether a and b fall in the same period: the same
// calendar day, ISO week or calendar month, in t's location.
func samePeriod(period string, a, b time.Time) bool {
	b = b.In(a.Location())
	switch period {
	case "daily":
		return a.Year() == b.Year() && a.YearDay() == b.YearDay()
	case "weekly":
		ay, aw := a.ISOWeek()
		by, bw := b.ISOWeek()
		return ay == by && aw == bw
	case "monthly":
		return a.Year() == b.Year() && a.Month() == b.Month()
	}
	return false
}

// Due reports whether something done every period is due at now, given
// when it was last done (zero: never). "always" is always due, "never"
// never.
func Due(period string, now, last time.Time) bool {
	switch period {
	case "always":
		return true
	case "never", "":
		return false
	}
	return last.IsZero() || !samePeriod(period, now, last) && now.After(last)
}

// History is what the schedule needs to know of a profile's snapshots:
// when the newest full backup and the newest full or differential backup
// were made (zero: none). Snapshots record both for their generation, so
// the history survives retention removing those snapshots.
type History struct {
	LastFull time.Time
	LastDiff time.Time
}

// Schedule picks the level of a run at now: full when the full period has
// none, differential when the differential period has no full or
// differential backup, otherwise incremental. A machine that was off on
// the usual day gets the level at its next run.
func Schedule(full, differential string, now time.Time, h History) Level {
	if full != "never" && (h.LastFull.IsZero() || Due(full, now, h.LastFull)) {
		return Full
	}
	base := h.LastDiff
	if h.LastFull.After(base) {
		base = h.LastFull
	}
	if differential != "never" && (base.IsZero() || Due(differential, now, base)) {
		return Differential
	}
	return Incremental
}
