//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var (
	t0      = time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
	summary = &snapshot.Summary{FilesNew: 3, FilesChanged: 2, FilesUnmodified: 100, DirsNew: 1, DirsChanged: 2,
		DirsUnmodified: 30, BytesRead: 5 << 20, BytesAdded: 3 << 20, BytesStored: 1 << 20, BlobsAdded: 7,
		TotalFiles: 105, TotalBytes: 900 << 20, Duration: 1500 * time.Millisecond}
)

func sampleViews() []snapshotView {
	p := "1111111111111111111111111111111111111111111111111111111111111111"
	return []snapshotView{
		{ID: p, ShortID: p[:8], Time: t0, Hostname: "web1", Username: "root", Paths: []string{"/etc", "/home"},
			Tags: []string{}, Kind: snapshot.Full, Generation: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
			Tree: "2222222222222222222222222222222222222222222222222222222222222222", Summary: summary},
		{ID: "3333333333333333333333333333333333333333333333333333333333333333", ShortID: "33333333", Time: t0.Add(24 * time.Hour),
			Hostname: "web1", Username: "root", Paths: []string{"/etc", "/home"}, Tags: []string{"nightly"},
			Kind: snapshot.Incremental, Parent: &p, Generation: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
			Tree: "4444444444444444444444444444444444444444444444444444444444444444", Summary: summary},
	}
}

func TestGoldenOutputs(t *testing.T) {
	time.Local = time.UTC
	var buf bytes.Buffer

	writeSnapshotTable(&buf, sampleViews())
	golden(t, "snapshots.txt", buf.Bytes())
	buf.Reset()
	b, _ := json.Marshal(sampleViews())
	golden(t, "snapshots.json", append(b, '\n'))

	changes := []snapshot.Change{
		{Path: "/etc/hosts", Kind: snapshot.Modified, Type: snapshot.TypeFile},
		{Path: "/etc/new.d/", Kind: snapshot.Added, Type: snapshot.TypeDir},
		{Path: "/etc/old.conf", Kind: snapshot.Removed, Type: snapshot.TypeFile},
		{Path: "/etc/passwd", Kind: snapshot.Metadata, Type: snapshot.TypeFile},
	}
	st := snapshot.DiffStats{Added: 1, Removed: 1, Modified: 1, MetadataOnly: 1, AddedBytes: 2048, RemovedBytes: 10}
	writeDiff(&buf, "11111111", "33333333", changes, st)
	golden(t, "diff.txt", buf.Bytes())
	buf.Reset()
	writeDiffJSON(&buf, "11111111", "33333333", changes, st)
	golden(t, "diff.json", buf.Bytes())
	buf.Reset()

	entries := []lsEntry{
		{Path: "/etc", Name: "etc", Type: snapshot.TypeDir, Mode: "drwxr-xr-x", User: "root", Group: "root", ModTime: t0},
		{Path: "/etc/hosts", Name: "hosts", Type: snapshot.TypeFile, Mode: "-rw-r--r--", Size: 220, UID: 1000, GID: 1000, ModTime: t0},
		{Path: "/etc/localtime", Name: "localtime", Type: snapshot.TypeSymlink, Mode: "Lrwxrwxrwx", User: "root", Group: "root", ModTime: t0, LinkTarget: "/usr/share/zoneinfo/UTC"},
	}
	writeLs(&buf, entries, true)
	golden(t, "ls-long.txt", buf.Bytes())
	buf.Reset()
	enc := jsonEncoder(&buf)
	for _, e := range entries {
		enc.Encode(e)
	}
	golden(t, "ls.json", buf.Bytes())
	buf.Reset()

	stats := snapshot.Stats{Snapshots: 2, TotalFiles: 210, RestoreSize: 1800 << 20, DataBlobs: 900, TreeBlobs: 40,
		UniqueSize: 950 << 20, StoredSize: 400 << 20, DedupRatio: 1.89, Compression: 2.37,
		Generations: []snapshot.GenerationStats{{Snapshots: 1, Packs: 3, Blobs: 100, StoredSize: 40 << 20},
			{Generation: pack.Generation{0xa1, 0xb2, 0xc3, 0xd4}, Snapshots: 1, Packs: 25, Blobs: 840, StoredSize: 360 << 20}}}
	writeStats(&buf, stats)
	golden(t, "stats.txt", buf.Bytes())
	buf.Reset()
	b, _ = json.Marshal(stats)
	golden(t, "stats.json", append(b, '\n'))
	buf.Reset()

	sn := &snapshot.Snapshot{Kind: snapshot.Incremental, Generation: pack.Generation{0xa1, 0xb2, 0xc3, 0xd4}, Summary: summary}
	for _, j := range []bool{false, true} {
		g := &globalOptions{json: j, env: &Env{Stdout: &buf}}
		printBackupSummary(g, sn, false)
	}
	golden(t, "backup-summary.txt", buf.Bytes())
	buf.Reset()

	line := progressLine(archiver.Status{Elapsed: 83 * time.Second, FilesDone: 1234, BytesDone: 300 << 20,
		TotalFiles: 5678, TotalBytes: 1 << 30, ScanDone: true, PercentDone: 300.0 / 1024, ETA: 200 * time.Second,
		CurrentFile: "/home/alice/projects/a/very/long/path/to/some/file.txt"}, 100)
	golden(t, "progress.txt", []byte(line+"\n"))
	if len([]rune(line)) >= 100 {
		t.Errorf("progress line of %d columns in a 100-column terminal", len(line))
	}
}

