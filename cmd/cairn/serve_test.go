//go:build unix

package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// served is a `cairn serve` child process.
type served struct {
	addr string
	cmd  *exec.Cmd
	log  string
	errb *bytes.Buffer
	mu   *sync.Mutex
}

// writeHtpasswd writes users with passwords USER-pw.
func writeHtpasswd(t *testing.T, users ...string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServe runs `cairn serve` on a free loopback port and stops it with
// SIGTERM at the end of the test, which must end it cleanly.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	s := &served{log: filepath.Join(t.TempDir(), "access.log"), errb: &bytes.Buffer{}, mu: &sync.Mutex{}}
	s.cmd = exec.Command(cairnBin, append([]string{"serve", "--listen", "127.0.0.1:0", "--access-log", s.log}, args...)...)
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(` on (127\.0\.0\.1:\d+)$`)
		for sc.Scan() {
			s.mu.Lock()
			s.errb.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		close(addrc)
	}()
	select {
	case a, ok := <-addrc:
		if !ok {
			_ = s.cmd.Wait()
			t.Fatalf("cairn serve ended: %s", s.stderr())
		}
		s.addr = a
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatal("cairn serve did not start listening")
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState != nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		if err := s.cmd.Wait(); err != nil {
			t.Errorf("cairn serve after SIGTERM: %v\n%s", err, s.stderr())
		}
	})
	return s
}

func (s *served) stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errb.String()
}

// url is the rest: location of repository path for user.
func (s *served) url(user, path string) string {
	return "rest:http://" + user + ":" + user + "-pw@" + s.addr + "/" + path + "/"
}

