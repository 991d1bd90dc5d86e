package snapshot

import (
	"strings"
)

// SlashPath maps absolute path p of operating system goos to the path it
// has inside a snapshot, with / between its parts. Unix paths are kept as
// they are. Windows paths are mapped as restic maps them, so that
// snapshots of both tools look alike: the drive letter becomes the first
// directory (C:\Users\ann → /C/Users/ann) and a UNC path gets a UNC
// directory (\\server\share\dir → /UNC/server/share/dir). A drive-relative
// or otherwise incomplete Windows path is returned as "", false.
func SlashPath(goos, p string) (string, bool) {
	if goos != "windows" {
		return p, strings.HasPrefix(p, "/")
	}
	p = strings.ReplaceAll(p, `\`, "/")
	// \\?\C:\x and \\?\UNC\server\share\x are the long forms of the same.
	if rest, ok := strings.CutPrefix(p, "//?/"); ok {
		if u, ok := strings.CutPrefix(rest, "UNC/"); ok {
			p = "//" + u
		} else {
			p = rest
		}
	}
	switch {
	case len(p) >= 2 && p[1] == ':' && isLetter(p[0]):
		rest := p[2:]
		if rest != "" && rest[0] != '/' {
			return "", false // C:foo is relative to C's current directory
		}
		return clean("/" + strings.ToUpper(p[:1]) + rest), true
	case strings.HasPrefix(p, "//"):
		parts := strings.SplitN(p[2:], "/", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return "", false
		}
		return clean("/UNC/" + strings.Join(parts, "/")), true
	}
	return "", false
}

// OSPath is SlashPath's inverse: the path on goos of snapshot path sp.
// ok is false for a snapshot directory that names no directory there by
// itself (on Windows: /, /UNC and /UNC/server).
func OSPath(goos, sp string) (string, bool) {
	if goos != "windows" {
		return sp, true
	}
	parts := strings.Split(strings.Trim(sp, "/"), "/")
	switch {
	case parts[0] == "":
		return "", false
	case parts[0] == "UNC":
		if len(parts) < 4 {
			if len(parts) == 3 {
				return `\\` + parts[1] + `\` + parts[2] + `\`, true
			}
			return "", false
		}
		return `\\` + strings.Join(parts[1:], `\`), true
	case len(parts[0]) == 1 && isLetter(parts[0][0]):
		if len(parts) == 1 {
			return parts[0] + `:\`, true
		}
		return parts[0] + `:\` + strings.Join(parts[1:], `\`), true
	}
	return "", false
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// clean drops empty parts and a trailing slash.
func clean(p string) string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}
