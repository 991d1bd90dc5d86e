// Package server is cairn's repository server: restic's REST protocol v2
// (the same paths, methods, headers and listing format, plus cairn's
// parity file type) in front of any backend, for one or many
// repositories, with users from an htpasswd file (bcrypt), private
// repositories, append-only access per server or per user, a size quota
// per repository, request limits, an access log and Prometheus metrics.
//
// Append-only access is what keeps a compromised client from destroying
// its own backups: such a user can create files but never delete or
// overwrite one, except the lock files it wrote itself (a client must be
// able to refresh and release its own lock, and must not remove
// another's). Every denied request is logged and counted.
//
// The server trusts nothing it is sent: repository paths are checked
// segment by segment before they reach the storage, file names must be
// 64 lowercase hex characters, uploads are bounded and content-addressed
// files must hash to their names.
package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
)

// AppendOnlyHeader is set on every response to a user whose access is
// append-only, so a cairn client can refuse maintenance before starting
// it instead of failing half-way.
const AppendOnlyHeader = "Cairn-Append-Only"

// Opener opens the storage of the repository at path (slash-separated,
// already checked: non-empty segments of safe characters; "" is the
// root repository).
type Opener func(ctx context.Context, path string) (backend.Backend, error)

// Options configure a Server.
type Options struct {
	// Open opens a repository's storage.
	Open Opener
	// Users are the accounts; a request without valid credentials for
	// one of them is refused.
	Users *Users
	// AppendOnly makes every user append-only.
	AppendOnly bool
	// PrivateRepos restricts a user to the repositories under /USER/.
	PrivateRepos bool
	// MaxRepoSize is a quota per repository in bytes (0: none).
	MaxRepoSize int64
	// MaxUploadSize bounds one upload (0: 1 GiB).
	MaxUploadSize int64
	// TempDir holds uploads while they arrive ("": os.TempDir).
	TempDir string
	// AccessLog gets one line per request (nil: none).
	AccessLog io.Writer
	// Metrics counts requests (nil: not counted).
	Metrics *Metrics
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Server is an http.Handler serving repositories.
type Server struct {
	o     Options
	mu    sync.Mutex
	repos map[string]*repository
	logMu sync.Mutex
	// uploads bounds the uploads in flight; auth bounds the password
	// checks running at once (bcrypt is costly by design).
	uploads chan struct{}
	auth    chan struct{}
}

// lockOwners remembers which user wrote each lock file of a repository
// since the server started, so an append-only user can remove and
// refresh its own locks but not another client's (which would let a
// server-side prune run under a backup in progress). A lock written
// before a restart has no known owner: only a user with full access, or
// maintenance on the server side, removes it (it goes stale in 30
// minutes).
type lockOwners struct {
	mu    sync.Mutex
	owner map[string]string
}

func (l *lockOwners) get(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.owner[name]
}

func (l *lockOwners) set(name, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if user == "" {
		delete(l.owner, name)
		return
	}
	l.owner[name] = user
}

// repository is an opened repository's storage and, with a quota, its
// current size.
type repository struct {
	be      backend.Backend
	locks   lockOwners
	sizeMu  sync.Mutex
	size    int64
	counted bool
}

// New returns a server.
func New(o Options) (*Server, error) {
	if o.Open == nil {
		return nil, errors.New("serve: no storage")
	}
	if o.Users == nil || o.Users.Len() == 0 {
		return nil, errors.New("serve: no users (an htpasswd file with at least one user is required)")
	}
	if o.MaxUploadSize <= 0 {
		o.MaxUploadSize = 1 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{o: o, repos: map[string]*repository{}, uploads: make(chan struct{}, maxUploads),
		auth: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}, nil
}

// Close closes the storage of every repository opened.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, r := range s.repos {
		errs = append(errs, backend.Close(r.be))
	}
	s.repos = map[string]*repository{}
	return errors.Join(errs...)
}

// maxUploads bounds the uploads in flight (each holds a temporary file).
const maxUploads = 64

// types maps the protocol's path segments to file types.
var types = map[string]backend.FileType{
	"data": backend.PackFile, "keys": backend.KeyFile, "locks": backend.LockFile,
	"snapshots": backend.SnapshotFile, "index": backend.IndexFile, "parity": backend.ParityFile,
}

// request is a parsed request path.
type request struct {
	repo string // "" or "a/b"
	// what is "config", a type name, or "" for the repository itself.
	what string
	name string
	typ  backend.FileType
}

