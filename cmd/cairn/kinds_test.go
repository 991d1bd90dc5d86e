//go:build unix

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

func TestBackupSourcesAndFilters(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "keep/a.txt"), "a")
	write(t, filepath.Join(src, "cache/CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n")
	write(t, filepath.Join(src, "cache/blob"), "cached")
	write(t, filepath.Join(src, "fakecache/CACHEDIR.TAG"), "not a real tag")
	write(t, filepath.Join(src, "fakecache/data"), "kept")
	write(t, filepath.Join(src, "skipme/.nobackup"), "")
	write(t, filepath.Join(src, "skipme/secret"), "s")
	write(t, filepath.Join(src, "large.bin"), strings.Repeat("L", 3000))
	write(t, filepath.Join(src, "other/b.txt"), "b")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")

	// --dry-run stores nothing.
	before := dirSize(t, filepath.Join(base, "repo"))
	dry := mustCairn(t, env, "backup", "--dry-run", src)
	if !strings.Contains(dry, "dry run") || dirSize(t, filepath.Join(base, "repo")) != before {
		t.Fatalf("--dry-run stored something or said nothing:\n%s", dry)
	}
	if out := mustCairn(t, env, "snapshots", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("--dry-run wrote a snapshot: %s", out)
	}

	mustCairn(t, env, "backup", "--exclude-caches", "--exclude-if-present", ".nobackup",
		"--exclude-larger-than", "2K", "--time", "2026-01-02 03:04:05", "--tag", "filters", src)
	ls := mustCairn(t, env, "ls", "-R", "--tag", "filters", "latest:"+src)
	for _, want := range []string{"keep/a.txt", "cache/CACHEDIR.TAG", "fakecache/data", "skipme/.nobackup", "other/b.txt"} {
		if !strings.Contains(ls, want) {
			t.Errorf("%s missing:\n%s", want, ls)
		}
	}
	for _, not := range []string{"cache/blob", "skipme/secret", "large.bin"} {
		if strings.Contains(ls, not) {
			t.Errorf("%s not excluded:\n%s", not, ls)
		}
	}
	var sns []struct {
		Time time.Time `json:"time"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json", "--tag", "filters")), &sns)
	if len(sns) != 1 || sns[0].Time.Format("2006-01-02 15:04:05") != "2026-01-02 03:04:05" {
		t.Fatalf("--time: %+v", sns)
	}

	// --files-from and --files-from-raw.
	list := filepath.Join(base, "list")
	os.WriteFile(list, []byte("# comment\n"+filepath.Join(src, "keep")+"\n\n"), 0o644)
	raw := filepath.Join(base, "raw")
	os.WriteFile(raw, []byte(filepath.Join(src, "other")+"\x00"), 0o644)
	mustCairn(t, env, "backup", "--files-from", list, "--files-from-raw", raw, "--tag", "lists")
	ls = mustCairn(t, env, "ls", "-R", "--tag", "lists", "latest")
	if !strings.Contains(ls, "keep/a.txt") || !strings.Contains(ls, "other/b.txt") || strings.Contains(ls, "cache") {
		t.Fatalf("--files-from:\n%s", ls)
	}

	// --stdin.
	cmd := exec.Command(cairnBin, "backup", "--stdin", "--stdin-filename", "dump.sql", "--tag", "db")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader("CREATE TABLE t (x int);\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("--stdin: %v\n%s", err, out)
	}
	target := filepath.Join(base, "r")
	mustCairn(t, env, "restore", "--tag", "db", "latest", "--target", target)
	if b, _ := os.ReadFile(filepath.Join(target, "dump.sql")); string(b) != "CREATE TABLE t (x int);\n" {
		t.Fatalf("stdin restored as %q", b)
	}

	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"backup", "--exclude-larger-than", "lots", src}, "lots"},
		{[]string{"backup", "--time", "yesterday", src}, "yesterday"},
		{[]string{"backup", "--full", "--differential", src}, "--differential"},
		{[]string{"backup", "--stdin", src}, "--stdin"},
		{[]string{"backup", "--stdin", "--stdin-filename", "../x"}, "../x"},
		{[]string{"backup", "--files-from", "/nonexistent-list"}, "/nonexistent-list"},
		{[]string{"backup"}, "nothing to back up"},
		{[]string{"backup", "--full", "--parent", "latest", src}, "--parent"},
	} {
		if r := cairn(t, env, tt.args...); r.code != 1 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q", tt.args, r.code, r.stderr)
		}
	}
}

func TestDiffFindTagSnapshots(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "a.conf"), "a")
	write(t, filepath.Join(src, "b.txt"), "b")
	write(t, filepath.Join(src, "d/c.conf"), "c")
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	s1 := backupSummary(t, env, "--tag", "one", src)
	write(t, filepath.Join(src, "a.conf"), "a changed")
	os.Remove(filepath.Join(src, "b.txt"))
	write(t, filepath.Join(src, "new.conf"), "n")
	os.Chmod(filepath.Join(src, "d/c.conf"), 0o600)
	s2 := backupSummary(t, env, src)

	diff := mustCairn(t, env, "diff", s1.SnapshotID[:8], s2.SnapshotID[:8])
	for _, want := range []string{"M  " + src + "/a.conf", "-  " + src + "/b.txt", "+  " + src + "/new.conf", "U  " + src + "/d/c.conf"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	var last struct {
		MessageType string `json:"message_type"`
		Added       int    `json:"added"`
		Removed     int    `json:"removed"`
		Modified    int    `json:"modified"`
	}
	lines := strings.Split(strings.TrimSpace(mustCairn(t, env, "--json", "diff", s1.SnapshotID, "latest")), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if last.MessageType != "statistics" || last.Added != 1 || last.Removed != 1 || last.Modified != 1 {
		t.Fatalf("diff --json statistics: %+v", last)
	}

	find := mustCairn(t, env, "find", "*.conf")
	if strings.Count(find, "found in snapshot") != 2 || !strings.Contains(find, src+"/new.conf") {
		t.Fatalf("find:\n%s", find)
	}
	if out := mustCairn(t, env, "find", "--snapshot", s1.SnapshotID[:8], "new.conf"); !strings.Contains(out, "no matches") {
		t.Fatalf("find --snapshot:\n%s", out)
	}
	var matches []map[string]any
	json.Unmarshal([]byte(mustCairn(t, env, "find", "--json", "/**/d/*.conf")), &matches)
	if len(matches) != 2 {
		t.Fatalf("find anchored pattern: %d matches", len(matches))
	}

	mustCairn(t, env, "tag", "--add", "kept", "--remove", "one", s1.SnapshotID[:8])
	var sns []struct {
		ID       string   `json:"id"`
		Tags     []string `json:"tags"`
		Original *string  `json:"original"`
	}
	json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json", "--tag", "kept")), &sns)
	if len(sns) != 1 || len(sns[0].Tags) != 1 || sns[0].Original == nil || *sns[0].Original != s1.SnapshotID {
		t.Fatalf("tag: %+v", sns)
	}
	var latest []map[string]any
	json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json", "--latest", "1")), &latest)
	if len(latest) != 1 || latest[0]["id"] != s2.SnapshotID {
		t.Fatalf("--latest 1: %v", latest)
	}
	grouped := mustCairn(t, env, "snapshots", "--group-by", "tags")
	if strings.Count(grouped, "snapshots for tags") != 2 {
		t.Fatalf("--group-by tags:\n%s", grouped)
	}
	if r := cairn(t, env, "snapshots", "--group-by", "color"); r.code != 1 || !strings.Contains(r.stderr, "color") {
		t.Fatalf("bad --group-by: %d %q", r.code, r.stderr)
	}
}

// TestProgressOnTerminal runs a backup under a pseudo-terminal (script
// from util-linux): the progress line is drawn there, and never when
// stdout is a pipe (the other tests) or with --quiet.
func TestProgressOnTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to make a pseudo-terminal")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	writeBig(t, filepath.Join(src, "big"), 200<<20)
	env := []string{"CAIRN_REPOSITORY=" + filepath.Join(base, "repo"), "CAIRN_PASSWORD=pw"}
	mustCairn(t, env, "init")
	run := func(extra string) string {
		cmd := exec.Command(script, "-qec", cairnBin+" backup "+extra+" "+src, "/dev/null")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TERM=xterm"}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("backup on a terminal: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run("--full")
	if !strings.Contains(out, "\r\x1b[K[") || !strings.Contains(out, "files") || !strings.Contains(out, "snapshot ") {
		t.Fatalf("no progress line on a terminal:\n%q", out)
	}
	if out := run("--full --quiet"); strings.Contains(out, "\x1b[K") {
		t.Fatalf("progress shown with --quiet:\n%q", out)
	}
}
