package backendtest

import (
	"os"
	"testing"
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
