package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cairn-backup/cairn/repo/server"
)

// syncBuffer is an access log tests can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func htpasswd(t *testing.T, users ...string) *server.Users {
	t.Helper()
	var lines []string
	for _, u := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	us, err := server.ParseHtpasswd(strings.NewReader("# users\n\n" + strings.Join(lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return us
}

type testServer struct {
	*httptest.Server
	root    string
	log     *syncBuffer
	metrics *server.Metrics
}

func start(t *testing.T, o server.Options, users ...string) *testServer {
	t.Helper()
	if len(users) == 0 {
		users = []string{"alice", "bob"}
	}
	ts := &testServer{root: t.TempDir(), log: &syncBuffer{}, metrics: server.NewMetrics()}
	if o.Users == nil {
		o.Users = htpasswd(t, users...)
	}
	if o.Open == nil {
		o.Open = server.DirOpener(ts.root)
	}
	o.AccessLog, o.Metrics, o.TempDir = ts.log, ts.metrics, t.TempDir()
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); _ = srv.Close() })
	return ts
}

// do sends a request as user (password user-pw; "" sends none) and
// returns the status and body.
func (ts *testServer) do(t *testing.T, user, method, path string, body []byte, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-pw")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func (ts *testServer) want(t *testing.T, code int, user, method, path string, body []byte, hdr ...string) []byte {
	t.Helper()
	got, b, _ := ts.do(t, user, method, path, body, hdr...)
	if got != code {
		t.Fatalf("%s %s as %q: status %d (%s), want %d", method, path, user, got, strings.TrimSpace(string(b)), code)
	}
	return b
}

func id(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestProtocol walks restic's REST protocol v2: creation, config, files
// of every type, listings in both versions, ranges and deletion.
func TestProtocol(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{})
	ts.want(t, 200, "alice", "POST", "/r1/?create=true", nil)
	ts.want(t, 404, "alice", "HEAD", "/r1/config", nil)
	ts.want(t, 200, "alice", "POST", "/r1/config", []byte("sealed config"))
	_, _, h := ts.do(t, "alice", "HEAD", "/r1/config", nil)
	if h.Get("Content-Length") != "13" {
		t.Fatalf("HEAD config: Content-Length %q", h.Get("Content-Length"))
	}
	if b := ts.want(t, 200, "alice", "GET", "/r1/config", nil); string(b) != "sealed config" {
		t.Fatalf("config read back as %q", b)
	}
	content := []byte("0123456789abcdef")
	name := id(content)
	for _, typ := range []string{"data", "keys", "locks", "snapshots", "index", "parity"} {
		ts.want(t, 200, "alice", "POST", "/r1/"+typ+"/"+name, content)
		var v2 []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		}
		b := ts.want(t, 200, "alice", "GET", "/r1/"+typ+"/", nil, "Accept", "application/vnd.x.restic.rest.v2")
		if err := json.Unmarshal(b, &v2); err != nil || len(v2) != 1 || v2[0].Name != name || v2[0].Size != 16 {
			t.Fatalf("%s v2 listing: %s (%v)", typ, b, err)
		}
		var v1 []string
		b = ts.want(t, 200, "alice", "GET", "/r1/"+typ+"/", nil)
		if err := json.Unmarshal(b, &v1); err != nil || len(v1) != 1 || v1[0] != name {
			t.Fatalf("%s v1 listing: %s (%v)", typ, b, err)
		}
		for rg, want := range map[string]string{"bytes=2-5": "2345", "bytes=12-": "cdef", "bytes=-3": "def", "bytes=10-99": "abcdef"} {
			if b := ts.want(t, 206, "alice", "GET", "/r1/"+typ+"/"+name, nil, "Range", rg); string(b) != want {
				t.Fatalf("%s %s: %q, want %q", typ, rg, b, want)
			}
		}
		ts.want(t, 416, "alice", "GET", "/r1/"+typ+"/"+name, nil, "Range", "bytes=16-")
		if b := ts.want(t, 200, "alice", "GET", "/r1/"+typ+"/"+name, nil); !bytes.Equal(b, content) {
			t.Fatalf("%s read back as %q", typ, b)
		}
		ts.want(t, 200, "alice", "DELETE", "/r1/"+typ+"/"+name, nil)
		ts.want(t, 404, "alice", "GET", "/r1/"+typ+"/"+name, nil)
		if b := ts.want(t, 200, "alice", "GET", "/r1/"+typ+"/", nil, "Accept", "application/vnd.x.restic.rest.v2"); strings.TrimSpace(string(b)) != "[]" {
			t.Fatalf("%s: empty listing is %s, want []", typ, b)
		}
	}
	// Packs are sharded on the disk as in a local repository.
	ts.want(t, 200, "alice", "POST", "/r1/data/"+name, content)
	if _, err := os.Stat(filepath.Join(ts.root, "r1", "data", name[:2], name)); err != nil {
		t.Fatalf("pack not stored where a local repository has it: %v", err)
	}
	// A nested repository path and the root repository, once created;
	// writing to a path that isn't a repository doesn't make one.
	ts.want(t, 404, "alice", "POST", "/a/b/c/config", []byte("x"))
	ts.want(t, 404, "alice", "POST", "/a/b/c/keys/"+name, content)
	if _, err := os.Stat(filepath.Join(ts.root, "a")); err == nil {
		t.Fatal("a write to a path that is no repository created it")
	}
	ts.want(t, 200, "alice", "POST", "/a/b/c/?create=true", nil)
	ts.want(t, 200, "alice", "POST", "/a/b/c/config", []byte("x"))
	ts.want(t, 200, "alice", "POST", "/?create=true", nil)
	ts.want(t, 200, "alice", "POST", "/config", []byte("y"))
	// No repository inside another's directories.
	ts.want(t, 405, "alice", "POST", "/r1/data/?create=true", nil)
	ts.want(t, 404, "alice", "POST", "/r1/keys/x/?create=true", nil)
	if b, err := os.ReadFile(filepath.Join(ts.root, "a", "b", "c", "config")); err != nil || string(b) != "x" {
		t.Fatalf("nested repository config: %q %v", b, err)
	}
}

