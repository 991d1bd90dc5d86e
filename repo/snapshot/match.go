package snapshot

import (
	"fmt"
	"path"
	"strings"
)

// Matcher matches slash-separated absolute paths against exclude or
// include patterns, as restic does: a pattern starting with / is anchored
// at the root; any other pattern matches at any depth (so "*.tmp" matches
// every .tmp file, "cache/*" every child of any directory named cache).
// "**" matches any number of path components; each other component is a
// path.Match pattern. A pattern that matches a directory matches
// everything below it.
type Matcher struct {
	patterns [][]string
	anchored []bool
	fold     bool
}

// NewMatcher checks and compiles patterns. fold makes matching
// case-insensitive.
func NewMatcher(patterns []string, fold bool) (*Matcher, error) {
	m := &Matcher{fold: fold}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if fold {
			p = strings.ToLower(p)
		}
		anchored := strings.HasPrefix(p, "/")
		parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
		for _, part := range parts {
			if _, err := path.Match(part, ""); err != nil {
				return nil, fmt.Errorf("invalid pattern %q: %w", p, err)
			}
		}
		m.patterns = append(m.patterns, parts)
		m.anchored = append(m.anchored, anchored)
	}
	return m, nil
}

// Empty reports whether the matcher has no patterns.
func (m *Matcher) Empty() bool { return m == nil || len(m.patterns) == 0 }

// Match reports whether the absolute slash path p matches any pattern.
func (m *Matcher) Match(p string) bool {
	if m.Empty() {
		return false
	}
	if m.fold {
		p = strings.ToLower(p)
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, pat := range m.patterns {
		if m.anchored[i] {
			if matchPrefix(pat, parts) {
				return true
			}
			continue
		}
		for start := range parts {
			if matchPrefix(pat, parts[start:]) {
				return true
			}
		}
	}
	return false
}

// MatchPrefix reports whether some pattern could match p or a path below
// it; restore uses it to decide whether to descend into a directory
// when include patterns are given.
func (m *Matcher) MatchPrefix(p string) bool {
	if m.Empty() {
		return false
	}
	if m.fold {
		p = strings.ToLower(p)
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, pat := range m.patterns {
		if !m.anchored[i] {
			return true
		}
		if couldMatch(pat, parts) {
			return true
		}
	}
	return false
}

// matchPrefix reports whether pat matches a leading part of the path parts
// (a match of a directory covers its contents).
func matchPrefix(pat, parts []string) bool {
	if len(pat) == 0 {
		return true
	}
	if pat[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if matchPrefix(pat[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], parts[0]); !ok {
		return false
	}
	return matchPrefix(pat[1:], parts[1:])
}

// couldMatch reports whether pat could match parts or a path below it.
func couldMatch(pat, parts []string) bool {
	if len(parts) == 0 || len(pat) == 0 {
		return true
	}
	if pat[0] == "**" {
		return true
	}
	if ok, _ := path.Match(pat[0], parts[0]); !ok {
		return false
	}
	return couldMatch(pat[1:], parts[1:])
}

// MatchName reports whether the path itself (not merely a directory above
// it) matches a pattern: what `find` means by a match.
func (m *Matcher) MatchName(p string) bool {
	if m.Empty() {
		return false
	}
	if m.fold {
		p = strings.ToLower(p)
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, pat := range m.patterns {
		if m.anchored[i] {
			if matchExact(pat, parts) {
				return true
			}
			continue
		}
		for start := range parts {
			if matchExact(pat, parts[start:]) {
				return true
			}
		}
	}
	return false
}

func matchExact(pat, parts []string) bool {
	if len(pat) == 0 {
		return len(parts) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if matchExact(pat[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], parts[0]); !ok {
		return false
	}
	return matchExact(pat[1:], parts[1:])
}
