package rest_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/backend/rest"
)

const secret = "s3cr3t-pw"

func TestParseURL(t *testing.T) {
	tests := []struct {
		in             string
		url, user, pwd string
		bad            bool
	}{
		{in: "rest:http://host:8000/repo/", url: "http://host:8000/repo/"},
		{in: "rest:http://host:8000/repo", url: "http://host:8000/repo/"},
		{in: "rest:http://host:8000", url: "http://host:8000/"},
		{in: "rest:https://alice@host/r/", url: "https://host/r/", user: "alice"},
		{in: "rest:https://alice:" + secret + "@host:8443/r/", url: "https://host:8443/r/", user: "alice", pwd: secret},
		{in: "rest:https://alice:p%40ss@host/r/", url: "https://host/r/", user: "alice", pwd: "p@ss"},
		{in: "rest:ftp://host/r/", bad: true},
		{in: "rest:host:8000/r/", bad: true},
		{in: "rest:http:///r/", bad: true},
		{in: "rest:https://:" + secret + "@host/r/", bad: true},
		{in: "rest:https://alice:" + secret + "@host/r/?x=1", bad: true},
		{in: "rest:https://alice:" + secret + "@ho st/r/", bad: true},
		{in: "http://host/r/", bad: true},
	}
	for _, tt := range tests {
		c, err := rest.ParseURL(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%s accepted", tt.in)
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows the password: %v", tt.in, err)
			}
			continue
		}
		if err != nil || c.URL.String() != tt.url || c.User != tt.user || c.Password != tt.pwd {
			t.Errorf("%s: %v %q %q %v, want %s %q %q", tt.in, c.URL, c.User, c.Password, err, tt.url, tt.user, tt.pwd)
		}
	}
}

// TestPasswordSources: the password comes from the location, the
// environment or a file, reaches the server as basic authentication and
// never shows in Location or in an error.
func TestPasswordSources(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &memServer{user: "alice", pass: secret}
	srv := newMemServer(t, m)
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name string
		loc  string
		opts []string
		env  map[string]string
		bad  bool // refused at open
		auth bool // the server accepts it
	}{
		{name: "url", loc: "rest:http://alice:" + secret + "@" + host + "/r/", auth: true},
		{name: "env", loc: "rest:http://alice@" + host + "/r/", env: map[string]string{rest.PasswordEnv: secret}, auth: true},
		{name: "file", loc: "rest:http://alice@" + host + "/r/", opts: []string{"rest.password-file=" + pwFile}, auth: true},
		{name: "file beats env", loc: "rest:http://alice@" + host + "/r/", opts: []string{"rest.password-file=" + pwFile},
			env: map[string]string{rest.PasswordEnv: "wrong"}, auth: true},
		{name: "url beats env", loc: "rest:http://alice:" + secret + "@" + host + "/r/", env: map[string]string{rest.PasswordEnv: "wrong"}, auth: true},
		{name: "url and file", loc: "rest:http://alice:" + secret + "@" + host + "/r/", opts: []string{"rest.password-file=" + pwFile}, bad: true},
		{name: "missing file", loc: "rest:http://alice@" + host + "/r/", opts: []string{"rest.password-file=" + filepath.Join(dir, "none")}, bad: true},
		{name: "wrong", loc: "rest:http://alice:nope" + secret + "@" + host + "/r/"},
		{name: "none", loc: "rest:http://alice@" + host + "/r/"},
		{name: "unknown option", loc: "rest:http://alice@" + host + "/r/", opts: []string{"rest.nope=1"}, bad: true},
	}
	reg := &location.Registry{}
	reg.Register(rest.Scheme())
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := location.Env{Getenv: func(k string) string { return tt.env[k] }}
			be, err := reg.Open(ctx, tt.loc, tt.opts, env)
			if tt.bad {
				if err == nil {
					t.Fatal("opened")
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			if strings.Contains(be.Location(), secret) || !strings.HasPrefix(be.Location(), "rest:http://alice@") {
				t.Errorf("Location() = %q", be.Location())
			}
			_, err = be.Stat(ctx, backend.Handle{Type: backend.ConfigFile})
			if tt.auth {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("stat of the missing config: %v", err)
				}
			} else if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "credentials") {
				t.Fatalf("stat with a bad password: %v, want a permission error", err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	// An unreachable server: the transport's error names the URL, never
	// the password.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	be, err := reg.Open(ctx, "rest:http://alice:"+secret+"@"+dead+"/r/", nil, location.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []error{
		func() error { _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); return err }(),
		backend.SaveBytes(ctx, be, backend.Handle{Type: backend.KeyFile, Name: "ab"}, []byte("x")),
		be.List(ctx, backend.KeyFile, func(backend.FileInfo) error { return nil }),
	} {
		if e == nil || strings.Contains(e.Error(), secret) {
			t.Errorf("request to a closed port: %v", e)
		}
	}
}

