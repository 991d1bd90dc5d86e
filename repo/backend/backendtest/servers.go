package backendtest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// need skips t when a test server is not configured, except under CI,
// where a missing server is a failure.
func need(t testing.TB, what, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is not: the %s test server must run (scripts/test.sh starts it)", env, what)
		}
		t.Skipf("no %s test server (scripts/test.sh starts one)", what)
	}
	return v
}

// SFTPServer returns the SFTP test server's location and the command that
// reaches it (from scripts/sshd.sh's environment).
func SFTPServer(t testing.TB) (location, command string) {
	t.Helper()
	return need(t, "SFTP", "CAIRN_TEST_SFTP"), os.Getenv("CAIRN_TEST_SFTP_COMMAND")
}

// S3Server returns the MinIO test server's location and credentials (from
// scripts/minio.sh's environment).
func S3Server(t testing.TB) (location, key, secret string) {
	t.Helper()
	return need(t, "S3", "CAIRN_TEST_S3"), os.Getenv("CAIRN_TEST_S3_KEY"), os.Getenv("CAIRN_TEST_S3_SECRET")
}

// Rclone returns the path of the rclone program (Debian's rclone
// package; .ci/run installs it). Without one the test is skipped, except
// under CI, where it is a failure.
func Rclone(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("rclone")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but rclone is not installed: %v", err)
		}
		t.Skip("rclone is not installed")
	}
	return p
}

// RcloneRESTServer starts `rclone serve restic` on dir, listening on a free
// port of 127.0.0.1 with args added (e.g. --user, --pass), and returns its
// base URL ("http://127.0.0.1:PORT/"). The server ends with the test.
func RcloneRESTServer(t testing.TB, dir string, args ...string) string {
	t.Helper()
	prog := Rclone(t)
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		var stderr bytes.Buffer
		cmd := exec.Command(prog, append([]string{"serve", "restic", "--addr", addr}, append(args, dir)...)...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start rclone: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				t.Logf("rclone serve restic on %s exited: %s", addr, stderr.String())
				deadline = time.Time{} // another port
				continue
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					<-exited
				})
				return "http://" + addr + "/"
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Fatal("rclone serve restic did not start")
	return ""
}