// maxRepoDepth bounds the segments of a repository's path.
const maxRepoDepth = 8

// errBadPath is a path that names nothing the protocol has.
var errBadPath = errors.New("bad path")

// parsePath splits /REPO.../config, /REPO.../TYPE/ and
// /REPO.../TYPE/NAME, and / or /REPO/ (repository creation).
func parsePath(p string) (request, error) {
	if !strings.HasPrefix(p, "/") || len(p) > 1024 {
		return request{}, errBadPath
	}
	segs := strings.Split(p[1:], "/")
	trailing := segs[len(segs)-1] == ""
	if trailing {
		segs = segs[:len(segs)-1]
	}
	for _, s := range segs {
		if !safeSegment(s) {
			return request{}, errBadPath
		}
	}
	n := len(segs)
	// A repository's own path may not name a file type or the config,
	// so no repository lies inside another's directories (whose
	// listings would then show the inner one's files), and its depth is
	// bounded.
	repoSegs := segs
	switch {
	case n >= 1 && segs[n-1] == "config" && !trailing, n >= 1 && trailing && types[segs[n-1]] != 0:
		repoSegs = segs[:n-1]
	case n >= 2 && !trailing && types[segs[n-2]] != 0:
		repoSegs = segs[:n-2]
	}
	if len(repoSegs) > maxRepoDepth {
		return request{}, errBadPath
	}
	for _, s := range repoSegs {
		if s == "config" || types[s] != 0 {
			return request{}, errBadPath
		}
	}
	switch {
	case n >= 1 && segs[n-1] == "config" && !trailing:
		return request{repo: strings.Join(segs[:n-1], "/"), what: "config", typ: backend.ConfigFile}, nil
	case n >= 1 && trailing && types[segs[n-1]] != 0:
		return request{repo: strings.Join(segs[:n-1], "/"), what: segs[n-1], typ: types[segs[n-1]]}, nil
	case n >= 2 && !trailing && types[segs[n-2]] != 0:
		if !isID(segs[n-1]) {
			return request{}, errBadPath
		}
		return request{repo: strings.Join(segs[:n-2], "/"), what: segs[n-2], name: segs[n-1], typ: types[segs[n-2]]}, nil
	case trailing || n == 0:
		return request{repo: strings.Join(segs, "/")}, nil
	}
	return request{}, errBadPath
}

// safeSegment allows letters, digits, '-', '_' and '.', not first: no
// "..", no hidden names, nothing a file system treats specially.
func safeSegment(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// status carries an HTTP status with its reason, for the log.
type status struct {
	code   int
	reason string
	denied bool
}

func (e *status) Error() string { return e.reason }

func deny(format string, args ...any) error {
	return &status{code: http.StatusForbidden, reason: fmt.Sprintf(format, args...), denied: true}
}

func fail(code int, format string, args ...any) error {
	return &status{code: code, reason: fmt.Sprintf(format, args...)}
}

// ServeHTTP handles one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.o.Now()
	rw := &recorder{ResponseWriter: w, code: http.StatusOK}
	// The path is parsed first only to label the request; nothing is
	// done before the user is known.
	req, perr := parsePath(r.URL.Path)
	if strings.Contains(strings.ToLower(r.URL.RawPath), "%2f") {
		perr = errBadPath
	}
	user, err := s.authenticate(r)
	if err == nil {
		if s.appendOnly(user) {
			rw.Header().Set(AppendOnlyHeader, "true")
		}
		switch {
		case r.URL.Path == "/metrics" && s.o.Metrics != nil:
			s.o.Metrics.handler.ServeHTTP(rw, r)
		case perr != nil:
			err = fail(http.StatusNotFound, "%v", perr)
		default:
			err = s.handle(rw, r, user, req)
		}
	}
	var st *status
	if err != nil {
		if !errors.As(err, &st) {
			st = &status{code: http.StatusInternalServerError, reason: err.Error()}
			if errors.Is(err, fs.ErrNotExist) {
				st = &status{code: http.StatusNotFound, reason: "not found"}
			}
		}
		if st.code == http.StatusUnauthorized {
			rw.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
		}
		if !rw.wrote {
			msg := st.reason
			if st.code == http.StatusInternalServerError {
				// The details (paths of the server, say) go to the log.
				msg = "internal server error"
			}
			http.Error(rw, msg, st.code)
		}
	}
	s.record(r, user, req, rw, st, start)
}