// open returns a created backend on srv.
func open(t *testing.T, srv *httptest.Server, path string) *rest.Backend {
	t.Helper()
	u, err := url.Parse(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	be, err := rest.New(srv.Client(), u, rest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// TestProtocol: the requests each operation makes.
func TestProtocol(t *testing.T) {
	m := &memServer{files: map[string][]byte{}}
	srv := httptest.NewServer(http.StripPrefix("/repo", m))
	defer srv.Close()
	be := open(t, srv, "/repo")
	ctx := context.Background()
	id := pack.Hash([]byte("x")).String()
	h := backend.Handle{Type: backend.PackFile, Name: id}
	steps := []struct {
		name string
		do   func() error
		want []string
		err  error
	}{
		{"create", func() error { return be.Create(ctx) }, []string{"HEAD /config", "POST /?create=true"}, nil},
		{"save", func() error { return backend.SaveBytes(ctx, be, h, []byte("pack")) }, []string{"HEAD /data/" + id, "POST /data/" + id}, nil},
		{"save existing", func() error { return backend.SaveBytes(ctx, be, h, []byte("other")) }, []string{"HEAD /data/" + id}, fs.ErrExist},
		{"replace", func() error { return be.Replace(ctx, h, strings.NewReader("pack"), 4) }, []string{"POST /data/" + id}, nil},
		{"range", func() error {
			return be.Load(ctx, h, 2, 1, func(r io.Reader) error {
				b, err := io.ReadAll(r)
				if string(b) != "ac" {
					return fmt.Errorf("got %q", b)
				}
				return err
			})
		}, []string{"GET /data/" + id}, nil},
		{"list", func() error {
			var names []string
			err := be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error { names = append(names, fi.Name); return nil })
			if err == nil && !slices.Equal(names, []string{id}) {
				return fmt.Errorf("listed %v", names)
			}
			return err
		}, []string{"GET /data/"}, nil},
		{"parity", func() error {
			return backend.SaveBytes(ctx, be, backend.Handle{Type: backend.ParityFile, Name: id}, []byte("p"))
		},
			[]string{"HEAD /parity/" + id, "POST /parity/" + id}, nil},
		{"remove", func() error { return be.Remove(ctx, h) }, []string{"DELETE /data/" + id}, nil},
		{"remove missing", func() error { return be.Remove(ctx, h) }, []string{"DELETE /data/" + id}, fs.ErrNotExist},
		{"load missing", func() error { return be.Load(ctx, h, 0, 0, func(io.Reader) error { return nil }) }, []string{"GET /data/" + id}, fs.ErrNotExist},
		{"create again", func() error {
			if err := backend.SaveBytes(ctx, be, backend.Handle{Type: backend.ConfigFile}, []byte("c")); err != nil {
				return err
			}
			m.requests()
			return be.Create(ctx)
		}, []string{"HEAD /config"}, fs.ErrExist},
	}
	m.requests()
	for _, s := range steps {
		err := s.do()
		if s.err == nil && err != nil || s.err != nil && !errors.Is(err, s.err) {
			t.Errorf("%s: %v, want %v", s.name, err, s.err)
		}
		if got := m.requests(); !slices.Equal(got, s.want) {
			t.Errorf("%s: requests %q, want %q", s.name, got, s.want)
		}
	}
	// The Range header of each kind of load.
	var ranges []string
	rsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges = append(ranges, r.Header.Get("Range"))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader([]byte("0123456789")))
	}))
	defer rsrv.Close()
	rbe := open(t, rsrv, "/")
	for _, r := range []struct{ n, off int }{{0, 0}, {3, 0}, {3, 4}, {0, 7}} {
		var got []byte
		err := rbe.Load(ctx, h, r.n, int64(r.off), func(rd io.Reader) error {
			var err error
			got, err = io.ReadAll(rd)
			return err
		})
		want := "0123456789"[r.off:]
		if r.n > 0 {
			want = want[:r.n]
		}
		if err != nil || string(got) != want {
			t.Errorf("load %d at %d: %q %v, want %q", r.n, r.off, got, err, want)
		}
	}
	if want := []string{"", "bytes=0-2", "bytes=4-6", "bytes=7-"}; !slices.Equal(ranges, want) {
		t.Errorf("Range headers %q, want %q", ranges, want)
	}
}

