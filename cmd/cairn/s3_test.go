package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestS3Repository backs up into a MinIO bucket (scripts/minio.sh, started
// by scripts/test.sh), restores byte for byte and checks every blob; init
// creates the bucket.
func TestS3Repository(t *testing.T) {
	loc := os.Getenv("CAIRN_TEST_S3")
	if loc == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but CAIRN_TEST_S3 is not: the MinIO test server must run")
		}
		t.Skip("no S3 test server (scripts/test.sh starts MinIO when installed)")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 20<<20) // packs above the multipart size
	repo := fmt.Sprintf("%s-e2e-%d/repo", loc, os.Getpid())
	env := []string{"CAIRN_REPOSITORY=" + repo, "CAIRN_PASSWORD=pw",
		"AWS_ACCESS_KEY_ID=" + os.Getenv("CAIRN_TEST_S3_KEY"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("CAIRN_TEST_S3_SECRET")}
	opt := []string{"-o", "s3.bucket-lookup=path", "-o", "s3.connections=4"}
	run := func(args ...string) string { return mustCairn(t, env, append(opt, args...)...) }
	run("init", "--pack-size", "32")
	run("backup", "-q", src)
	write(t, filepath.Join(src, "later.txt"), "second")
	if s := backupSummary(t, env, append(opt, src)...); s.FilesUnmodified == 0 {
		t.Fatalf("incremental over s3 read everything: %+v", s)
	}
	target := filepath.Join(base, "t")
	run("restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	if out := run("check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Fatalf("check over s3: %s", out)
	}
	bad := append([]string{}, env...)
	bad[3] = "AWS_SECRET_ACCESS_KEY=wrong"
	if r := cairn(t, bad, append(opt, "snapshots")...); r.code == 0 {
		t.Fatalf("wrong secret accepted: %q", r.stdout)
	}
}