// TestAuthentication: requests without valid credentials are refused,
// logged and counted, and never reach the storage.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{})
	for _, tc := range []struct{ name, user, pass string }{
		{"none", "", ""}, {"wrong password", "alice", "bob-pw"}, {"unknown user", "mallory", "mallory-pw"},
	} {
		req, _ := http.NewRequest("POST", ts.URL+"/r/config", strings.NewReader("planted"))
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: status %d, WWW-Authenticate %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if _, err := os.Stat(filepath.Join(ts.root, "r")); err == nil {
		t.Fatal("an unauthenticated request created a repository")
	}
	if n := strings.Count(ts.log.String(), "denied:"); n != 3 {
		t.Fatalf("%d denied requests logged, want 3:\n%s", n, ts.log)
	}
	if m := string(ts.want(t, 200, "alice", "GET", "/metrics", nil)); !strings.Contains(m, `cairn_serve_denied_total{method="POST",type="config"} 3`) {
		t.Fatalf("metrics don't count the denied requests:\n%s", m)
	}
}

// TestPrivateRepos: a user reaches only /USER/….
func TestPrivateRepos(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{PrivateRepos: true})
	for _, p := range []string{"/alice/", "/alice/laptop/"} {
		ts.want(t, 200, "alice", "POST", p+"?create=true", nil)
	}
	ts.want(t, 200, "bob", "POST", "/bob/?create=true", nil)
	ts.want(t, 403, "alice", "POST", "/bob/x/?create=true", nil)
	ts.want(t, 200, "alice", "POST", "/alice/config", []byte("a"))
	ts.want(t, 200, "alice", "POST", "/alice/laptop/config", []byte("a"))
	ts.want(t, 200, "bob", "POST", "/bob/config", []byte("b"))
	for _, p := range []string{"/bob/config", "/config", "/bobby/config", "/alicex/config", "/bob/keys/"} {
		ts.want(t, 403, "alice", "GET", p, nil)
	}
	ts.want(t, 403, "alice", "POST", "/bob/laptop/config", []byte("planted"))
	if _, err := os.Stat(filepath.Join(ts.root, "bob", "laptop")); err == nil {
		t.Fatal("alice created a repository under bob's")
	}
}

