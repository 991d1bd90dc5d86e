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

// Match reports whether the absolute slash path p matches any pattern, or
// lies below a directory that does.
func (m *Matcher) Match(p string) bool { return m.any(p, matchPrefix) }

// any reports whether match accepts some pattern against p: anchored
// patterns at the root, the others at every depth.
func (m *Matcher) any(p string, match func(pat, parts []string) bool) bool {
	if m.Empty() {
		return false
	}
	if m.fold {
		p = strings.ToLower(p)
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, pat := range m.patterns {
		if m.anchored[i] {
			if match(pat, parts) {
				return true
			}
			continue
		}
		for start := range parts {
			if match(pat, parts[start:]) {
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
func (m *Matcher) MatchName(p string) bool { return m.any(p, matchExact) }

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
