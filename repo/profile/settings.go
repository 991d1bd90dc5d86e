package profile

import (
	"fmt"
	"strconv"
	"strings"
)

// Setting is one key of a profile and its value.
type Setting struct {
	Key   string
	Value any
}

// Settings lists a profile's keys in the documented order.
func Settings(p *Profile) []Setting {
	pw := ""
	if p.Password != "" {
		pw = "********"
	}
	return []Setting{
		{"repository", p.Repository}, {"password-file", p.PasswordFile}, {"password-command", p.PasswordCommand},
		{"password", pw}, {"options", p.Options}, {"compression", p.Compression},
		{"sources", p.Sources}, {"exclude", p.Exclude}, {"exclude-file", p.ExcludeFile},
		{"exclude-caches", p.ExcludeCaches}, {"exclude-if-present", p.ExcludeIfPresent},
		{"exclude-larger-than", p.ExcludeLargerThan}, {"tags", p.Tags}, {"host", p.Host},
		{"skip-if-unchanged", p.SkipIfUnchanged},
		{"full", p.Full}, {"differential", p.Differential}, {"keep", rawValue(keepString(p.Keep))}, {"prune", p.Prune},
		{"mirrors", p.Mirrors}, {"check-window", p.CheckWindow}, {"verify-sample", p.VerifySample},
		{"metrics-file", p.MetricsFile}, {"report-file", p.ReportFile}, {"run-at", p.RunAt},
		{"hooks.before", p.Hooks.Before}, {"hooks.after", p.Hooks.After},
		{"hooks.on-success", p.Hooks.OnSuccess}, {"hooks.on-failure", p.Hooks.OnFailure},
	}
}

// rawValue is a setting already written as TOML.
type rawValue string

// FormatSetting writes a setting's value as TOML ("": unset).
func FormatSetting(v any) string {
	switch x := v.(type) {
	case rawValue:
		return string(x)
	case string:
		if x == "" {
			return ""
		}
		return strconv.Quote(x)
	case bool:
		if !x {
			return ""
		}
		return "true"
	case []string:
		if len(x) == 0 {
			return ""
		}
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// keepString writes a retention policy as the TOML inline table.
func keepString(k Keep) string {
	var parts []string
	for _, f := range []struct {
		name string
		n    int
	}{{"last", k.Last}, {"hourly", k.Hourly}, {"daily", k.Daily}, {"weekly", k.Weekly}, {"monthly", k.Monthly}, {"yearly", k.Yearly}} {
		if f.n != 0 {
			parts = append(parts, fmt.Sprintf("%s = %d", f.name, f.n))
		}
	}
	if k.Within != "" {
		parts = append(parts, "within = "+strconv.Quote(k.Within))
	}
	if len(k.Tags) > 0 {
		parts = append(parts, "tags = "+FormatSetting(k.Tags))
	}
	if len(parts) == 0 {
		return ""
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}
