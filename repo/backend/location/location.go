// Package location parses repository locations and opens their backends.
// Each backend registers its scheme once (name, whether it is remote, the
// -o options it takes, its opener); a location with a scheme nobody
// registered is an error, never a local directory of that name.
package location

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/repo/backend"
)

// Env is what an opener may use of the caller's environment.
type Env struct {
	Getenv func(string) string
	// Warnf reports something the user should know (a server without
	// fsync, …) without failing.
	Warnf func(format string, args ...any)
}

// Scheme is one kind of location: "sftp" for sftp:…, "local" for local:…
// and plain paths.
type Scheme struct {
	Name string
	// Remote schemes get a local cache.
	Remote bool
	// Example is shown in errors: "sftp:user@host:/path".
	Example string
	// Open opens loc (with its "name:" prefix) given the -o options
	// whose key starts with "name.", without that prefix.
	Open func(ctx context.Context, loc string, opts map[string]string, env Env) (backend.Backend, error)
}

// Registry holds the schemes a binary supports.
type Registry struct {
	schemes []Scheme
}

// Register adds s; a scheme registered twice is a programming error.
func (r *Registry) Register(s Scheme) {
	if r.lookup(s.Name) != nil {
		panic("location: scheme " + s.Name + " registered twice")
	}
	r.schemes = append(r.schemes, s)
}

func (r *Registry) lookup(name string) *Scheme {
	for i := range r.schemes {
		if r.schemes[i].Name == name {
			return &r.schemes[i]
		}
	}
	return nil
}

// ErrUnknownScheme means a location names a scheme no backend registered.
var ErrUnknownScheme = errors.New("unknown location scheme")

// instead says what to use for schemes restic users know.
var instead = map[string]string{
	"b2":    "Backblaze B2 speaks S3: s3:https://s3.<region>.backblazeb2.com/bucket",
	"azure": "cairn has no Azure backend; reach it through an S3 gateway (s3:https://…)",
	"gs":    "Google Cloud Storage speaks S3: s3:https://storage.googleapis.com/bucket",
	"swift": "cairn has no Swift backend; use its S3 API (s3:https://…)",
	"http":  "for S3 over HTTP write s3:http://host/bucket",
	"https": "for S3 write s3:https://host/bucket",
}

// Split returns the scheme of loc: "local" for a path, else what comes
// before the first colon when that looks like a scheme name.
func Split(loc string) string {
	if strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, ".") || strings.HasPrefix(loc, "~") {
		return "local"
	}
	name, _, ok := strings.Cut(loc, ":")
	if !ok || name == "" {
		return "local"
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "local"
		}
	}
	return strings.ToLower(name)
}

// Scheme returns the registered scheme of loc, or an error that lists the
// supported ones and, for schemes users of other tools know, what to use.
func (r *Registry) Scheme(loc string) (*Scheme, error) {
	name := Split(loc)
	if s := r.lookup(name); s != nil {
		return s, nil
	}
	var ex []string
	for _, s := range r.schemes {
		ex = append(ex, s.Example)
	}
	msg := fmt.Sprintf("repository %s: %v %q (supported: %s)", backend.Redact(loc), ErrUnknownScheme, name+":", strings.Join(ex, ", "))
	if hint, ok := instead[name]; ok {
		return nil, fmt.Errorf("%s; %s: %w", msg, hint, ErrUnknownScheme)
	}
	return nil, fmt.Errorf("%s; a local path with a colon needs local: in front: %w", msg, ErrUnknownScheme)
}

// Remote reports whether loc is on a remote backend (unknown schemes are
// not: they can't be opened).
func (r *Registry) Remote(loc string) bool {
	s, err := r.Scheme(loc)
	return err == nil && s.Remote
}

// IsLocation reports whether s names a repository of a registered scheme
// explicitly (a scheme prefix or an absolute path), as opposed to a word.
func (r *Registry) IsLocation(s string) bool {
	if strings.HasPrefix(s, "/") {
		return true
	}
	name, _, ok := strings.Cut(s, ":")
	return ok && r.lookup(strings.ToLower(name)) != nil
}

// Open opens the backend of loc. options are the -o key=value pairs of
// the command; each scheme gets those starting with its name and a dot,
// and a key no registered scheme takes is an error.
func (r *Registry) Open(ctx context.Context, loc string, options []string, env Env) (backend.Backend, error) {
	s, err := r.Scheme(loc)
	if err != nil {
		return nil, err
	}
	mine := map[string]string{}
	for _, o := range options {
		k, v, ok := strings.Cut(o, "=")
		prefix, key, dotted := strings.Cut(k, ".")
		if !ok || !dotted || r.lookup(prefix) == nil {
			return nil, fmt.Errorf("invalid option -o %s: want scheme.key=value for one of %s", o, strings.Join(r.names(), ", "))
		}
		if prefix == s.Name {
			mine[key] = v
		}
	}
	return s.Open(ctx, loc, mine, env)
}

func (r *Registry) names() []string {
	var n []string
	for _, s := range r.schemes {
		n = append(n, s.Name)
	}
	slices.Sort(n)
	return n
}
