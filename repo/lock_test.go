package repo_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/repotest"
)

func TestLockConflicts(t *testing.T) {
	ctx := context.Background()
	r0, dir := repotest.New(t, repo.InitOptions{})
	r0.Session().Close()
	clock := &repotest.Clock{T: time.Now()}
	a := repotest.OpenBare(t, dir, repo.Options{Now: clock.Now})
	b := repotest.OpenBare(t, dir, repo.Options{Now: clock.Now})
	tests := []struct {
		name          string
		first, second bool // exclusive?
		conflict      bool
	}{
		{"shared+shared", false, false, false},
		{"shared+exclusive", false, true, true},
		{"exclusive+shared", true, false, true},
		{"exclusive+exclusive", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l1, err := a.Begin(ctx, repo.SessionOptions{Lock: mode(tt.first), Command: "first"})
			if err != nil {
				t.Fatal(err)
			}
			defer l1.Close()
			l2, err := b.Begin(ctx, repo.SessionOptions{Lock: mode(tt.second)})
			if tt.conflict {
				var le *repo.LockedError
				if !errors.As(err, &le) || le.Holder.PID != os.Getpid() || le.Holder.Command != "first" {
					t.Fatalf("want a LockedError naming the holder, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l2.Close()
		})
	}
}

func mode(exclusive bool) repo.LockMode {
	if exclusive {
		return repo.ExclusiveLock
	}
	return repo.SharedLock
}

func TestLockRetryWaits(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	l1 := r.Session()
	go func() {
		time.Sleep(100 * time.Millisecond)
		l1.Close()
	}()
	r2 := repotest.OpenBare(t, dir, repo.Options{})
	l2, err := r2.Begin(ctx, repo.SessionOptions{Lock: repo.ExclusiveLock, Retry: 5 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("--retry-lock did not wait for the holder: %v", err)
	}
	l2.Close()
}

// TestStaleLocks: a lock not refreshed for 30 minutes doesn't block; a
// lock of this host whose process is gone is removed with a notice.
func TestStaleLocks(t *testing.T) {
	ctx := context.Background()
	r0, dir := repotest.New(t, repo.InitOptions{})
	r0.Session().Close()
	clock := &repotest.Clock{T: time.Now()}
	r := repotest.OpenBare(t, dir, repo.Options{Now: clock.Now})
	host, _ := os.Hostname()
	save := func(l repo.LockInfo) {
		b, _ := json.Marshal(l)
		if _, err := r.SaveUnpacked(ctx, backend.LockFile, b); err != nil {
			t.Fatal(err)
		}
	}
	save(repo.LockInfo{Time: clock.T.Add(-31 * time.Minute), Exclusive: true, Hostname: "elsewhere", PID: 1})
	save(repo.LockInfo{Time: clock.T, Exclusive: true, Hostname: host, PID: 999999999})
	var notices []string
	lk, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.ExclusiveLock, OnNotice: func(s string) { notices = append(notices, s) }})
	if err != nil {
		t.Fatalf("stale locks blocked: %v", err)
	}
	defer lk.Close()
	if len(notices) != 1 {
		t.Fatalf("notices %v, want one for the dead process", notices)
	}
	locks, _ := r.Locks().List(ctx)
	if len(locks) != 2 { // ours and the old foreign one (unlock removes that)
		t.Fatalf("%d locks left", len(locks))
	}
}

// TestLockLost: a lock that could not be refreshed before going stale (a
// suspended machine), or that someone removed, is lost for good.
func TestLockLost(t *testing.T) {
	ctx := context.Background()
	r0, dir := repotest.New(t, repo.InitOptions{})
	r0.Session().Close()
	clock := &repotest.Clock{T: time.Now()}
	r := repotest.OpenBare(t, dir, repo.Options{Now: clock.Now})

	lk, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.SharedLock})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(6 * time.Minute)
	if err := lk.Check(ctx); err != nil {
		t.Fatalf("refresh in time failed: %v", err)
	}
	clock.Advance(31 * time.Minute)
	if err := lk.Check(ctx); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("after 31 minutes without refresh: %v, want ErrLockLost", err)
	}
	clock.Advance(-31 * time.Minute)
	if err := lk.Check(ctx); !errors.Is(err, repo.ErrLockLost) {
		t.Fatal("a lost lock came back")
	}
	if lk.Context().Err() == nil {
		t.Fatal("the session's context was not cancelled when its lock was lost")
	}
	lk.Close()

	lk2, err := r.Begin(ctx, repo.SessionOptions{Lock: repo.SharedLock})
	if err != nil {
		t.Fatal(err)
	}
	locks, _ := r.Locks().List(ctx)
	for _, l := range locks {
		r.Locks().Remove(ctx, l) // what `cairn unlock --remove-all` does
	}
	if err := lk2.Check(ctx); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("removed lock: %v, want ErrLockLost", err)
	}
	if !errors.Is(context.Cause(lk2.Context()), repo.ErrLockLost) {
		t.Fatalf("session context cause %v, want ErrLockLost", context.Cause(lk2.Context()))
	}
	lk2.Close()
}