// record writes the access log line and counts the request.
func (s *Server) record(r *http.Request, user string, req request, rw *recorder, st *status, start time.Time) {
	reason := ""
	if st != nil {
		reason = st.reason
	}
	if s.o.Metrics != nil {
		s.o.Metrics.count(r.Method, req.what, rw.code, rw.bytes, r.ContentLength, st)
	}
	if s.o.AccessLog == nil {
		return
	}
	if user == "" {
		user = "-"
	}
	line := fmt.Sprintf("%s %s %s %s %q %d %d %s", start.UTC().Format(time.RFC3339), remoteHost(r), user, r.Method,
		r.URL.Path, rw.code, rw.bytes, s.o.Now().Sub(start).Round(time.Millisecond))
	if st != nil && st.denied {
		line += fmt.Sprintf(" denied: %s", reason)
	} else if reason != "" {
		line += fmt.Sprintf(" error: %s", reason)
	}
	s.logMu.Lock()
	fmt.Fprintln(s.o.AccessLog, line)
	s.logMu.Unlock()
}

func remoteHost(r *http.Request) string {
	if i := strings.LastIndex(r.RemoteAddr, ":"); i > 0 {
		return r.RemoteAddr[:i]
	}
	return r.RemoteAddr
}

func (s *Server) appendOnly(user string) bool {
	return s.o.AppendOnly || s.o.Users.AppendOnly(user)
}

func (s *Server) authenticate(r *http.Request) (string, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", &status{code: http.StatusUnauthorized, reason: "no credentials", denied: true}
	}
	select {
	case s.auth <- struct{}{}:
	case <-r.Context().Done():
		return "", r.Context().Err()
	}
	ok = s.o.Users.Check(user, pass)
	<-s.auth
	if !ok {
		return "", &status{code: http.StatusUnauthorized, reason: fmt.Sprintf("wrong credentials for user %q", user), denied: true}
	}
	return user, nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, user string, req request) error {
	if s.o.PrivateRepos {
		first, _, _ := strings.Cut(req.repo, "/")
		if first != user {
			return deny("user %s may only reach /%s/", user, user)
		}
	}
	creating := req.what == "" && r.Method == http.MethodPost && r.URL.Query().Get("create") == "true"
	repo, err := s.repository(r.Context(), req.repo, creating)
	if err != nil {
		return err
	}
	switch {
	case req.what == "":
		if r.Method == http.MethodPost && r.URL.Query().Get("create") == "true" {
			return s.create(r.Context(), w, repo)
		}
		return fail(http.StatusNotFound, "no such resource")
	case req.name == "" && req.what != "config":
		if r.Method != http.MethodGet {
			return fail(http.StatusMethodNotAllowed, "method %s not allowed on a listing", r.Method)
		}
		return s.list(r.Context(), w, r, repo, req.typ)
	}
	h := backend.Handle{Type: req.typ, Name: req.name}
	switch r.Method {
	case http.MethodHead:
		fi, err := repo.be.Stat(r.Context(), h)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size, 10))
		return nil
	case http.MethodGet:
		return s.get(r.Context(), w, r, repo, h)
	case http.MethodPost:
		return s.save(r.Context(), w, r, user, repo, h)
	case http.MethodDelete:
		return s.remove(r.Context(), user, repo, h)
	}
	return fail(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
}

// maxRepos bounds the repositories a server keeps open.
const maxRepos = 10000

// repository returns the opened storage of path, opening it once. Only a
// repository that exists (it has a config or a key file) is opened,
// unless it is being created: writing to a new path doesn't make one.
func (s *Server) repository(ctx context.Context, path string, create bool) (*repository, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[path]; r != nil {
		return r, nil
	}
	if len(s.repos) >= maxRepos {
		return nil, fail(http.StatusServiceUnavailable, "too many repositories open")
	}
	be, err := s.o.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open repository /%s: %w", path, err)
	}
	if !create {
		ok, err := exists(ctx, be)
		if err != nil || !ok {
			_ = backend.Close(be)
			if err != nil {
				return nil, fmt.Errorf("open repository /%s: %w", path, err)
			}
			return nil, fail(http.StatusNotFound, "no repository at /%s (POST /%s/?create=true makes one)", path, path)
		}
	}
	r := &repository{be: be, locks: lockOwners{owner: map[string]string{}}}
	s.repos[path] = r
	return r, nil
}

