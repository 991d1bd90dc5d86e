package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type fullSummary struct {
	FilesNew        int64  `json:"files_new"`
	FilesChanged    int64  `json:"files_changed"`
	FilesUnmodified int64  `json:"files_unmodified"`
	DirsNew         int64  `json:"dirs_new"`
	DirsChanged     int64  `json:"dirs_changed"`
	DirsUnmodified  int64  `json:"dirs_unmodified"`
	BytesRead       int64  `json:"bytes_read"`
	SnapshotID      string `json:"snapshot_id"`
	Kind            string `json:"kind"`
	Parent          string `json:"parent"`
	Generation      string `json:"generation"`
}

func backupSummary(t *testing.T, env []string, args ...string) fullSummary {
	t.Helper()
	out := mustCairn(t, env, append([]string{"backup", "--json"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s fullSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	for _, l := range lines[:len(lines)-1] {
		var ev struct {
			MessageType string `json:"message_type"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.MessageType != "status" {
			t.Fatalf("progress event %q: %v", l, err)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("--json printed no status event before the summary: %q", out)
	}
	return s
}

func write(t *testing.T, p, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWeekOfBackups scripts a week: full, then incremental and
// differential backups with files added, changed, deleted and renamed,
// and checks kind, parent, generation, exact summary counts and a
// byte-exact restore of every day.
func TestWeekOfBackups(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 10; i++ {
		write(t, filepath.Join(src, "d", fmt.Sprintf("f%d", i)), strings.Repeat(fmt.Sprint(i), 1000+i))
	}
	for i := 0; i < 5; i++ {
		write(t, filepath.Join(src, "sub", fmt.Sprintf("g%d", i)), strings.Repeat("g", 100+i))
	}
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")

	type day struct {
		change  func()
		args    []string
		kind    string
		parent  int // day index of the parent, -1 for none
		newF    int64
		changed int64
		unmod   int64
		dirs    [3]int64 // new, changed, unmodified
	}
	days := []day{
		{nil, []string{"--full"}, "full", -1, 15, 0, 0, [3]int64{3, 0, 0}},
		{func() {
			write(t, filepath.Join(src, "d/f0"), "changed content of f0")
			write(t, filepath.Join(src, "d/new1"), "new file")
			os.Remove(filepath.Join(src, "d/f1"))
			os.Rename(filepath.Join(src, "d/f2"), filepath.Join(src, "d/f2-renamed"))
		}, nil, "incremental", 0, 2, 1, 12, [3]int64{0, 2, 1}},
		{func() { write(t, filepath.Join(src, "sub/g0"), "g0 changed") }, []string{"--differential"}, "differential", 0, 2, 2, 11, [3]int64{0, 3, 0}},
		{func() { write(t, filepath.Join(src, "sub/new2"), "another new file") }, nil, "incremental", 2, 1, 0, 15, [3]int64{0, 2, 1}},
		{func() { os.Rename(filepath.Join(src, "sub"), filepath.Join(src, "sub2")) }, nil, "incremental", 3, 6, 0, 10, [3]int64{1, 1, 1}},
		{nil, []string{"--differential"}, "differential", 0, 8, 1, 7, [3]int64{1, 2, 0}},
		{nil, []string{"--full"}, "full", -1, 16, 0, 0, [3]int64{3, 0, 0}},
	}
	var sums []fullSummary
	for i, d := range days {
		if d.change != nil {
			d.change()
		}
		copyTree(t, src, filepath.Join(base, fmt.Sprintf("day%d", i)))
		s := backupSummary(t, env, append(d.args, src)...)
		sums = append(sums, s)
		if s.Kind != d.kind {
			t.Errorf("day %d: kind %s, want %s", i, s.Kind, d.kind)
		}
		wantParent := ""
		if d.parent >= 0 {
			wantParent = sums[d.parent].SnapshotID
		}
		if s.Parent != wantParent {
			t.Errorf("day %d: parent %.8s, want %.8s", i, s.Parent, wantParent)
		}
		if s.FilesNew != d.newF || s.FilesChanged != d.changed || s.FilesUnmodified != d.unmod {
			t.Errorf("day %d: files new/changed/unmodified %d/%d/%d, want %d/%d/%d",
				i, s.FilesNew, s.FilesChanged, s.FilesUnmodified, d.newF, d.changed, d.unmod)
		}
		if got := [3]int64{s.DirsNew, s.DirsChanged, s.DirsUnmodified}; got != d.dirs {
			t.Errorf("day %d: dirs new/changed/unmodified %v, want %v", i, got, d.dirs)
		}
	}
	// Generations: days 0-5 share the first full's, day 6 starts its own.
	for i := 1; i < 6; i++ {
		if sums[i].Generation != sums[0].Generation {
			t.Errorf("day %d: generation %.8s, want the full's %.8s", i, sums[i].Generation, sums[0].Generation)
		}
	}
	if sums[6].Generation == sums[0].Generation || sums[0].Generation == strings.Repeat("0", 32) {
		t.Errorf("full backups share generation %.8s", sums[6].Generation)
	}
	for i, s := range sums {
		target := filepath.Join(base, fmt.Sprintf("restore%d", i))
		mustCairn(t, env, "restore", s.SnapshotID, "--target", target)
		compareTrees(t, filepath.Join(base, fmt.Sprintf("day%d", i)), filepath.Join(target, src))
	}
	// The JSON listing records kind, parent and generation too.
	var sns []struct {
		ID         string  `json:"id"`
		Kind       string  `json:"kind"`
		Parent     *string `json:"parent"`
		Generation string  `json:"generation"`
	}
	if err := json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns); err != nil || len(sns) != 7 {
		t.Fatalf("snapshots --json: %v (%d)", err, len(sns))
	}
	if sns[0].Parent != nil || sns[1].Parent == nil || *sns[1].Parent != sums[0].SnapshotID {
		t.Errorf("snapshots --json parents: %+v", sns[:2])
	}
}

// TestFullIsolation: after two full backups, deleting every pack written
// before the second leaves it and the snapshots after it restorable.
func TestFullIsolation(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeSpecial(t, src, 2<<20)
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	backupSummary(t, env, "--full", src)
	write(t, filepath.Join(src, "later"), "between the fulls")
	backupSummary(t, env, src)
	old := map[string]bool{}
	packs, _ := filepath.Glob(filepath.Join(repoDir, "data", "*", "*"))
	for _, p := range packs {
		old[p] = true
	}
	second := backupSummary(t, env, "--full", src)
	copyTree(t, src, filepath.Join(base, "at-second"))
	write(t, filepath.Join(src, "after"), "after the second full")
	third := backupSummary(t, env, src)
	if third.Generation != second.Generation || third.FilesUnmodified == 0 {
		t.Fatalf("incremental after the second full: %+v", third)
	}
	var st struct {
		Generations []struct {
			Generation string `json:"generation"`
			Packs      int    `json:"packs"`
			StoredSize int64  `json:"stored_size"`
		} `json:"generations"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "stats", "--json")), &st)
	if len(st.Generations) != 2 || st.Generations[0].StoredSize == 0 || st.Generations[1].StoredSize == 0 {
		t.Fatalf("stats generations: %+v", st.Generations)
	}
	for p := range old {
		os.Chmod(p, 0o600)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	mustCairn(t, env, "restore", second.SnapshotID, "--target", filepath.Join(base, "r2"))
	compareTrees(t, filepath.Join(base, "at-second"), filepath.Join(base, "r2", src))
	mustCairn(t, env, "restore", third.SnapshotID, "--target", filepath.Join(base, "r3"))
	compareTrees(t, src, filepath.Join(base, "r3", src))
}

// TestFileChangingDuringBackup: a file written to while it is read gives
// exit 3 and a snapshot without it, never a torn copy.
func TestFileChangingDuringBackup(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "stable"), "stable")
	growing := filepath.Join(src, "growing.log")
	writeBig(t, growing, 64<<20)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init", "--compression", "max")
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(growing, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		for !stop.Load() {
			f.Write([]byte(strings.Repeat("log line\n", 100)))
			time.Sleep(time.Millisecond)
		}
	}()
	cmd := exec.Command(cairnBin, "backup", src)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, _ := cmd.CombinedOutput()
	stop.Store(true)
	<-done
	if cmd.ProcessState.ExitCode() != 3 || !strings.Contains(string(out), growing) || !strings.Contains(string(out), "changed while being read") {
		t.Fatalf("exit %d:\n%s", cmd.ProcessState.ExitCode(), out)
	}
	ls := mustCairn(t, env, "ls", "latest:"+src)
	if strings.Contains(ls, "growing.log") || !strings.Contains(ls, "stable") {
		t.Fatalf("snapshot holds a torn file or lacks the rest:\n%s", ls)
	}
}
