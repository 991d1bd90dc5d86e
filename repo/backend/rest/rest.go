// Package rest stores a repository on a server that speaks restic's REST
// protocol, version 2 (rest-server, rclone serve restic, cairn's own
// server). It owns the protocol client: the paths of files and listings,
// the checks of what the server answers (sizes, ranges, listings are never
// trusted), basic authentication with a password kept out of every
// message, and the append-only flag cairn's server reports. The rclone
// backend reuses the client over its child's pipes through New.
package rest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
)

// ContentTypeV2 is what a listing is asked for and answered in.
const ContentTypeV2 = "application/vnd.x.restic.rest.v2"

// AppendOnlyHeader is the response header with which cairn's server says
// the user's access is append-only ("true"); it comes with every response.
const AppendOnlyHeader = "Cairn-Append-Only"

// PasswordEnv holds the password of the user named in a rest: location
// when neither the location nor -o rest.password-file gives one.
const PasswordEnv = "CAIRN_REST_PASSWORD"

// Config says where the server is and how to reach it.
type Config struct {
	// URL is the repository's base URL, http or https, without user
	// information; its path ends in a slash.
	URL *url.URL
	// User and Password are sent as HTTP basic authentication when User
	// is set.
	User, Password string
	// CACert, if set, is a PEM file of the certificate authorities that
	// alone are trusted for https (a private CA).
	CACert string
	// Connections bounds concurrent requests (default 5).
	Connections int
	// passwordFromURL: the location held the password (another source
	// of one is a conflict).
	passwordFromURL bool
}

