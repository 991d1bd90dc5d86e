package backend

import (
	"regexp"
	"strings"
)

// Redact returns location, with anything between "//" and the host's "@"
// (user and password) replaced by "***", and the values of credential
// parameters of an rclone connection string
// (":s3,access_key_id=…,secret_access_key=…:bucket") too, for messages.
func Redact(location string) string {
	location = secretParam.ReplaceAllString(location, "$1=***")
	i := strings.Index(location, "//")
	if i < 0 {
		return location
	}
	rest := location[i+2:]
	host := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		host = rest[:j]
	}
	at := strings.LastIndex(host, "@")
	if at < 0 {
		return location
	}
	return location[:i+2] + "***" + rest[at:]
}

// secretEnv are the variables that carry a repository or server password:
// no child process (ssh, rclone, a password command, a hook) gets them.
var secretEnv = []string{"CAIRN_PASSWORD", "CAIRN_FROM_PASSWORD", "CAIRN_REST_PASSWORD"}

// ChildEnv returns environ without the variables that carry secrets, for
// the processes cairn starts.
func ChildEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		secret := false
		for _, s := range secretEnv {
			if name == s {
				secret = true
			}
		}
		if !secret {
			out = append(out, kv)
		}
	}
	return out
}

// HasPassword reports whether location carries a password in its URL
// (scheme://user:password@host/…).
func HasPassword(location string) bool {
	i := strings.Index(location, "//")
	if i < 0 {
		return false
	}
	rest := location[i+2:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	at := strings.LastIndex(rest, "@")
	return at >= 0 && strings.Contains(rest[:at], ":")
}

// secretParam matches the parameters of a connection string that hold
// credentials, quoted or not.
var secretParam = regexp.MustCompile(`(?i)((?:secret|pass|key|token|auth|credential|sas|account)[a-z_]*)=('[^']*'|"[^"]*"|[^,:'"\s]*)`)