// TestAppendOnly: an append-only user adds files but can't delete or
// overwrite any, except lock files; the header tells the client. The
// same holds per user, while other users keep full access.
func TestAppendOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    func(*server.Users) server.Options
		ao   string // append-only user
		full string // user with full access ("": none)
	}{
		{"server", func(*server.Users) server.Options { return server.Options{AppendOnly: true} }, "alice", ""},
		{"per user", func(u *server.Users) server.Options {
			if err := u.SetAppendOnly("alice"); err != nil {
				t.Fatal(err)
			}
			return server.Options{}
		}, "alice", "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			users := htpasswd(t, "alice", "bob", "carol")
			ts := start(t, func() server.Options { o := tc.o(users); o.Users = users; return o }())
			content := []byte("pack content")
			name := id(content)
			ts.want(t, 200, tc.ao, "POST", "/r/?create=true", nil)
			ts.want(t, 200, tc.ao, "POST", "/r/config", []byte("config"))
			ts.want(t, 200, tc.ao, "POST", "/r/data/"+name, content)
			ts.want(t, 200, tc.ao, "POST", "/r/locks/"+name, content)
			_, _, h := ts.do(t, tc.ao, "HEAD", "/r/config", nil)
			if h.Get(server.AppendOnlyHeader) != "true" {
				t.Fatalf("append-only user got no %s header", server.AppendOnlyHeader)
			}
			for _, typ := range []string{"data", "snapshots", "index", "keys", "parity"} {
				ts.want(t, 403, tc.ao, "DELETE", "/r/"+typ+"/"+name, nil)
			}
			ts.want(t, 403, tc.ao, "POST", "/r/config", []byte("overwritten"))
			ts.want(t, 403, tc.ao, "POST", "/r/data/"+name, content)
			if b := ts.want(t, 200, tc.ao, "GET", "/r/config", nil); string(b) != "config" {
				t.Fatalf("config is now %q", b)
			}
			// Its own lock files stay removable and refreshable; another
			// client's are not.
			ts.want(t, 200, tc.ao, "POST", "/r/locks/"+name, content)
			other := id([]byte("other lock"))
			ts.want(t, 200, "carol", "POST", "/r/locks/"+other, []byte("other lock"))
			ts.want(t, 403, tc.ao, "DELETE", "/r/locks/"+other, nil)
			ts.want(t, 403, tc.ao, "POST", "/r/locks/"+other, []byte("hijacked"))
			ts.want(t, 200, tc.ao, "DELETE", "/r/locks/"+name, nil)
			if tc.full != "" {
				_, _, h := ts.do(t, tc.full, "HEAD", "/r/config", nil)
				if h.Get(server.AppendOnlyHeader) != "" {
					t.Fatal("a user with full access was told append-only")
				}
				ts.want(t, 200, tc.full, "DELETE", "/r/data/"+name, nil)
			}
			if n := strings.Count(ts.log.String(), "denied:"); n != 9 {
				t.Fatalf("%d denied requests logged, want 9:\n%s", n, ts.log)
			}
		})
	}
}

// TestHostilePaths: nothing outside the served directory is reached,
// and names must be IDs.
func TestHostilePaths(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{})
	outside := filepath.Dir(ts.root)
	before, _ := os.ReadDir(outside)
	good := id([]byte("x"))
	for _, p := range []string{
		"/../config", "/%2e%2e/config", "/a/%2e%2e/%2e%2e/config", "/./config", "/.hidden/config", "/a//config",
		"/data/../../config", "/data/" + strings.ToUpper(good), "/data/" + good[:63], "/data/x/" + good,
		"/a%2fb/config", "/a\\b/config", "/" + strings.Repeat("a/", 600) + "config", "/nodata/" + good,
	} {
		req, err := http.NewRequest("POST", ts.URL+p, strings.NewReader("x"))
		if err != nil {
			continue // a path the client library refuses never reaches us
		}
		req.SetBasicAuth("alice", "alice-pw")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("POST %s: status %d", p, resp.StatusCode)
		}
	}
	after, _ := os.ReadDir(outside)
	if len(after) != len(before) {
		t.Fatalf("files appeared beside the served directory: %v → %v", before, after)
	}
	entries, _ := os.ReadDir(ts.root)
	if len(entries) != 0 {
		t.Fatalf("hostile paths created %v", entries)
	}
}

// TestUploadChecks: a content-addressed file must hash to its name, and
// uploads are bounded; neither leaves anything behind.
func TestUploadChecks(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{MaxUploadSize: 1000})
	ts.want(t, 200, "alice", "POST", "/r/?create=true", nil)
	good := []byte("good")
	for _, typ := range []string{"data", "index", "snapshots"} {
		ts.want(t, 400, "alice", "POST", "/r/"+typ+"/"+id([]byte("other")), good)
		ts.want(t, 200, "alice", "POST", "/r/"+typ+"/"+id(good), good)
	}
	big := bytes.Repeat([]byte("x"), 1001)
	ts.want(t, 413, "alice", "POST", "/r/data/"+id(big), big)
	ts.want(t, 404, "alice", "HEAD", "/r/data/"+id(big), nil)
	ts.want(t, 404, "alice", "HEAD", "/r/index/"+id([]byte("other")), nil)
}

