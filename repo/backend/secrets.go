package backend

import (
	"net"
	"regexp"
	"strings"
)

// Redact returns location, with anything between "//" and the host's "@"
// (user and password) replaced by "***", and the values of credential
// parameters of an rclone connection string
// (":s3,access_key_id=…,secret_access_key=…:bucket") too, for messages.
func Redact(location string) string {
	location = secretParam.ReplaceAllString(location, "$1=***")
	if start, end, ok := userinfo(location); ok {
		return location[:start] + "***" + location[end:]
	}
	return location
}

// userinfo finds the user[:password] of a URL location, between "//" and
// the host's "@": location[start:end]. A password with an unencoded / ?
// or # in it ("user:pa/ss@host") is found too.
func userinfo(location string) (start, end int, ok bool) {
	i := strings.Index(location, "//")
	if i < 0 {
		return 0, 0, false
	}
	rest := location[i+2:]
	host := rest
	sep := strings.IndexAny(rest, "/?#")
	if sep >= 0 {
		host = rest[:sep]
	}
	if at := strings.LastIndex(host, "@"); at >= 0 {
		return i + 2, i + 2 + at, true
	}
	if a := strings.LastIndex(rest, "@"); a >= 0 && strings.Contains(rest[:sep], ":") {
		return i + 2, i + 2 + a, true
	}
	return 0, 0, false
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
	start, end, ok := userinfo(location)
	return ok && strings.Contains(location[start:end], ":")
}

// secretParam matches the parameters of a connection string that hold
// credentials, quoted or not.
var secretParam = regexp.MustCompile(`(?i)((?:secret|pass|key|token|auth|credential|sas|account)[a-z_]*)=('[^']*'|"[^"]*"|[^,:'"\s]*)`)

// LoopbackHost reports whether host (a name or an IP address, without a
// port) is this machine: "localhost" or a loopback address.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