// request sends a raw HTTP request as user.
func (s *served) request(t *testing.T, user, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+s.addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, user+"-pw")
	req.Header.Set("Accept", "application/vnd.x.restic.rest.v2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// peakRSS is the server's peak resident memory in KiB.
func (s *served) peakRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in %s", b)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestServeRansomware: a client whose access is append-only turns hostile.
// Through cairn, forget, prune, repair, tag and key remove fail at once
// with an error that sends maintenance to the server side; through raw
// HTTP it tries to delete, overwrite and truncate every file it can name.
// Afterwards every snapshot restores byte-exact, check --read-data is
// clean, the access log and metrics show the denied requests, and
// maintenance on the server side works.
func TestServeRansomware(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := startServe(t, "--htpasswd", writeHtpasswd(t, "laptop", "admin"), "--append-only-user", "laptop", root)
	env := []string{"CAIRN_REPOSITORY=" + srv.url("laptop", "repo"), "CAIRN_PASSWORD=secret"}
	mustCairn(t, env, "init")
	src := t.TempDir()
	var states []string
	for i := 0; i < 2; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%d", i)), 300<<10, byte(i))
		if err := os.WriteFile(filepath.Join(src, "notes"), []byte(fmt.Sprintf("version %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		mustCairn(t, env, "backup", src)
		state := filepath.Join(t.TempDir(), "state")
		copyTree(t, src, state)
		states = append(states, state)
	}
	repoDir := filepath.Join(root, "repo")
	before := treeDigest(t, repoDir)

	// Through cairn: maintenance is refused before anything is done.
	for _, args := range [][]string{
		{"forget", "--keep-last", "1", "--prune"}, {"forget", "--keep-last", "1"}, {"prune"},
		{"repair", "index"}, {"repair", "snapshots", "--forget"}, {"tag", "--add", "x", "latest"}, {"rewrite", "--exclude", "x", "--forget"},
		{"key", "remove", "00000000"}, {"parity", "enable"}, {"parity", "update"}, {"unlock", "--remove-all"},
	} {
		r := cairn(t, env, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "append-only") || !strings.Contains(r.stderr, "server side") {
			t.Errorf("cairn %s as an append-only client: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	newPw := filepath.Join(t.TempDir(), "new.pass")
	if err := os.WriteFile(newPw, []byte("other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cairn(t, env, "key", "passwd", "--new-password-file", newPw); r.code != 1 || !strings.Contains(r.stderr, "append-only") {
		t.Errorf("key passwd as an append-only client: exit %d\n%s", r.code, r.stderr)
	}
	if after := treeDigest(t, repoDir); after != before {
		t.Fatal("a refused command changed the repository")
	}

	// Through raw HTTP: every file it can name.
	denied := 0
	for _, typ := range []string{"data", "index", "snapshots", "keys", "parity"} {
		code, body := srv.request(t, "laptop", "GET", "/repo/"+typ+"/", nil)
		var files []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		}
		if code != 200 || json.Unmarshal(body, &files) != nil {
			t.Fatalf("list %s: %d %s", typ, code, body)
		}
		for _, f := range files {
			p := "/repo/" + typ + "/" + f.Name
			_, content := srv.request(t, "laptop", "GET", p, nil)
			for _, attempt := range []struct {
				method string
				body   []byte
			}{{"DELETE", nil}, {"POST", []byte("encrypted by ransomware")}, {"POST", content[:len(content)/2]}, {"POST", nil}} {
				if code, _ := srv.request(t, "laptop", attempt.method, p, attempt.body); code < 400 {
					t.Errorf("%s %s as the append-only client: %d", attempt.method, p, code)
				}
				denied++
			}
		}
	}
	for _, attempt := range []struct {
		method string
		body   []byte
	}{{"DELETE", nil}, {"POST", []byte("garbage")}} {
		if code, _ := srv.request(t, "laptop", attempt.method, "/repo/config", attempt.body); code != 403 {
			t.Errorf("%s config: %d", attempt.method, code)
		}
	}
	if after := treeDigest(t, repoDir); after != before {
		t.Fatal("the hostile client changed the repository")
	}

	// Everything is intact.
	local := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=secret"}
	mustCairn(t, local, "check", "--read-data")
	var sns []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns); err != nil || len(sns) != 2 {
		t.Fatalf("snapshots: %v %d", err, len(sns))
	}
	for i, sn := range sns {
		dst := t.TempDir()
		mustCairn(t, env, "restore", sn.ID, "--target", dst)
		compareTrees(t, states[i], filepath.Join(dst, src))
	}
	// Copy from the append-only repository works too.
	cp := filepath.Join(t.TempDir(), "copy")
	cpEnv := []string{"CAIRN_REPOSITORY=" + cp, "CAIRN_PASSWORD=secret", "CAIRN_FROM_PASSWORD=secret"}
	mustCairn(t, cpEnv, "init", "--copy-chunker-params", "--from-repo", srv.url("laptop", "repo"))
	if out := mustCairn(t, cpEnv, "copy", "--from-repo", srv.url("laptop", "repo")); !strings.Contains(out, "2 snapshots copied") {
		t.Fatalf("copy from the append-only repository:\n%s", out)
	}
	mustCairn(t, cpEnv, "check", "--read-data")
	log, err := os.ReadFile(srv.log)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), " denied: "); n < denied {
		t.Fatalf("%d denied requests in the access log, want at least %d", n, denied)
	}
	_, metrics := srv.request(t, "admin", "GET", "/metrics", nil)
	if !regexp.MustCompile(`cairn_serve_denied_total\{method="DELETE",type="data"\} [1-9]`).Match(metrics) {
		t.Fatalf("metrics don't show the denied deletes:\n%s", metrics)
	}

	// Maintenance on the server side: a user with full access, or the
	// directory itself.
	admin := []string{"CAIRN_REPOSITORY=" + srv.url("admin", "repo"), "CAIRN_PASSWORD=secret"}
	mustCairn(t, admin, "forget", "--keep-last", "1", "--prune")
	mustCairn(t, local, "check", "--read-data")
}

// treeDigest is a digest of every file's path and content under dir,
// except lock files (clients create and remove their own).
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() || strings.HasPrefix(rel, "locks") {
			return nil
		}
		h := fileHash(t, p)
		fmt.Fprintf(&b, "%s %x\n", rel, h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestServeManyClients: 8 clients (different users and hosts) back up into
// one repository of one server at once; every snapshot restores exactly,
// check is clean and the server's memory stays bounded.
func TestServeManyClients(t *testing.T) {
	t.Parallel()
	const clients = 8
	var users []string
	for i := 0; i < clients; i++ {
		users = append(users, fmt.Sprintf("host%d", i))
	}
	root := t.TempDir()
	srv := startServe(t, append([]string{"--htpasswd", writeHtpasswd(t, users...)}, root)...)
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + srv.url("host0", "shared"), "CAIRN_PASSWORD=pw"}, "init")
	srcs := make([]string, clients)
	for i := range srcs {
		srcs[i] = t.TempDir()
		writeRandom(t, filepath.Join(srcs[i], "own"), 2<<20, byte(i+1))
		writeRandom(t, filepath.Join(srcs[i], "common"), 1<<20, 99) // deduplicated across hosts
	}
	var wg sync.WaitGroup
	results := make([]result, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := []string{"CAIRN_REPOSITORY=" + srv.url(users[i], "shared"), "CAIRN_PASSWORD=pw"}
			results[i] = cairn(t, env, "backup", "--host", users[i], srcs[i])
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("client %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	for i := 0; i < clients; i++ {
		env := []string{"CAIRN_REPOSITORY=" + srv.url(users[i], "shared"), "CAIRN_PASSWORD=pw"}
		dst := t.TempDir()
		mustCairn(t, env, "restore", "latest", "--host", users[i], "--target", dst)
		compareTrees(t, srcs[i], filepath.Join(dst, srcs[i]))
	}
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + filepath.Join(root, "shared"), "CAIRN_PASSWORD=pw"}, "check", "--read-data")
	kib := srv.peakRSS(t)
	if kib > 64<<10 {
		t.Fatalf("server peak RSS %d MiB with %d clients", kib>>10, clients)
	}
	t.Logf("server peak RSS with %d clients at once: %d MiB", clients, kib>>10)
}

// TestServeRefusals: flags that would expose a server are refused with a
// clear error and exit 1.
func TestServeRefusals(t *testing.T) {
	t.Parallel()
	pw := writeHtpasswd(t, "u")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "0.0.0.0:0", "--htpasswd", pw, dir}, "in the clear"},
		{[]string{"serve", dir}, "htpasswd"},
		{[]string{"serve", "--htpasswd", filepath.Join(dir, "missing"), dir}, "missing"},
		{[]string{"serve", "--htpasswd", pw, filepath.Join(dir, "nope")}, "not a directory"},
		{[]string{"serve", "--htpasswd", pw, "--append-only-user", "v", dir}, "append-only user v"},
		{[]string{"serve", "--htpasswd", pw, "--tls-cert", pw, dir}, "go together"},
	} {
		r := cairn(t, nil, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
			t.Errorf("cairn %s: exit %d, stderr %q (want %q)", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// TestServeMirrorWithParity: a rest: repository of cairn serve as a mirror
// with parity on: copy --mirrors keeps it up to date, its parity files are
// written through the server, and it restores and checks clean. The
// mirror's password for the server comes from the environment, never
// from the repository's config.
func TestServeMirrorWithParity(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := startServe(t, "--htpasswd", writeHtpasswd(t, "admin"), root)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 1<<20)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "main"), "CAIRN_PASSWORD=pw", "CAIRN_REST_PASSWORD=admin-pw"}
	mustCairn(t, env, "init")
	mirror := "rest:http://admin@" + srv.addr + "/mirror/"
	if r := cairn(t, env, "mirror", "add", "--init", srv.url("admin", "mirror")); r.code != 1 || !strings.Contains(r.stderr, "password") {
		t.Fatalf("mirror add with a password in the location: exit %d %s", r.code, r.stderr)
	}
	mustCairn(t, env, "mirror", "add", "--init", mirror)
	mirrorEnv := []string{"CAIRN_REPOSITORY=" + mirror, "CAIRN_PASSWORD=pw", "CAIRN_REST_PASSWORD=admin-pw"}
	mustCairn(t, mirrorEnv, "parity", "enable")
	mustCairn(t, env, "backup", "-q", src)
	if out := mustCairn(t, env, "copy", "--mirrors"); !strings.Contains(out, "1 snapshots copied") {
		t.Fatalf("copy --mirrors:\n%s", out)
	}
	if out := mustCairn(t, env, "check", "--mirrors"); !strings.Contains(out, "up to date (1 snapshots)") {
		t.Fatalf("check --mirrors:\n%s", out)
	}
	parityFiles, _ := filepath.Glob(filepath.Join(root, "mirror", "parity", "*", "*"))
	packs, _ := filepath.Glob(filepath.Join(root, "mirror", "data", "*", "*"))
	if len(packs) == 0 || len(parityFiles) < len(packs) {
		t.Fatalf("%d parity files for %d packs in the mirror", len(parityFiles), len(packs))
	}
	target := t.TempDir()
	mustCairn(t, mirrorEnv, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	mustCairn(t, []string{"CAIRN_REPOSITORY=" + filepath.Join(root, "mirror"), "CAIRN_PASSWORD=pw"}, "check", "--read-data")
}