// ParseURL parses rest:http[s]://[user[:password]@]host[:port]/path/.
func ParseURL(s string) (Config, error) {
	var c Config
	shown := backend.Redact(s)
	raw, ok := strings.CutPrefix(s, "rest:")
	if !ok {
		return c, fmt.Errorf("rest location %q: want rest:https://host:port/path/", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the input, password and all.
		return c, fmt.Errorf("rest location %q: not a URL", shown)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return c, fmt.Errorf("rest location %q: want rest:http[s]://host[:port]/path/", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return c, fmt.Errorf("rest location %q: a query or fragment is not allowed", shown)
	}
	if strings.Contains(u.Path, "@") || strings.Contains(u.Host, "@") {
		return c, fmt.Errorf("rest location %q: a password with / ? or # in it must be percent-encoded (%%2F %%3F %%23), or given by CAIRN_REST_PASSWORD or -o rest.password-file", shown)
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Password, c.passwordFromURL = u.User.Password()
		if c.User == "" {
			return c, fmt.Errorf("rest location %q: a password needs a user (rest:https://user:password@host/path/)", shown)
		}
		u.User = nil
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	c.URL = u
	return c, nil
}

// ApplyOption sets a -o rest.* option (key with its "rest." prefix).
func (c *Config) ApplyOption(key, value string) error {
	switch key {
	case "rest.password-file":
		if c.passwordFromURL {
			return errors.New("-o rest.password-file: the location already holds a password; give it one way")
		}
		b, err := os.ReadFile(value)
		if err != nil {
			return fmt.Errorf("-o rest.password-file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" || strings.ContainsAny(pw, "\r\n") {
			return fmt.Errorf("-o rest.password-file=%s: want one line holding the password", value)
		}
		c.Password = pw
	case "rest.cacert":
		c.CACert = value
	case "rest.connections":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 128 {
			return fmt.Errorf("-o rest.connections=%s: want a number from 1 to 128", value)
		}
		c.Connections = n
	default:
		return fmt.Errorf("unknown option -o %s for a rest repository (known: rest.password-file, rest.cacert, rest.connections)", key)
	}
	return nil
}

// PasswordFromEnv fills in the password from getenv(PasswordEnv) when no
// other source gave one.
func (c *Config) PasswordFromEnv(getenv func(string) string) {
	if c.Password == "" && getenv != nil {
		c.Password = getenv(PasswordEnv)
	}
}

// Transport returns the HTTP transport for cfg: bounded dial, TLS and
// header timeouts, connection reuse, TLS 1.2 at least and only cfg's CAs
// when it names a file.
func Transport(cfg Config) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("-o rest.cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-o rest.cacert=%s: no PEM certificate in it", cfg.CACert)
		}
		tc.RootCAs = pool
	}
	conns := cfg.Connections
	if conns <= 0 {
		conns = defaultConnections
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute, // a server may sync a large file first
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   conns,
		ForceAttemptHTTP2:     true,
	}, nil
}

// Open returns a backend for cfg (lazily: no request is made yet).
func Open(cfg Config) (*Backend, error) {
	tr, err := Transport(cfg)
	if err != nil {
		return nil, err
	}
	shown := *cfg.URL
	if cfg.User != "" {
		shown.User = url.User(cfg.User)
	}
	return New(&http.Client{Transport: tr}, cfg.URL, Settings{
		Location:    "rest:" + shown.String(),
		User:        cfg.User,
		Password:    cfg.Password,
		Connections: cfg.Connections,
	})
}

const defaultConnections = 5

// Settings are what New needs beside the client and the URL.
type Settings struct {
	// Location is what Location returns; it must hold no secret.
	Location string
	// User and Password, when User is set, go with every request as
	// HTTP basic authentication.
	User, Password string
	// Connections bounds concurrent requests (default 5).
	Connections int
	// Explain, if set, is given every error of the transport (not of a
	// status the server answered) and returns the error to report: the
	// rclone backend adds why its child died.
	Explain func(error) error
}

// Backend is a repository on a REST server.
type Backend struct {
	client     *http.Client
	base       *url.URL
	set        Settings
	sem        chan struct{}
	appendOnly atomic.Bool
}

// New returns a backend that speaks the protocol through client to the
// repository at base (http or https, no user information; a missing
// final slash is added). Redirects are not followed: one is an error.
func New(client *http.Client, base *url.URL, s Settings) (*Backend, error) {
	if base == nil || base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, errors.New("rest: want an http or https base URL")
	}
	if base.User != nil {
		return nil, errors.New("rest: the base URL must not hold credentials; pass them in Settings")
	}
	u := *base
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	if s.Location == "" {
		s.Location = "rest:" + u.String()
	}
	if s.Connections <= 0 {
		s.Connections = defaultConnections
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Backend{client: &c, base: &u, set: s, sem: make(chan struct{}, s.Connections)}, nil
}

// Location returns the location without the password.
func (b *Backend) Location() string { return b.set.Location }

// AppendOnly reports whether the server said (Cairn-Append-Only: true in
// any response so far) that this user may only add files: removing or
// replacing them will be refused. It is known after the first request.
func (b *Backend) AppendOnly() bool { return b.appendOnly.Load() }

// url returns the URL of h, or of the listing of a type when name is "".
func (b *Backend) url(h backend.Handle) string {
	if h.Type == backend.ConfigFile {
		return b.base.JoinPath("config").String()
	}
	u := b.base.JoinPath(h.Type.String())
	u.Path += "/" + h.Name
	u.RawPath = ""
	return u.String()
}

func (b *Backend) listURL(t backend.FileType) string {
	u := b.base.JoinPath(t.String())
	u.Path += "/"
	u.RawPath = ""
	return u.String()
}

// checkName refuses names that would not stay one path element.
func checkName(h backend.Handle) error {
	if h.Type == backend.ConfigFile {
		return nil
	}
	if h.Name == "" || h.Name == "." || h.Name == ".." || strings.ContainsAny(h.Name, "/\\?#%") {
		return fmt.Errorf("%s: invalid file name %q", h.Type, h.Name)
	}
	return nil
}

// do sends one request; the caller closes the body of a non-nil response.
// The slot of the connection bound is held until release is called.
func (b *Backend) do(ctx context.Context, method, u string, body io.Reader, size int64, hdr http.Header) (*http.Response, func(), error) {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	release := func() { <-b.sem }
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		release()
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = size
		if sr, ok := body.(*io.SectionReader); ok {
			req.GetBody = func() (io.ReadCloser, error) {
				return io.NopCloser(io.NewSectionReader(sr, 0, size)), nil
			}
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if b.set.User != "" {
		req.SetBasicAuth(b.set.User, b.set.Password)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		release()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if b.set.Explain != nil {
			err = b.set.Explain(err)
		}
		return nil, nil, err
	}
	if v := resp.Header.Get(AppendOnlyHeader); strings.EqualFold(strings.TrimSpace(v), "true") {
		b.appendOnly.Store(true)
	}
	return resp, release, nil
}

// drain reads a little of a body before closing it so the connection can
// be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
}

// statusError turns a status that is not success into an error: 404
// wraps fs.ErrNotExist, 401 and 403 wrap fs.ErrPermission. A few bytes of
// the body, made printable, say what the server said.
func (b *Backend) statusError(resp *http.Response) error {
	msg := ""
	if resp.Request == nil || resp.Request.Method != http.MethodHead {
		p, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		msg = printable(strings.TrimSpace(string(p)))
	}
	status := printable(resp.Status)
	if msg != "" {
		status += ": " + msg
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w (server answered %s)", fs.ErrNotExist, status)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: the server refused the credentials (%s): check the user in the location and the password", fs.ErrPermission, status)
	case http.StatusForbidden:
		why := "the user may not do this"
		if b.AppendOnly() || resp.Header.Get(AppendOnlyHeader) != "" {
			why = "the repository is append-only for this user"
		}
		switch resp.Request.Method {
		case http.MethodDelete:
			return fmt.Errorf("%w: the server refused to delete (%s): %s", fs.ErrPermission, status, why)
		case http.MethodPost:
			return fmt.Errorf("%w: the server refused to write (%s): %s", fs.ErrPermission, status, why)
		}
		return fmt.Errorf("%w: the server refused access (%s)", fs.ErrPermission, status)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fmt.Errorf("server answered %s; redirects are not followed: give the final URL", status)
	}
	return fmt.Errorf("server answered %s", status)
}

// printable replaces control bytes and invalid UTF-8 of server text.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\uFFFD' || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

func ok(code int) bool { return code >= 200 && code < 300 }

// Create makes the repository's directories (POST /?create=true); it
// fails with fs.ErrExist if the repository has a config.
func (b *Backend) Create(ctx context.Context) error {
	if _, err := b.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return fmt.Errorf("create repository %s: %w", b.Location(), fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create repository %s: %w", b.Location(), err)
	}
	u := *b.base
	u.RawQuery = "create=true"
	resp, release, err := b.do(ctx, http.MethodPost, u.String(), nil, 0, nil)
	if err != nil {
		return fmt.Errorf("create repository %s: %w", b.Location(), err)
	}
	defer release()
	defer drain(resp)
	if !ok(resp.StatusCode) {
		return fmt.Errorf("create repository %s: %w", b.Location(), b.statusError(resp))
	}
	return nil
}

// Save stores h unless it exists: it asks first (HEAD) and fails with
// fs.ErrExist for an existing file, then POSTs it. (Between the two
// another client could save the name; the content is its hash, so both
// write the same bytes.)
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	if err := checkName(h); err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	_, err := b.Stat(ctx, h)
	if err == nil {
		return fmt.Errorf("save %s: %w", h, fs.ErrExist)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save %s: %w", h, err)
	}
	return b.post(ctx, "save", h, rd, size)
}

