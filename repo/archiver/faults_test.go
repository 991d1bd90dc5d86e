package archiver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/archiver"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/checker"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestStorageFaultsDuringBackup: a save failing with ENOSPC, EIO or a
// timeout stops the backup with an error naming the operation, writes no
// snapshot, and leaves a repository that checks clean (orphans aside) and
// takes the next backup.
func TestStorageFaultsDuringBackup(t *testing.T) {
	tests := []struct {
		name  string
		fault backend.Fault
		want  string
	}{
		{"ENOSPC on a pack", backend.Fault{Op: backend.Save, Pattern: "data/*/*", After: 1, Err: syscall.ENOSPC}, "no space left"},
		{"EIO on the index", backend.Fault{Op: backend.Save, Pattern: "index/*", Err: syscall.EIO}, "input/output error"},
		{"timeout", backend.Fault{Op: backend.Save, Pattern: "data/*/*", After: 1, Delay: time.Minute}, "deadline exceeded"},
		{"snapshot write fails", backend.Fault{Op: backend.Save, Pattern: "snapshots/*", Err: syscall.EIO}, "snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := repotest.New(t, repo.InitOptions{})
			src := sourceTree(t)
			for i := 0; i < 4; i++ {
				repotest.WriteFiles(t, src, map[string]string{"more/f" + string(rune('a'+i)): strings.Repeat(string(rune('a'+i)), 2<<20)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			faulty := backend.NewFaulty(local.New(dir), tt.fault)
			r, err := repo.Open(ctx, faulty, repotest.Password, repo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			sess, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.SharedLock, Index: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
			sess.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("backup with a storage fault: %v, want an error about %q", err, tt.want)
			}
			// Consistent: no snapshot, check clean apart from orphans, and
			// the next backup works and restores exactly.
			r2 := repotest.Open(t, dir)
			if sns, _ := snapshot.LoadAll(context.Background(), r2); len(sns) != 0 {
				t.Fatalf("%d snapshots after a failed backup", len(sns))
			}
			rep, err := checker.Check(context.Background(), r2, checker.Options{ReadData: true})
			if err != nil || rep.Damaged() {
				t.Fatalf("check after a failed backup: %v %+v", err, rep)
			}
			sn, err := archiver.Run(context.Background(), r2, archiver.Options{Paths: []string{src}})
			if err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			if _, err := restorer.Restore(context.Background(), r2, sn, src, target, restorer.Options{}); err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(filepath.Join(src, "more/fc"))
			got, _ := os.ReadFile(filepath.Join(target, "more/fc"))
			if string(got) != string(want) {
				t.Fatal("restore after the failed backup differs")
			}
		})
	}
}

// TestFaultyLoadDetected: data damaged on its way back from storage is
// caught by authentication, never returned.
func TestFaultyLoadDetected(t *testing.T) {
	r, dir := repotest.New(t, repo.InitOptions{})
	src := sourceTree(t)
	sn := backup(t, r, archiver.Options{Paths: []string{src}})
	faulty := backend.NewFaulty(local.New(dir), backend.Fault{Op: backend.Load, Pattern: "data/*/*", Flip: true, FlipAt: 10})
	rf, err := repo.Open(context.Background(), faulty, repotest.Password, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Session().Close()
	repotest.Begin(t, rf)
	_, err = restorer.Restore(context.Background(), rf, sn, "/", t.TempDir(), restorer.Options{OnError: func(string, error) {}})
	if !errors.Is(err, restorer.ErrPartial) && !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("restore through flipped bits: %v", err)
	}
}
