//go:build unix

package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestResumeKilledBackup: a first backup to a rate-limited repository,
// killed with SIGKILL at about 80% of its upload and run again, reads the
// files again but uploads at most 25% of the data: the index files
// written every --index-interval name most packs stored before the kill,
// and the rerun takes over (after checking them) those uploaded since.
// 200 MB by default, 2 GB with CAIRN_SOAK=1.
func TestResumeKilledBackup(t *testing.T) {
	total, files, limit, interval := 200<<20, 20, "20480", "500ms" // ~10 s of upload
	if os.Getenv("CAIRN_SOAK") == "1" {
		total, files, limit, interval = 2<<30, 64, "24576", "10s" // ~90 s
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < files; i++ {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%03d", i)), total/files, byte(i))
	}
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--pack-size", "4")
	data := filepath.Join(repoDir, "data")

	cmd := exec.Command(cairnBin, "--limit-upload", limit, "backup", "-q", "--index-interval", interval, src)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "XDG_CACHE_HOME=" + cacheHome}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	start := time.Now()
	for dirSize(t, data) < int64(total)*8/10 {
		select {
		case err := <-done:
			t.Fatalf("backup ended before 80%% of the upload (%v): the limit is too loose for the test", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	killedAt := dirSize(t, data)
	killTime := time.Since(start).Round(time.Millisecond)
	t.Logf("killed after %v with %d of %d bytes stored", killTime, killedAt, total)

	indexFiles, _ := os.ReadDir(filepath.Join(repoDir, "index"))
	out := mustCairn(t, env, "--limit-upload", limit, "backup", "-v", src)
	uploaded := dirSize(t, data) - killedAt
	packs, adopted := 0, "nothing"
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "took over ") {
			adopted = l
			fmt.Sscanf(l, "took over %d packs", &packs)
		}
	}
	t.Logf("%d index files at the kill; rerun: %s; uploaded %d of %d bytes (%.1f%%)",
		len(indexFiles), adopted, uploaded, total, 100*float64(uploaded)/float64(total))
	if len(indexFiles) < 2 {
		t.Errorf("%d index files after %v of upload with --index-interval %s, want several", len(indexFiles), killTime, interval)
	}
	if packs == 0 {
		t.Errorf("the rerun took over no pack uploaded after the last index file:\n%s", out)
	}
	if uploaded > int64(total)/4 {
		t.Errorf("rerun uploaded %d bytes, more than 25%% of %d", uploaded, total)
	}
	target := filepath.Join(base, "restore")
	mustCairn(t, env, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	mustCairn(t, env, "check")
}