// TestHostile: a server that sends other bytes than asked for, or a bad
// listing, gives an error, never data cut or padded to size.
func TestHostile(t *testing.T) {
	file := []byte("0123456789")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		n, off  int
		list    bool
		stat    bool
		want    error // nil: any error
	}{
		{name: "range ignored", n: 3, off: 2, handler: func(w http.ResponseWriter, r *http.Request) { w.Write(file) }},
		{name: "other start", n: 3, off: 2, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-2/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[:3])
		}},
		{name: "larger range", n: 3, off: 2, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 2-9/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[2:])
		}},
		{name: "body longer than its range", n: 3, off: 2, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 2-4/10")
			w.Header().Set("Content-Length", "8")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[2:])
		}},
		{name: "chunked body longer than its range", n: 3, off: 2, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 2-4/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[2:5])
			w.(http.Flusher).Flush()
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		}},
		{name: "chunked body shorter than its range", n: 5, off: 2, want: io.ErrUnexpectedEOF, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 2-6/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[2:4])
			w.(http.Flusher).Flush()
		}},
		{name: "to the end, but not", off: 2, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 2-5/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[2:6])
		}},
		{name: "bad content range", n: 3, off: 2, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes two-four/10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[2:5])
		}},
		{name: "past the end", n: 3, off: 20, want: io.ErrUnexpectedEOF, handler: func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(file))
		}},
		{name: "past the end, rclone style", n: 3, off: 20, want: io.ErrUnexpectedEOF, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 20-9/10")
			w.WriteHeader(http.StatusPartialContent)
		}},
		{name: "file ends inside the range", n: 5, off: 8, want: io.ErrUnexpectedEOF, handler: func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(file))
		}},
		{name: "whole file, short body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			w.Write(file[:4])
		}},
		{name: "redirect", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.invalid/x", http.StatusFound)
		}},
		{name: "stat without size", stat: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.WriteHeader(http.StatusOK)
		}},
		{name: "list v1", list: true, handler: listing("application/vnd.x.restic.rest.v1", `["ab"]`)},
		{name: "list bad json", list: true, handler: listing(rest.ContentTypeV2, `[{"name":"ab","size":1},{"name":`)},
		{name: "list not an array", list: true, handler: listing(rest.ContentTypeV2, `{"name":"ab","size":1}`)},
		{name: "list path name", list: true, handler: listing(rest.ContentTypeV2, `[{"name":"../../etc","size":1}]`)},
		{name: "list empty name", list: true, handler: listing(rest.ContentTypeV2, `[{"name":"","size":1}]`)},
		{name: "list no size", list: true, handler: listing(rest.ContentTypeV2, `[{"name":"ab"}]`)},
		{name: "list negative size", list: true, handler: listing(rest.ContentTypeV2, `[{"name":"ab","size":-5}]`)},
		{name: "list trailing data", list: true, handler: listing(rest.ContentTypeV2, `[{"name":"ab","size":1}] [`)},
		{name: "list error status", list: true, handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "disk \x1b[31mfull", http.StatusInternalServerError)
		}},
	}
	ctx := context.Background()
	h := backend.Handle{Type: backend.PackFile, Name: "ab12"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			be := open(t, srv, "/")
			var err error
			var got []byte
			switch {
			case tt.list:
				err = be.List(ctx, backend.PackFile, func(backend.FileInfo) error { return nil })
			case tt.stat:
				_, err = be.Stat(ctx, h)
			default:
				err = be.Load(ctx, h, tt.n, int64(tt.off), func(r io.Reader) error {
					var err error
					got, err = io.ReadAll(r)
					return err
				})
			}
			if err == nil {
				t.Fatalf("accepted (read %q)", got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("%v, want %v", err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\x1b\n") {
				t.Fatalf("server text reaches the error unfiltered: %q", err)
			}
			t.Log(err)
		})
	}
	// A listing of one entry too many for the callback stops at its error.
	srv := httptest.NewServer(listing(rest.ContentTypeV2, `[{"name":"ab","size":1},{"name":"cd","size":2}]`))
	defer srv.Close()
	stop := errors.New("stop")
	n := 0
	if err := open(t, srv, "/").List(ctx, backend.PackFile, func(backend.FileInfo) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("list did not stop: %v after %d", err, n)
	}
}

func listing(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		io.WriteString(w, body)
	}
}