// exists reports whether be holds a repository: a config, or a key
// file (init writes the key first).
func exists(ctx context.Context, be backend.Backend) (bool, error) {
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	found := false
	err := be.List(ctx, backend.KeyFile, func(backend.FileInfo) error {
		found = true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return found, nil
}

var errStop = errors.New("stop")

func (s *Server) create(ctx context.Context, w http.ResponseWriter, repo *repository) error {
	if c, ok := repo.be.(backend.Creator); ok {
		if err := c.Create(ctx); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type listEntry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// list streams the listing of type t as a JSON array, entry by entry, so
// a large repository costs no memory. An error once the listing started
// aborts the response, which the client sees as a broken listing.
func (s *Server) list(ctx context.Context, w http.ResponseWriter, r *http.Request, repo *repository, t backend.FileType) error {
	v2 := r.Header.Get("Accept") == "application/vnd.x.restic.rest.v2"
	if v2 {
		w.Header().Set("Content-Type", "application/vnd.x.restic.rest.v2")
	} else {
		w.Header().Set("Content-Type", "application/vnd.x.restic.rest.v1")
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	started := false
	err := repo.be.List(ctx, t, func(fi backend.FileInfo) error {
		sep := byte(',')
		if !started {
			started, sep = true, '['
		}
		var b []byte
		var err error
		if v2 {
			b, err = json.Marshal(listEntry{Name: fi.Name, Size: fi.Size})
		} else {
			b, err = json.Marshal(fi.Name)
		}
		if err != nil {
			return err
		}
		if err := bw.WriteByte(sep); err != nil {
			return err
		}
		_, err = bw.Write(b)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		if started {
			panic(http.ErrAbortHandler)
		}
		return err
	}
	if !started {
		_ = bw.WriteByte('[')
	}
	_, _ = bw.WriteString("]\n")
	return bw.Flush()
}

// get serves h, or the part a Range header asks for.
func (s *Server) get(ctx context.Context, w http.ResponseWriter, r *http.Request, repo *repository, h backend.Handle) error {
	fi, err := repo.be.Stat(ctx, h)
	if err != nil {
		return err
	}
	offset, length := int64(0), fi.Size
	code := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		offset, length, err = parseRange(rg, fi.Size)
		if err != nil {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", fi.Size))
			return fail(http.StatusRequestedRangeNotSatisfiable, "%v", err)
		}
		code = http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, fi.Size))
	}
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	w.Header().Set("Accept-Ranges", "bytes")
	if length == 0 {
		w.WriteHeader(code)
		return nil
	}
	started := false
	err = repo.be.Load(ctx, h, int(length), offset, func(rd io.Reader) error {
		if started {
			return errors.New("a retried read can't be sent again")
		}
		started = true
		w.WriteHeader(code)
		_, err := io.Copy(w, io.LimitReader(rd, length))
		return err
	})
	return err
}

// parseRange parses "bytes=A-B", "bytes=A-" or "bytes=-N" for a file of
// size bytes.
func parseRange(rg string, size int64) (offset, length int64, err error) {
	spec, ok := strings.CutPrefix(rg, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, fmt.Errorf("unsupported range %q", rg)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, fmt.Errorf("bad range %q", rg)
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, fmt.Errorf("bad range %q", rg)
		}
		n = min(n, size)
		return size - n, n, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, fmt.Errorf("range %q outside the file of %d bytes", rg, size)
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return 0, 0, fmt.Errorf("bad range %q", rg)
		}
		end = min(end, size-1)
	}
	return start, end - start + 1, nil
}

// contentAddressed types are named by the SHA-256 of their bytes.
func contentAddressed(t backend.FileType) bool {
	return t == backend.PackFile || t == backend.IndexFile || t == backend.SnapshotFile
}

// save stores an upload: streamed to a temporary file (bounded, checked
// against its name) and then saved, replacing an existing file only for
// a user who is not append-only.
func (s *Server) save(ctx context.Context, w http.ResponseWriter, r *http.Request, user string, repo *repository, h backend.Handle) error {
	if r.ContentLength < 0 {
		return fail(http.StatusLengthRequired, "upload of %s without a Content-Length", h)
	}
	if r.ContentLength > s.o.MaxUploadSize {
		return fail(http.StatusRequestEntityTooLarge, "upload of %d bytes is larger than the limit of %d", r.ContentLength, s.o.MaxUploadSize)
	}
	// Bounded uploads at once: each holds a temporary file.
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	case <-ctx.Done():
		return ctx.Err()
	}
	old, statErr := repo.be.Stat(ctx, h)
	exists := statErr == nil
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return statErr
	}
	if exists && s.appendOnly(user) {
		if h.Type != backend.LockFile {
			return deny("%s exists; append-only access can't overwrite it", h)
		}
		if owner := repo.locks.get(h.Name); owner != user {
			return deny("%s is not this client's lock; append-only access can't overwrite it", h)
		}
	}
	// The quota is reserved before the body is read, so a repository
	// over its quota costs no temporary space.
	var oldSize int64
	if exists {
		oldSize = old.Size
	}
	if err := s.reserve(ctx, repo, charge(r.ContentLength)-charge(oldSize)); err != nil {
		return err
	}
	reserved := true
	defer func() {
		if reserved {
			s.release(repo, charge(r.ContentLength)-charge(oldSize))
		}
	}()
	tmp, err := os.CreateTemp(s.o.TempDir, "cairn-serve-upload-")
	if err != nil {
		return fmt.Errorf("upload %s: %w", h, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), http.MaxBytesReader(w, r.Body, s.o.MaxUploadSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "upload of %s is larger than the limit of %d bytes", h, s.o.MaxUploadSize)
		}
		return fail(http.StatusBadRequest, "upload of %s: %v", h, err)
	}
	if n != r.ContentLength {
		return fail(http.StatusBadRequest, "upload of %s: %d bytes, announced %d", h, n, r.ContentLength)
	}
	if contentAddressed(h.Type) && hex.EncodeToString(sum.Sum(nil)) != h.Name {
		return fail(http.StatusBadRequest, "upload of %s: content does not match its name", h)
	}
	if exists {
		err = repo.be.Replace(ctx, h, tmp, n)
	} else {
		err = repo.be.Save(ctx, h, tmp, n)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) && s.appendOnly(user) {
			return deny("%s exists; append-only access can't overwrite it", h)
		}
		return err
	}
	reserved = false
	if h.Type == backend.LockFile {
		repo.locks.set(h.Name, user)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) remove(ctx context.Context, user string, repo *repository, h backend.Handle) error {
	if s.appendOnly(user) {
		if h.Type != backend.LockFile {
			return deny("append-only access can't delete %s", h)
		}
		if owner := repo.locks.get(h.Name); owner != user {
			return deny("%s is not this client's lock; append-only access can't delete it", h)
		}
	}
	var size int64
	if s.o.MaxRepoSize > 0 {
		if fi, err := repo.be.Stat(ctx, h); err == nil {
			size = fi.Size
		}
	}
	if err := repo.be.Remove(ctx, h); err != nil {
		return err
	}
	if h.Type == backend.LockFile {
		repo.locks.set(h.Name, "")
	}
	s.release(repo, charge(size))
	return nil
}

