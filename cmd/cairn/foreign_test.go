//go:build unix

package main_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/repo/repotest"
)

// TestResticRepositoryRefused: cairn pointed at a restic repository
// (made by restic, or laid out by hand; local, or served over REST by
// cairn serve) says so, exit 1, without asking for a password and
// without calling the password wrong.
func TestResticRepositoryRefused(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := startServe(t, "--htpasswd", writeHtpasswd(t, "u"), root)
	for _, tt := range []struct {
		name string
		make func(testing.TB, string)
	}{
		{"restic init", repotest.ResticInit},
		{"planted layout", repotest.PlantRestic},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "restic")
			tt.make(t, dir)
			served := strings.ReplaceAll(tt.name, " ", "-")
			tt.make(t, filepath.Join(root, served))
			for _, c := range []struct {
				loc, shown string
				env        []string
				args       []string
			}{
				{dir, dir, nil, []string{"snapshots"}},
				{"local:" + dir, dir, []string{"CAIRN_PASSWORD=restic-pw"}, []string{"restore", "latest", "--target", t.TempDir()}},
				{srv.url("u", served), "", []string{"CAIRN_PASSWORD=restic-pw"}, []string{"ls", "latest"}},
			} {
				r := cairn(t, append([]string{"CAIRN_REPOSITORY=" + c.loc}, c.env...), c.args...)
				first, hint, _ := strings.Cut(r.stderr, "\n")
				want := ": this is a restic repository, not a cairn one"
				if c.shown != "" {
					want = "error: open repository " + c.shown + want
				}
				if r.code != 1 || !strings.HasSuffix(first, want) || !strings.HasPrefix(first, "error: open repository ") ||
					!strings.HasPrefix(hint, "hint: ") || strings.Count(r.stderr, "\n") != 2 {
					t.Errorf("%s %v: exit %d, stderr %q; want 1 and %q with a hint", c.loc, c.args, r.code, r.stderr, want)
				}
			}
			r := cairn(t, []string{"CAIRN_REPOSITORY=" + dir, "CAIRN_PASSWORD=pw"}, "init")
			if r.code != 1 || !strings.Contains(r.stderr, "a restic repository already exists") {
				t.Errorf("init: exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}
