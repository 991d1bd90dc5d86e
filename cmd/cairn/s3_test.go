//go:build unix

package main_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/backend/backendtest"
)

// TestS3Repository backs up into a MinIO bucket (scripts/minio.sh, started
// by scripts/test.sh), restores byte for byte and checks every blob; init
// creates the bucket.
func TestS3Repository(t *testing.T) {
	loc, key, secret := backendtest.S3Server(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 20<<20) // packs above the multipart size
	repo := fmt.Sprintf("%s-e2e-%d/repo", loc, os.Getpid())
	env := []string{"CAIRN_REPOSITORY=" + repo, "CAIRN_PASSWORD=pw",
		"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret}
	opt := []string{"-o", "s3.bucket-lookup=path", "-o", "s3.connections=4"}
	remoteRoundTrip(t, env, opt, base, src)
	bad := append([]string{}, env...)
	bad[3] = "AWS_SECRET_ACCESS_KEY=wrong"
	if r := cairn(t, bad, append(opt, "snapshots")...); r.code == 0 {
		t.Fatalf("wrong secret accepted: %q", r.stdout)
	}
}

// TestS3ServerRestart stops the MinIO server in the middle of a backup and
// starts it again: the backup finishes after retries (or fails with a
// clear error), and the repository checks clean either way.
func TestS3ServerRestart(t *testing.T) {
	loc, key, secret := backendtest.S3Server(t)
	dir := os.Getenv("CAIRN_TEST_MINIO_DIR")
	if dir == "" {
		t.Skip("the S3 server was not started by scripts/minio.sh, so it can't be restarted")
	}
	bin, err := exec.LookPath("minio")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "minio")
	}
	u, _ := url.Parse(strings.TrimPrefix(loc, "s3:"))
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 30; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), 1<<20, byte(i))
	}
	bucket := fmt.Sprintf("restart-%d", os.Getpid())
	repoLoc := fmt.Sprintf("s3:http://%s/%s/repo", u.Host, bucket)
	env := []string{"CAIRN_REPOSITORY=" + repoLoc, "CAIRN_PASSWORD=pw",
		"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret}
	opt := []string{"-o", "s3.bucket-lookup=path"}
	mustCairn(t, env, append(opt, "init", "--pack-size", "1")...)

	cmd := exec.Command(cairnBin, append(opt, "backup", "-q", src)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "XDG_CACHE_HOME=" + cacheHome}, env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once some packs are stored, stop the server, then start it again.
	for i := 0; i < 500; i++ {
		if n, _ := filepath.Glob(filepath.Join(dir, "data", bucket, "repo", "data", "*", "*")); len(n) >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pidb, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
		p.Wait()
	}
	time.Sleep(2 * time.Second)
	srv := exec.Command(bin, "server", "--quiet", "--address", u.Host, filepath.Join(dir, "data"))
	srv.Env = append(os.Environ(), "MINIO_ROOT_USER="+key, "MINIO_ROOT_PASSWORD="+secret, "MINIO_BROWSER=off")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(srv.Process.Pid)), 0o644)
	go srv.Wait()
	err = cmd.Wait()
	t.Logf("backup across the restart: %v\n%s", err, out.String())
	if err != nil && (strings.Contains(out.String(), "panic") || !strings.Contains(out.String(), "error:")) {
		t.Fatalf("the backup did not fail cleanly: %s", out.String())
	}
	if r := cairn(t, env, append(opt, "check", "--read-data")...); r.code != 0 {
		t.Fatalf("check after the restart: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if err == nil {
		target := filepath.Join(base, "t")
		mustCairn(t, env, append(opt, "restore", "latest", "--target", target)...)
		compareTrees(t, src, filepath.Join(target, src))
	}
}
