//go:build unix

package main_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rewriteOut is the JSON of `rewrite`.
type rewriteOut struct {
	DryRun       bool `json:"dry_run"`
	Rewritten    int  `json:"rewritten"`
	RemovedPaths int  `json:"removed_paths"`
	Snapshots    []struct {
		Snapshot    string   `json:"snapshot"`
		NewSnapshot *string  `json:"new_snapshot"`
		Rewritten   bool     `json:"rewritten"`
		Removed     []string `json:"removed"`
		Forgotten   bool     `json:"original_removed"`
	} `json:"snapshots"`
}

type rewriteSnap struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	Time     string   `json:"time"`
	Tags     []string `json:"tags"`
	Kind     string   `json:"kind"`
	Paths    []string `json:"paths"`
	Original *string  `json:"original"`
}

func rewriteJSON(t *testing.T, env []string, args ...string) rewriteOut {
	t.Helper()
	var out rewriteOut
	s := mustCairn(t, env, append([]string{"rewrite", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("rewrite --json %q: %v", s, err)
	}
	return out
}

func snapshotsByID(t *testing.T, env []string) map[string]rewriteSnap {
	t.Helper()
	var sns []rewriteSnap
	if err := json.Unmarshal([]byte(mustCairn(t, env, "snapshots", "--json")), &sns); err != nil {
		t.Fatal(err)
	}
	m := map[string]rewriteSnap{}
	for _, sn := range sns {
		m[sn.ID] = sn
	}
	return m
}

// repoListing names every file of the repository with its size.
func repoListing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dataBlobsContaining returns the data blobs (listed by `cat index` of
// every index file, in packs that exist) whose plaintext, as `cat blob`
// prints it, contains marker; and how many data blobs there are.
func dataBlobsContaining(t *testing.T, env []string, repoDir, marker string) (hits []string, blobs int) {
	t.Helper()
	idx, err := os.ReadDir(filepath.Join(repoDir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range idx {
		var file struct {
			Packs []struct {
				ID      string `json:"ID"`
				Entries []struct {
					ID   string `json:"ID"`
					Type string `json:"Type"`
				} `json:"Entries"`
			} `json:"Packs"`
		}
		if err := json.Unmarshal([]byte(mustCairn(t, env, "cat", "index", f.Name())), &file); err != nil {
			t.Fatal(err)
		}
		for _, p := range file.Packs {
			if _, err := os.Stat(filepath.Join(repoDir, "data", p.ID[:2], p.ID)); err != nil {
				continue
			}
			for _, e := range p.Entries {
				if e.Type != "data" || seen[e.ID] {
					continue
				}
				seen[e.ID] = true
				if strings.Contains(mustCairn(t, env, "cat", "blob", e.ID), marker) {
					hits = append(hits, e.ID)
				}
			}
		}
	}
	return hits, len(seen)
}

// TestRewrite removes a secret file from 5 snapshots of 3 hosts with
// rewrite --exclude --forget, then prune: no data blob holds the
// secret's bytes any more, everything else restores byte-exact, check
// --read-data is clean. A dry run writes nothing, a snapshot without the
// secret keeps its ID, the new snapshots record the originals, and
// --new-host changes the host.
func TestRewrite(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	repoDir := filepath.Join(base, "repo")
	env := []string{"CAIRN_REPOSITORY=" + repoDir, "CAIRN_PASSWORD=pw", "TZ=UTC"}
	mustCairn(t, env, "init", "-q")
	const marker = "TOP-SECRET-7f3a9c1e55d2b8046e1f"
	secretRel := filepath.Join("conf", "deep", "credentials")
	repotestWrite(t, src)
	for p, content := range map[string]string{
		secretRel:                           "aws_secret_access_key = " + marker + "\n",
		filepath.Join("conf", "deep", "ok"): "not secret\n",
		filepath.Join("docs", "readme"):     "docs\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeBig(t, filepath.Join(src, "big.bin"), 3<<20)

	// 5 snapshots of 3 hosts; the last one (host h3) is of docs only,
	// without the secret. Each state is kept, without the secret, to
	// compare the restores with.
	type made struct {
		id, host, path, state string
	}
	var snaps []made
	for i, host := range []string{"h1", "h2", "h1", "h2", "h3"} {
		if err := os.WriteFile(filepath.Join(src, "n"+strconv.Itoa(i)), []byte(strings.Repeat("x", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		path := src
		if host == "h3" {
			path = filepath.Join(src, "docs")
		}
		args := []string{"--host", host, path}
		if i == 0 {
			args = append(args, "--tag", "first")
		}
		s := backupJSON(t, env, args...)
		state := filepath.Join(base, "state"+strconv.Itoa(i))
		copyTree(t, path, state)
		if host != "h3" {
			// The parent keeps its mtime, as the snapshot's node does.
			dir := filepath.Join(state, filepath.Dir(secretRel))
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(state, secretRel)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(dir, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}
		snaps = append(snaps, made{s.SnapshotID, host, path, state})
	}
	if hits, n := dataBlobsContaining(t, env, repoDir, marker); len(hits) != 1 || n < 5 {
		t.Fatalf("before rewrite: the secret is in %d of %d data blobs, want 1", len(hits), n)
	}
	before := snapshotsByID(t, env)

	// A dry run lists the secret in the 4 snapshots that hold it and
	// writes nothing.
	listing := repoListing(t, repoDir)
	dry := rewriteJSON(t, env, "--dry-run", "--forget", "--exclude", "/"+filepath.Base(src)+"/nowhere", "--exclude", "credentials")
	if !dry.DryRun || dry.Rewritten != 4 || dry.RemovedPaths != 4 || len(dry.Snapshots) != 5 {
		t.Fatalf("dry run: %+v", dry)
	}
	text := mustCairn(t, env, "rewrite", "--dry-run", "--exclude", "credentials")
	if strings.Count(text, filepath.Join(src, secretRel)) != 4 || !strings.Contains(text, "would rewrite 4 snapshots") {
		t.Fatalf("dry run text:\n%s", text)
	}
	if after := repoListing(t, repoDir); !slices.Equal(after, listing) {
		t.Fatalf("dry run changed the repository:\nbefore %v\nafter  %v", listing, after)
	}

	// The rewrite, anchored at the full path inside the snapshot.
	out := rewriteJSON(t, env, "--forget", "--exclude", filepath.Join(src, secretRel))
	if out.DryRun || out.Rewritten != 4 || out.RemovedPaths != 4 {
		t.Fatalf("rewrite: %+v", out)
	}
	newID := map[string]string{}
	for _, s := range out.Snapshots {
		if s.Rewritten != (s.Snapshot != snaps[4].id) || s.Rewritten != s.Forgotten {
			t.Fatalf("rewrite result %+v", s)
		}
		if s.NewSnapshot != nil {
			newID[s.Snapshot] = *s.NewSnapshot
		}
	}
	newID[snaps[4].id] = snaps[4].id
	after := snapshotsByID(t, env)
	if len(after) != 5 {
		t.Fatalf("%d snapshots after rewrite --forget, want 5", len(after))
	}
	for _, m := range snaps {
		old, ns := before[m.id], after[newID[m.id]]
		if ns.ID == "" {
			t.Fatalf("snapshot %s: its rewrite %s is missing", m.id[:8], newID[m.id])
		}
		if ns.Hostname != old.Hostname || ns.Time != old.Time || !slices.Equal(ns.Tags, old.Tags) || ns.Kind != old.Kind || !slices.Equal(ns.Paths, old.Paths) {
			t.Errorf("snapshot %s: metadata changed: %+v, was %+v", m.id[:8], ns, old)
		}
		switch {
		case m.host == "h3" && ns.Original != nil:
			t.Errorf("snapshot without the secret was rewritten: %+v", ns)
		case m.host != "h3" && (ns.Original == nil || *ns.Original != m.id):
			t.Errorf("snapshot %s: original %v", m.id[:8], ns.Original)
		}
	}

	mustCairn(t, env, "prune", "--grace", "0", "--max-unused", "0%")
	if hits, n := dataBlobsContaining(t, env, repoDir, marker); len(hits) != 0 || n < 5 {
		t.Fatalf("after prune: the secret is in %d of %d data blobs: %v", len(hits), n, hits)
	}
	out2 := mustCairn(t, env, "check", "--read-data")
	if !strings.Contains(out2, "no errors") {
		t.Fatalf("check --read-data:\n%s", out2)
	}
	for i, m := range snaps {
		target := filepath.Join(base, "restore"+strconv.Itoa(i))
		mustCairn(t, env, "restore", newID[m.id], "--target", target)
		compareTrees(t, m.state, filepath.Join(target, m.path))
	}

	// --new-host rewrites a snapshot without matching paths; a second
	// rewrite keeps the first original.
	h := rewriteJSON(t, env, "--new-host", "h4", "--forget", snaps[4].id[:8])
	if h.Rewritten != 1 || h.Snapshots[0].NewSnapshot == nil {
		t.Fatalf("--new-host: %+v", h)
	}
	h2 := rewriteJSON(t, env, "--new-host", "h5", newID[snaps[0].id])
	final := snapshotsByID(t, env)
	if sn := final[*h.Snapshots[0].NewSnapshot]; sn.Hostname != "h4" || sn.Original == nil || *sn.Original != snaps[4].id {
		t.Fatalf("--new-host snapshot %+v", sn)
	}
	if _, ok := final[snaps[4].id]; ok {
		t.Fatal("--new-host --forget kept the original")
	}
	if sn := final[*h2.Snapshots[0].NewSnapshot]; sn.Hostname != "h5" || sn.Original == nil || *sn.Original != snaps[0].id || !slices.Equal(sn.Tags, []string{"first"}) {
		t.Fatalf("second rewrite %+v, want original %s", sn, snaps[0].id[:8])
	}
	if r := cairn(t, env, "rewrite", "latest"); r.code != 1 || !strings.Contains(r.stderr, "nothing to do") {
		t.Fatalf("rewrite without changes: exit %d %s", r.code, r.stderr)
	}
}

// TestRewriteOverServe: rewrite goes through the repository API only, so
// it works on a remote backend as on a local one: over `cairn serve`
// (rest:), a secret removed from two snapshots with --forget and pruned
// is in no data blob any more, the rest restores exactly and check
// --read-data is clean.
func TestRewriteOverServe(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := startServe(t, "--htpasswd", writeHtpasswd(t, "u"), root)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	env := []string{"CAIRN_REPOSITORY=" + srv.url("u", "repo"), "CAIRN_PASSWORD=pw", "TZ=UTC"}
	mustCairn(t, env, "init", "-q")
	const marker = "REMOTE-SECRET-41d7c0a9e3b2"
	secret := filepath.Join(src, "etc", "token")
	for p, content := range map[string]string{
		secret:                               "token = " + marker + "\n",
		filepath.Join(src, "etc", "ok.conf"): "fine\n",
		filepath.Join(src, "data", "notes"):  "notes\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	backupJSON(t, env, "--host", "a", src)
	if err := os.WriteFile(filepath.Join(src, "data", "more"), []byte("more\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	backupJSON(t, env, "--host", "b", src)
	repoDir := filepath.Join(root, "repo")
	if hits, _ := dataBlobsContaining(t, env, repoDir, marker); len(hits) != 1 {
		t.Fatalf("before rewrite: the secret is in %d data blobs, want 1", len(hits))
	}
	out := rewriteJSON(t, env, "--forget", "--exclude", secret)
	if out.Rewritten != 2 || out.RemovedPaths != 2 {
		t.Fatalf("rewrite: %+v", out)
	}
	mustCairn(t, env, "prune", "--grace", "0", "--max-unused", "0%")
	if hits, n := dataBlobsContaining(t, env, repoDir, marker); len(hits) != 0 || n == 0 {
		t.Fatalf("after prune: the secret is in %d of %d data blobs", len(hits), n)
	}
	if s := mustCairn(t, env, "check", "--read-data"); !strings.Contains(s, "no errors") {
		t.Fatalf("check --read-data:\n%s", s)
	}
	// The source without the secret, its directory keeping its mtime as
	// the snapshot's node does.
	fi, err := os.Stat(filepath.Dir(secret))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Dir(secret), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "restore")
	mustCairn(t, env, "restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
}
