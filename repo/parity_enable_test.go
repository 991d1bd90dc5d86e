package repo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
	"github.com/cairn-backup/cairn/repo/parity"
	"github.com/cairn-backup/cairn/repo/repotest"
)

// TestParityEnableProbes: parity is switched on only on storage that
// takes a parity file; where the server refuses the type (a REST server
// that knows restic's types only), enable says so and the config is
// unchanged. A probe leaves no file behind.
func TestParityEnableProbes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		fault *backend.Fault
	}{
		{"accepted", nil},
		{"save refused", &backend.Fault{Op: backend.Save, Type: backend.ParityFile, Err: backend.ErrInjected}},
		{"load refused", &backend.Fault{Op: backend.Load, Type: backend.ParityFile, Err: backend.ErrInjected}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r0, dir := repotest.New(t, repo.InitOptions{})
			if s := r0.Session(); s != nil {
				s.Close()
			}
			var be backend.Backend = local.New(dir)
			if tc.fault != nil {
				be = backend.NewFaulty(be, *tc.fault)
			}
			r := repotest.OpenOn(t, be, repo.SessionOptions{Lock: repo.ExclusiveLock})
			err := r.Parity().Enable(ctx, parity.Default)
			if tc.fault == nil {
				if err != nil || !r.Config().Parity.Enabled() {
					t.Fatalf("enable: %v, parity %v", err, r.Config().Parity)
				}
			} else if !errors.Is(err, repo.ErrParityRefused) || r.Config().Parity.Enabled() {
				t.Fatalf("enable on storage refusing parity: %v, parity %v", err, r.Config().Parity)
			}
			r.Session().Close()
			again := repotest.Open(t, dir)
			if again.Config().Parity.Enabled() != (tc.fault == nil) {
				t.Fatalf("stored config: parity %v", again.Config().Parity)
			}
			var left int
			if err := local.New(dir).List(ctx, backend.ParityFile, func(backend.FileInfo) error { left++; return nil }); err != nil {
				t.Fatal(err)
			}
			if left != 0 && tc.fault == nil {
				t.Fatalf("the probe left %d parity files", left)
			}
		})
	}
	r, _ := repotest.New(t, repo.InitOptions{})
	repotest.Exclusive(t, r)
	if err := r.Parity().Enable(ctx, parity.Params{K: 0, M: 2}); err == nil {
		t.Fatal("invalid parameters accepted")
	}
}