// reserve adds n bytes to the repository's size, refusing them beyond
// the quota. The size is counted from a listing on first use.
func (s *Server) reserve(ctx context.Context, repo *repository, n int64) error {
	if s.o.MaxRepoSize <= 0 {
		return nil
	}
	repo.sizeMu.Lock()
	defer repo.sizeMu.Unlock()
	if !repo.counted {
		var total int64
		for _, t := range append(backend.AllTypes, backend.ConfigFile) {
			if t == backend.ConfigFile {
				if fi, err := repo.be.Stat(ctx, backend.Handle{Type: t}); err == nil {
					total += charge(fi.Size)
				}
				continue
			}
			err := repo.be.List(ctx, t, func(fi backend.FileInfo) error { total += charge(fi.Size); return nil })
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		repo.size, repo.counted = total, true
	}
	if repo.size+n > s.o.MaxRepoSize {
		return &status{code: http.StatusInsufficientStorage, reason: fmt.Sprintf("repository quota of %d bytes reached (%d used)", s.o.MaxRepoSize, repo.size), denied: true}
	}
	repo.size += n
	return nil
}

// charge is what a file of size bytes counts against a quota: at least
// a file system block, so empty files aren't free.
func charge(size int64) int64 { return max(size, 4096) }

func (s *Server) release(repo *repository, n int64) {
	if s.o.MaxRepoSize <= 0 {
		return
	}
	repo.sizeMu.Lock()
	repo.size = max(0, repo.size-n)
	repo.sizeMu.Unlock()
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// constantTimeEqual compares secrets without leaking their contents
// through timing.
func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
