// Package termsafe escapes text from repositories and other machines
// (file names, link targets, tags, hosts, error messages) before it
// reaches a terminal, so no escape sequence in them can act on it.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// String returns s with every byte a terminal could act on written as
// an escape: C0 and C1 control characters, DEL, bidirectional overrides
// and bytes that are not UTF-8 (\xNN or \uNNNN). Names, link targets,
// tags and hosts come from repositories and from other machines' file
// systems; printed raw, an escape sequence in one would reach the terminal.
// keepLines leaves newlines and tabs alone, for whole messages; a single
// name escapes them too, so one line stays one entry. JSON output carries
// the exact bytes instead.
func String(s string, keepLines bool) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n, keepLines) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafeRune(r, n, keepLines):
			b.WriteString(s[i : i+n])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune, n int, keepLines bool) bool {
	switch {
	case r == utf8.RuneError && n <= 1:
		return true
	case r == '\n' || r == '\t':
		return !keepLines
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Name is String for one name: newlines and tabs are escaped too.
func Name(s string) string { return String(s, false) }
