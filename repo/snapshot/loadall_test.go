package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/repotest"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// TestLoadAllAllOrNothing (defect 9): with one unreadable snapshot file,
// LoadAll returns no snapshots and an error naming it; LoadReadable returns
// the readable ones and names the unreadable one; latest is refused, not
// answered with an older snapshot.
func TestLoadAllAllOrNothing(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.New(t, repo.InitOptions{})
	for i := range 2 {
		if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Tree: pack.Hash([]byte("tree")), Time: time.Now().Add(time.Duration(i) * time.Hour), Paths: []string{"/x"}, Kind: snapshot.Full}); err != nil {
			t.Fatal(err)
		}
	}
	junk := []byte("not a sealed snapshot")
	bad := pack.Hash(junk)
	if err := os.WriteFile(filepath.Join(dir, "snapshots", bad.String()), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	// A new session: the planted file appeared after this one's index.
	r.Session().Close()
	repotest.Begin(t, r)
	sns, err := snapshot.LoadAll(ctx, r)
	var ue *snapshot.UnreadableError
	if sns != nil || !errors.As(err, &ue) || len(ue.IDs) != 1 || ue.IDs[0] != bad || !strings.Contains(err.Error(), bad.Short()) {
		t.Fatalf("LoadAll with an unreadable snapshot: %d snapshots, %v", len(sns), err)
	}
	if !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("unreadable snapshot is not damage: %v", err)
	}
	sns, ue, err = snapshot.LoadReadable(ctx, r)
	if err != nil || len(sns) != 2 || ue == nil || ue.IDs[0] != bad {
		t.Fatalf("LoadReadable: %d snapshots, %v, %v", len(sns), ue, err)
	}
	if sn, err := snapshot.Find(ctx, r, "latest", snapshot.Filter{}); err == nil {
		t.Fatalf("latest with an unreadable snapshot answered %s", sn.ID().Short())
	}
}
