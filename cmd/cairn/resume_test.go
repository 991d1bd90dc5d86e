//go:build unix

package main_test

import (
	"encoding/json"
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
	// The packs stored after the last index file (none when the kill
	// came right after one).
	var plan struct {
		Orphans int `json:"orphan_packs"`
	}
	pout := strings.Split(strings.TrimSpace(mustCairn(t, env, "prune", "--dry-run", "--json")), "\n")
	if err := json.Unmarshal([]byte(pout[len(pout)-1]), &plan); err != nil {
		t.Fatalf("prune --dry-run --json: %v", err)
	}
	out := mustCairn(t, env, "--limit-upload", limit, "backup", "-v", src)
	uploaded := dirSize(t, data) - killedAt
	packs, adopted := 0, "nothing"
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "took over ") {
			adopted = l
			fmt.Sscanf(l, "took over %d packs", &packs)
		}
	}
	t.Logf("%d index files and %d orphan packs at the kill; rerun: %s; uploaded %d of %d bytes (%.1f%%)",
		len(indexFiles), plan.Orphans, adopted, uploaded, total, 100*float64(uploaded)/float64(total))
	if len(indexFiles) < 2 {
		t.Errorf("%d index files after %v of upload with --index-interval %s, want several", len(indexFiles), killTime, interval)
	}
	if packs != plan.Orphans {
		t.Errorf("the rerun took over %d packs, want the %d uploaded after the last index file:\n%s", packs, plan.Orphans, out)
	}
	if uploaded > int64(total)/4 {
		t.Errorf("rerun uploaded %d bytes, more than 25%% of %d", uploaded, total)
	}
	target := filepath.Join(base, "restore")
	mustCairn(t, env, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	mustCairn(t, env, "check")
}

// TestRestoreResumesLargeFile: restore --overwrite if-changed of a file
// cut at 60% with one chunk in the middle corrupted writes only the
// chunks from the cut on and the corrupted one (bytes_restored, against
// the chunk lengths in the index), and the file is byte-exact afterwards.
func TestRestoreResumesLargeFile(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	const size = 48 << 20
	writeRandom(t, filepath.Join(src, "big.bin"), size, 9)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	mustCairn(t, env, "backup", "-q", src)
	target := filepath.Join(base, "target")
	mustCairn(t, env, "restore", "latest", "--target", target)
	p := filepath.Join(target, src, "big.bin")
	if err := os.Truncate(p, size*6/10); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("corrupt"), size*3/10)
	f.Close()

	out := mustCairn(t, env, "restore", "latest", "--target", target, "--overwrite", "if-changed", "--json")
	var sum struct {
		Bytes int64 `json:"bytes_restored"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("restore summary %q: %v", out, err)
	}
	want := chunksToWrite(t, env, filepath.Join(base, "repo"), src, "big.bin", size*6/10, size*3/10)
	t.Logf("resumed restore of a %d-byte file cut at 60%% wrote %d bytes (%.1f%%): the chunks from the cut on and the corrupted one hold %d",
		size, sum.Bytes, 100*float64(sum.Bytes)/size, want)
	if got, want := fileHash(t, p), fileHash(t, filepath.Join(src, "big.bin")); got != want {
		t.Fatal("the resumed file differs from the source")
	}
	if sum.Bytes != want {
		t.Fatalf("resumed restore wrote %d bytes, want %d: only the chunks from the cut on and the corrupted one", sum.Bytes, want)
	}
}

// chunksToWrite is the size of the chunks of file name in the latest
// snapshot of dir that reach past cut or hold offset bad.
func chunksToWrite(t *testing.T, env []string, repoDir, dir, name string, cut, bad int64) int64 {
	t.Helper()
	var tree struct {
		Nodes []struct {
			Name    string   `json:"name"`
			Content []string `json:"content"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "cat", "tree", "latest:"+dir)), &tree); err != nil {
		t.Fatal(err)
	}
	lens := map[string]int64{}
	files, _ := os.ReadDir(filepath.Join(repoDir, "index"))
	for _, f := range files {
		var idx struct {
			Packs []struct {
				Entries []struct {
					ID        string
					RawLength int64
				}
			}
		}
		if err := json.Unmarshal([]byte(mustCairn(t, env, "cat", "index", f.Name())), &idx); err != nil {
			t.Fatal(err)
		}
		for _, p := range idx.Packs {
			for _, e := range p.Entries {
				lens[e.ID] = e.RawLength
			}
		}
	}
	var off, n int64
	for _, node := range tree.Nodes {
		if node.Name != name {
			continue
		}
		for _, id := range node.Content {
			end := off + lens[id]
			if end > cut || (off < bad+int64(len("corrupt")) && bad < end) {
				n += lens[id]
			}
			off = end
		}
	}
	return n
}