// Replace stores h, replacing it if it exists: the servers write to a
// temporary file and rename it, so readers see old or new content.
func (b *Backend) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	if err := checkName(h); err != nil {
		return fmt.Errorf("replace %s: %w", h, err)
	}
	return b.post(ctx, "replace", h, rd, size)
}

func (b *Backend) post(ctx context.Context, op string, h backend.Handle, rd io.ReaderAt, size int64) error {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, release, err := b.do(ctx, http.MethodPost, b.url(h), io.NewSectionReader(rd, 0, size), size, hdr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, h, err)
	}
	defer release()
	defer drain(resp)
	if !ok(resp.StatusCode) {
		return fmt.Errorf("%s %s: %w", op, h, b.statusError(resp))
	}
	return nil
}

// errRange marks an answer that is not the bytes asked for.
var errRange = errors.New("server sent other bytes than asked for")

// Load reads length bytes of h from offset (length 0: to the end) with a
// Range header, and checks the answer is exactly that range: a 206 with
// the asked Content-Range and as many bytes, never fewer or more (a server
// that ignores the range, sends a longer body or lies about its length is
// an error, not something to cut to size).
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := checkName(h); err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	if length < 0 || offset < 0 {
		return fmt.Errorf("load %s: negative range (%d bytes at %d)", h, length, offset)
	}
	hdr := http.Header{}
	ranged := length > 0 || offset > 0
	if ranged {
		r := fmt.Sprintf("bytes=%d-", offset)
		if length > 0 {
			r += strconv.FormatInt(offset+int64(length)-1, 10)
		}
		hdr.Set("Range", r)
	}
	resp, release, err := b.do(ctx, http.MethodGet, b.url(h), nil, 0, hdr)
	if err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	defer release()
	defer drain(resp)
	want := int64(-1) // bytes the body must hold; -1: as the server says
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("load %s: %d bytes at %d: beyond the end of the file: %w", h, length, offset, io.ErrUnexpectedEOF)
	case !ok(resp.StatusCode):
		return fmt.Errorf("load %s: %w", h, b.statusError(resp))
	case ranged:
		if resp.StatusCode != http.StatusPartialContent {
			return fmt.Errorf("load %s: %w: asked for a range, got %s and the whole file", h, errRange, printable(resp.Status))
		}
		start, end, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if errors.Is(err, errPastEnd) {
			return fmt.Errorf("load %s: %d bytes at %d: beyond the end of the file: %w", h, length, offset, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return fmt.Errorf("load %s: %w: %w", h, errRange, err)
		}
		if start != offset {
			return fmt.Errorf("load %s: %w: asked from byte %d, got from %d", h, errRange, offset, start)
		}
		want = end - start + 1
		if length > 0 && want != int64(length) {
			if want < int64(length) && total >= 0 && end == total-1 {
				return fmt.Errorf("load %s: %d bytes at %d: the file ends after %d: %w", h, length, offset, want, io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("load %s: %w: asked for %d bytes, server says %d", h, errRange, length, want)
		}
		if length == 0 && total >= 0 && end != total-1 {
			return fmt.Errorf("load %s: %w: asked to the end (%d), got to %d", h, errRange, total-1, end)
		}
	default:
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("load %s: unexpected answer %s", h, printable(resp.Status))
		}
	}
	if resp.ContentLength >= 0 {
		if want >= 0 && resp.ContentLength != want {
			return fmt.Errorf("load %s: %w: the range holds %d bytes, the body %d", h, errRange, want, resp.ContentLength)
		}
		want = resp.ContentLength
	}
	var r io.Reader = resp.Body
	er := &exactReader{r: resp.Body, n: want}
	if want >= 0 {
		r = er
	}
	if err := fn(r); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("load %s: %w", h, ctx.Err())
		}
		if b.set.Explain != nil && !errors.Is(err, errRange) && !errors.Is(err, io.ErrUnexpectedEOF) {
			err = b.set.Explain(err)
		}
		return fmt.Errorf("load %s: %w", h, err)
	}
	// fn read all it was promised: the body must end there.
	if want >= 0 && er.n == 0 {
		if err := er.checkEnd(); err != nil {
			return fmt.Errorf("load %s: %w", h, err)
		}
	}
	return nil
}