// TestAppendOnly: the Cairn-Append-Only header is recorded from the first
// response (a HEAD of the config) and found through wrappers; a refused
// delete or overwrite says the repository is append-only.
func TestAppendOnly(t *testing.T) {
	ctx := context.Background()
	for _, appendOnly := range []bool{false, true} {
		t.Run(fmt.Sprint(appendOnly), func(t *testing.T) {
			m := &memServer{appendOnly: appendOnly}
			be := open(t, newMemServer(t, m), "/")
			if be.AppendOnly() {
				t.Fatal("append-only before any answer")
			}
			if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			var wrapped backend.Backend = backend.NewRetry(&backend.Limited{Backend: be})
			if be.AppendOnly() != appendOnly || backend.AppendOnly(wrapped) != appendOnly {
				t.Fatalf("AppendOnly() = %v, backend.AppendOnly = %v, want %v", be.AppendOnly(), backend.AppendOnly(wrapped), appendOnly)
			}
			h := backend.Handle{Type: backend.SnapshotFile, Name: "ab12"}
			if err := backend.SaveBytes(ctx, be, h, []byte("s")); err != nil {
				t.Fatal(err)
			}
			errs := map[string]error{
				"remove":  be.Remove(ctx, h),
				"replace": be.Replace(ctx, h, strings.NewReader("t"), 1),
			}
			for op, err := range errs {
				if !appendOnly {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "append-only") || !strings.Contains(err.Error(), "refused") {
					t.Errorf("%s on an append-only server: %v", op, err)
				}
			}
		})
	}
	if backend.AppendOnly(backend.NewRetry(nil)) {
		t.Fatal("AppendOnly of an empty wrapper")
	}
}

// TestForbidden: a 403 from a server that doesn't say append-only still
// gives a clear permission error.
func TestForbidden(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	defer srv.Close()
	be := open(t, srv, "/")
	ctx := context.Background()
	h := backend.Handle{Type: backend.LockFile, Name: "ab12"}
	for op, err := range map[string]error{
		"delete": be.Remove(ctx, h),
		"write":  backend.SaveBytes(ctx, be, h, []byte("l")),
	} {
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "refused to "+op) || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: %v", op, err)
		}
	}
}

// TestCACert: -o rest.cacert trusts a private CA, and only it.
func TestCACert(t *testing.T) {
	srv := httptest.NewTLSServer(&memServer{files: map[string][]byte{}})
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a cert"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := &location.Registry{}
	reg.Register(rest.Scheme())
	ctx := context.Background()
	loc := "rest:" + srv.URL + "/r/"
	stat := func(opts ...string) error {
		be, err := reg.Open(ctx, loc, opts, location.Env{})
		if err != nil {
			return err
		}
		defer be.Close()
		_, err = be.Stat(ctx, backend.Handle{Type: backend.ConfigFile})
		return err
	}
	if err := stat("rest.cacert=" + ca); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("with the CA: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := stat(); !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v, want an unknown authority", err)
	}
	if err := stat("rest.cacert=" + junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a junk CA file: %v", err)
	}
}

// TestMemSuite runs the conformance suite against memServer.
func TestMemSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return open(t, newMemServer(t, &memServer{}), "/")
	})
}

var suiteN atomic.Int64

// TestSuite runs the conformance suite against `rclone serve restic` (with
// basic authentication), started here on a free port.
func TestSuite(t *testing.T) {
	root := t.TempDir()
	base := backendtest.RcloneRESTServer(t, root, "--user", "alice", "--pass", secret)
	reg := &location.Registry{}
	reg.Register(rest.Scheme())
	env := location.Env{Getenv: func(k string) string {
		if k == rest.PasswordEnv {
			return secret
		}
		return ""
	}}
	loc := strings.Replace(base, "http://", "rest:http://alice@", 1)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		be, err := reg.Open(context.Background(), fmt.Sprintf("%ssuite-%d/", loc, suiteN.Add(1)), nil, env)
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

// TestUnencodedPassword: a password with an unencoded / in it would make
// the URL's host part of the password (and send requests elsewhere): it
// is refused, and the error doesn't show it.
func TestUnencodedPassword(t *testing.T) {
	for _, loc := range []string{"rest:https://u:12/34@host/repo/", "rest:https://u:se/cret@host:8000/"} {
		_, err := rest.ParseURL(loc)
		if err == nil || strings.Contains(err.Error(), "34") || strings.Contains(err.Error(), "cret") {
			t.Errorf("%s: %v", loc, err)
		}
	}
}

// TestGiantListingEntry: one listing entry of megabytes (a hostile
// server) fails the listing without the client holding it.
func TestGiantListingEntry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", rest.ContentTypeV2)
		fmt.Fprint(w, `[{"name":"`)
		chunk := strings.Repeat("a", 1<<16)
		for range 256 { // 16 MiB
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
		fmt.Fprint(w, `","size":1}]`)
	}))
	defer srv.Close()
	be := open(t, srv, "/")
	err := be.List(context.Background(), backend.PackFile, func(backend.FileInfo) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "64 KiB") {
		t.Fatalf("giant entry: %v", err)
	}
}