const goldenConfig = `# cairn configuration
[profile.home]
repository = "/srv/backup/home"
password-file = "/etc/cairn/home.pass"
sources = ["/home", "/etc"]
exclude = ["*.tmp", "/home/*/.cache"]
full = "monthly"
keep = { daily = 7, weekly = 4, monthly = 12 }
mirrors = ["sftp:backup@offsite:/srv/cairn/home"]
check-window = "30d"
verify-sample = "2%"
metrics-file = "/var/lib/node_exporter/textfile/cairn.prom"
report-file = "/var/log/cairn/home.jsonl"
run-at = "03:15"

[profile.home.hooks]
before = "pg_dump -Fc app > /var/backups/app.dump"
on-failure = "mail -s 'cairn home failed' root < /dev/null"
`

func TestGoldenProfile(t *testing.T) {
	time.Local = time.UTC
	f, err := profile.Parse("/etc/cairn/cairn.toml", []byte(goldenConfig), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.Get("home")
	var buf bytes.Buffer
	g := &globalOptions{env: &Env{Stdout: &buf}}
	writeSettings(g, f, p)
	golden(t, "config-show", buf.Bytes())

	at, _ := time.Parse("15:04", p.RunAt)
	cmd := "/usr/local/bin/cairn --config /etc/cairn/cairn.toml run home --quiet"
	golden(t, "schedule-cron", []byte(profile.CronLine(at, cmd)+"\n"))
	service, timer := profile.SystemdUnits("home", cmd, at, profile.Unit{User: "backup", Environment: []string{"CAIRN_CONFIG=/etc/cairn/cairn.toml"}})
	golden(t, "schedule-systemd", []byte(service+"---\n"+timer))

	now := time.Date(2027, 3, 17, 9, 0, 0, 0, time.UTC)
	newest := now.Add(-7 * time.Hour)
	age := 7 * 3600.0
	last := newest.Add(95 * time.Second)
	ps := job.ProfileStatus{Profile: "home", Repository: "/srv/backup/home",
		LastRun:     &job.RunSummary{RunID: "0a1b2c3d4e5f", End: last, Status: "partial", ExitCode: 3, Level: "incremental"},
		LastSuccess: &newest, Newest: &newest, AgeSeconds: &age, Snapshots: 9,
		Levels: map[string]*job.LevelStatus{
			"full":         {ID: "11111111", Time: newest.AddDate(0, 0, -16)},
			"differential": {ID: "22222222", Time: newest.AddDate(0, 0, -1)},
			"incremental":  {ID: "33333333", Time: newest},
		},
		Mirrors:  []job.MirrorStatus{{Mirror: "sftp:backup@offsite:/srv/cairn/home", Missing: 2}, {Mirror: "/mnt/usb", Error: "repository does not exist"}},
		Verified: &job.VerifiedShare{Parts: 6, Of: 7, Window: 7},
		Future:   &job.FutureSnapshots{Snapshots: 2, Newest: now.Add(76 * time.Hour), AheadSeconds: (76 * time.Hour).Seconds()}}
	buf.Reset()
	writeStatus(&buf, ps, now)
	golden(t, "status", buf.Bytes())
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, content string
		perm          os.FileMode
		want          string
	}{
		{"unknown key", "[profile.home]\nrepository = \"/r\"\nfulll = \"monthly\"\n", 0o644, "c.toml:3: profile.home.fulll: unknown key"},
		{"wrong type", "[profile.home]\nrepository = \"/r\"\nkeep = { daily = \"seven\" }\n", 0o644, "c.toml:3: profile.home.keep.daily: `keep.daily` must be a whole number"},
		{"bad period", "[profile.home]\nrepository = \"/r\"\n\nfull = \"fortnightly\"\n", 0o644, "c.toml:4: profile.home.full: \"fortnightly\" is not one of"},
		{"no repository", "[profile.home]\nsources = [\"/x\"]\n", 0o644, "c.toml:1: profile.home.repository: missing"},
		{"password in a readable file", "[profile.home]\nrepository = \"/r\"\npassword = \"secret\"\n", 0o644, "c.toml:3: profile.home.password: the file holds a password but is readable by others"},
		{"syntax", "[profile.home\nrepository = 1\n", 0o644, "c.toml:1"},
		{"bad window", "[profile.home]\nrepository = \"/r\"\ncheck-window = \"soon\"\n", 0o644, "c.toml:3: profile.home.check-window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := profile.Parse("c.toml", []byte(c.content), c.perm)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := profile.Parse("c.toml", []byte("[profile.home]\nrepository = \"/r\"\npassword = \"secret\"\n"), 0o600); err != nil {
		t.Fatalf("password in a 0600 file: %v", err)
	}
}