var errPastEnd = errors.New("range starts past the end of the file")

// parseContentRange parses "bytes start-end/total" (total may be "*":
// -1).
func parseContentRange(s string) (start, end, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", printable(s))
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, z, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(z, 10, 64)
	total = -1
	var err3 error
	if tot != "*" {
		total, err3 = strconv.ParseInt(tot, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || start < 0 {
		return 0, 0, 0, bad
	}
	if total >= 0 && start >= total {
		// rclone answers a range past the end so ("bytes 9-4/5").
		return 0, 0, 0, errPastEnd
	}
	if end < start || total >= 0 && end >= total {
		return 0, 0, 0, bad
	}
	return start, end, total, nil
}

// exactReader gives n bytes of r and fails if r holds fewer or more.
type exactReader struct {
	r    io.Reader
	n    int64
	read int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n == 0 {
		if err := e.checkEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	k, err := e.r.Read(p)
	e.n -= int64(k)
	e.read += int64(k)
	if err == io.EOF && e.n > 0 {
		return k, fmt.Errorf("%w after %d bytes, %d short", io.ErrUnexpectedEOF, e.read, e.n)
	}
	if err == io.EOF {
		err = nil
	}
	return k, err
}

// checkEnd fails if r holds a byte beyond the n promised.
func (e *exactReader) checkEnd() error {
	var one [1]byte
	for {
		k, err := e.r.Read(one[:])
		if k > 0 {
			return fmt.Errorf("%w: the body is longer than the %d bytes it should hold", errRange, e.read)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Stat returns the size of h (HEAD and its Content-Length).
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := checkName(h); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, err)
	}
	resp, release, err := b.do(ctx, http.MethodHead, b.url(h), nil, 0, nil)
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, err)
	}
	defer release()
	defer drain(resp)
	if !ok(resp.StatusCode) {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, b.statusError(resp))
	}
	if resp.ContentLength < 0 {
		return backend.FileInfo{}, fmt.Errorf("stat %s: the server gave no Content-Length", h)
	}
	fi := backend.FileInfo{Name: h.Name, Size: resp.ContentLength}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		fi.ModTime = t
	}
	return fi, nil
}