// TestUploadNeedsLength: an upload without a Content-Length (chunked) is
// refused before anything is read: its size must be known to reserve it.
func TestUploadNeedsLength(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{})
	ts.want(t, 200, "alice", "POST", "/r/?create=true", nil)
	body := []byte("chunked body")
	req, err := http.NewRequest("POST", ts.URL+"/r/data/"+id(body), io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("alice", "alice-pw")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("chunked upload: %d", resp.StatusCode)
	}
}

// TestQuota: uploads beyond a repository's quota are refused until
// space is freed.
func TestQuota(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{MaxRepoSize: 100 << 10})
	ts.want(t, 200, "alice", "POST", "/r/?create=true", nil)
	ts.want(t, 200, "alice", "POST", "/s/?create=true", nil)
	a, b := bytes.Repeat([]byte("a"), 60<<10), bytes.Repeat([]byte("b"), 60<<10)
	ts.want(t, 200, "alice", "POST", "/r/data/"+id(a), a)
	ts.want(t, 507, "alice", "POST", "/r/data/"+id(b), b)
	ts.want(t, 404, "alice", "HEAD", "/r/data/"+id(b), nil)
	ts.want(t, 200, "alice", "DELETE", "/r/data/"+id(a), nil)
	ts.want(t, 200, "alice", "POST", "/r/data/"+id(b), b)
	// Another repository has a quota of its own.
	ts.want(t, 200, "alice", "POST", "/s/data/"+id(a), a)
}

// TestAccessLog: one line per request with the user, method, path and
// status.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	ts := start(t, server.Options{})
	ts.do(t, "bob", "POST", "/r/?create=true", nil)
	ts.log.mu.Lock()
	ts.log.b.Reset()
	ts.log.mu.Unlock()
	ts.want(t, 200, "bob", "POST", "/r/config", []byte("c"))
	ts.want(t, 404, "bob", "GET", "/r/keys/"+id([]byte("k")), nil)
	lines := strings.Split(strings.TrimSpace(ts.log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], ` bob POST "/r/config" 200 `) || !strings.Contains(lines[1], ` bob GET "/r/keys/`) || !strings.Contains(lines[1], `" 404 `) {
		t.Fatalf("access log:\n%s", ts.log)
	}
	if strings.Contains(ts.log.String(), "bob-pw") {
		t.Fatal("the access log holds a password")
	}
}

func TestHtpasswd(t *testing.T) {
	t.Parallel()
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, tc := range []struct{ name, file, err string }{
		{"md5", "u:$apr1$abc$def\n", "only bcrypt"},
		{"sha1", "u:{SHA}abc=\n", "only bcrypt"},
		{"plain", "u:secret\n", "only bcrypt"},
		{"no colon", "u\n", "want user:hash"},
		{"twice", "u:" + string(h) + "\nu:" + string(h) + "\n", "twice"},
		{"bad bcrypt", "u:$2y$99$x\n", "line 1"},
	} {
		if _, err := server.ParseHtpasswd(strings.NewReader(tc.file)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	u, err := server.ParseHtpasswd(strings.NewReader("u:" + string(h) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second check is from the cache
		if !u.Check("u", "pw") || u.Check("u", "pW") || u.Check("x", "pw") {
			t.Fatal("Check")
		}
	}
	if err := u.SetAppendOnly("nobody"); err == nil {
		t.Fatal("an append-only user who isn't in the file was accepted")
	}
	if _, err := server.New(server.Options{Open: server.DirOpener(t.TempDir()), Users: &server.Users{}}); err == nil {
		t.Fatal("a server without users was made")
	}
}

// TestRun: plain HTTP only on loopback; a cancelled context shuts the
// server down after the request in flight.
func TestRun(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0"} {
		err := server.Run(context.Background(), server.Listen{Addr: addr}, http.NotFoundHandler())
		if err == nil || !strings.Contains(err.Error(), "in the clear") {
			t.Errorf("plain HTTP on %s: %v", addr, err)
		}
	}
	if err := server.Run(context.Background(), server.Listen{Addr: "127.0.0.1:0", TLSCert: "c.pem"}, http.NotFoundHandler()); err == nil {
		t.Error("a certificate without a key was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	inFlight := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		time.Sleep(200 * time.Millisecond)
		fmt.Fprint(w, "finished")
	})
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Listen{Addr: "127.0.0.1:0", OnListening: func(a string) { addrc <- a }}, slow)
	}()
	addr := <-addrc
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-inFlight
	cancel()
	if b := <-got; b != "finished" {
		t.Fatalf("request in flight at shutdown: %q", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after shutdown: %v", err)
	}
}