// Remove deletes h.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if err := checkName(h); err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	resp, release, err := b.do(ctx, http.MethodDelete, b.url(h), nil, 0, nil)
	if err != nil {
		return fmt.Errorf("remove %s: %w", h, err)
	}
	defer release()
	defer drain(resp)
	if !ok(resp.StatusCode) {
		return fmt.Errorf("remove %s: %w", h, b.statusError(resp))
	}
	return nil
}

// maxListName bounds a listed name (names are hex IDs).
const maxListName = 256

// List calls fn for each file of type t, decoding the server's JSON array
// one entry at a time: a listing of any length costs one entry's memory.
// An entry whose name isn't one path element, or whose size is negative,
// is an error, as is anything but a v2 array of {"name","size"}.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if t == backend.ConfigFile {
		return fmt.Errorf("list %s: not a directory", t)
	}
	hdr := http.Header{"Accept": {ContentTypeV2}}
	resp, release, err := b.do(ctx, http.MethodGet, b.listURL(t), nil, 0, hdr)
	if err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	defer release()
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound && t == backend.ParityFile {
		return nil // no parity file yet
	}
	if !ok(resp.StatusCode) {
		return fmt.Errorf("list %s: %w", t, b.statusError(resp))
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != ContentTypeV2 {
		return fmt.Errorf("list %s: the server answered %q, not %s: it does not speak version 2 of the REST protocol", t, printable(ct), ContentTypeV2)
	}
	// Each entry is small: a hostile server's giant one (a name of
	// gigabytes, deep nesting) is cut off at perEntry bytes read.
	lim := &entryLimit{r: resp.Body}
	dec := json.NewDecoder(lim)
	bad := func(err error) error { return fmt.Errorf("list %s: bad listing from the server: %w", t, err) }
	if tok, err := dec.Token(); err != nil {
		return bad(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '[' {
		return bad(errors.New("not a JSON array"))
	}
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var e struct {
			Name *string `json:"name"`
			Size *int64  `json:"size"`
		}
		lim.reset()
		if err := dec.Decode(&e); err != nil {
			return bad(err)
		}
		if e.Name == nil || e.Size == nil {
			return bad(errors.New("an entry lacks its name or size"))
		}
		if err := checkName(backend.Handle{Type: t, Name: *e.Name}); err != nil || len(*e.Name) > maxListName {
			return bad(fmt.Errorf("entry name %q", printable(*e.Name)))
		}
		if *e.Size < 0 {
			return bad(fmt.Errorf("entry %s has size %d", *e.Name, *e.Size))
		}
		if err := fn(backend.FileInfo{Name: *e.Name, Size: *e.Size}); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad(errors.New("data after the array"))
	}
	return nil
}

// Close drops idle connections.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

// perEntry bounds the bytes a listing may take per entry (a name is at
// most maxListName bytes; the decoder reads ahead a buffer's worth).
const perEntry = 64 << 10

// entryLimit fails a read once perEntry bytes were read since reset.
type entryLimit struct {
	r io.Reader
	n int
}

func (l *entryLimit) reset() { l.n = 0 }

func (l *entryLimit) Read(p []byte) (int, error) {
	if l.n >= perEntry {
		return 0, errors.New("a listing entry longer than 64 KiB")
	}
	if len(p) > perEntry-l.n {
		p = p[:perEntry-l.n]
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}
