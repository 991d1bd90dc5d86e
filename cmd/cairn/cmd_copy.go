package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/connect"
	"github.com/cairn-backup/cairn/repo/copier"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type copyOptions struct {
	from    repoSource
	mirrors bool
	filter  filterOptions
}

func newCopyCommand(g *globalOptions) *cobra.Command {
	var o copyOptions
	cmd := &cobra.Command{
		Use:   "copy [SNAPSHOT...]",
		Short: "Copy snapshots to this repository from another, or to the mirrors",
		Long: `Copy snapshots with every tree and data blob they need from the repository
given by --from-repo into this one, re-encrypted for this repository; any
combination of local, SFTP and S3 repositories works. Without snapshot
arguments every snapshot (matching --host/--tag/--path) is copied. A
snapshot already copied (the copy records the source's original ID) is
skipped, so a nightly copy transfers only what is new. Generations are
kept: a copied full snapshot starts its own generation here.

With --mirrors, this repository is the source and every mirror listed in
its config (cairn mirror add) is brought up to date.

An interrupted copy leaves the destination consistent; run it again to
finish.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.mirrors {
				if o.from.location != "" {
					return errors.New("copy: --mirrors copies from this repository; don't give --from-repo")
				}
				return runCopyMirrors(cmd.Context(), g, o, args)
			}
			return runCopyFrom(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from.location, "from-repo", "", "source repository `location` (default $CAIRN_FROM_REPOSITORY)")
	f.StringVar(&o.from.passwordFile, "from-password-file", "", "read the source password from `file` (default $CAIRN_FROM_PASSWORD_FILE)")
	f.StringVar(&o.from.passwordCommand, "from-password-command", "", "run `command` for the source password")
	f.BoolVar(&o.mirrors, "mirrors", false, "copy from this repository to each of its mirrors")
	o.filter.addFlags(cmd)
	return cmd
}

// fromSource completes --from-repo and its password sources from the
// environment (CAIRN_FROM_REPOSITORY, CAIRN_FROM_PASSWORD_FILE,
// CAIRN_FROM_PASSWORD).
func (g *globalOptions) fromSource(s repoSource, what string) (repoSource, error) {
	if s.location == "" {
		s.location = g.env.Getenv("CAIRN_FROM_REPOSITORY")
	}
	if s.location == "" {
		return s, &exitError{code: exitFatal, err: fmt.Errorf("%s: no source repository given", what),
			hint: "pass --from-repo or set CAIRN_FROM_REPOSITORY"}
	}
	if s.passwordFile == "" {
		s.passwordFile = g.env.Getenv("CAIRN_FROM_PASSWORD_FILE")
	}
	s.password = g.env.Getenv("CAIRN_FROM_PASSWORD")
	return s, nil
}

func runCopyFrom(ctx context.Context, g *globalOptions, o copyOptions, args []string) error {
	from, err := g.fromSource(o.from, "copy")
	if err != nil {
		return err
	}
	if from.passwordFile == "" && from.passwordCommand == "" && from.password == "" && !g.env.IsTerminal() {
		return &exitError{code: exitFatal, err: errors.New("copy: no password for the source repository"),
			hint: "set CAIRN_FROM_PASSWORD, or pass --from-password-file or --from-password-command"}
	}
	r, err := g.other(from).openRepo(ctx)
	if err != nil {
		return fmt.Errorf("source %s: %w", from.location, err)
	}
	dst, err := g.openRepo(ctx)
	if err != nil {
		return err
	}
	res, err := g.copy(ctx, r, dst, args, o.filter.filter(), "")
	if err != nil {
		return err
	}
	return printCopy(g, res, "")
}

// copy copies snapshots of src to dst, each in its session.
func (g *globalOptions) copy(ctx context.Context, src, dst *repo.Repository, refs []string, f snapshot.Filter, name string) (*copier.Result, error) {
	return g.sessions().Copy(ctx, src, dst, job.CopyRequest{Refs: refs, Filter: f, OnUnreadable: g.warnUnreadable,
		OnCopied: func(c copier.Copied) {
			if !g.json {
				g.printf("%scopied snapshot %s of %s to %s: %d blobs (%s) copied, %d reused\n", name, c.Source.Short(),
					c.Time.Local().Format("2006-01-02 15:04:05"), c.Destination.Short(), c.Blobs, formatBytes(c.Bytes), c.Reused)
			}
		}})
}

func printCopy(g *globalOptions, res *copier.Result, name string) error {
	if g.json {
		return jsonOut(g, res)
	}
	g.printf("%s%d snapshots copied, %d already there\n", name, len(res.Copied), res.Skipped)
	return nil
}

func runCopyMirrors(ctx context.Context, g *globalOptions, o copyOptions, args []string) error {
	r, err := g.openRepo(ctx)
	if err != nil {
		return err
	}
	if len(r.Config().Mirrors) == 0 {
		return &exitError{code: exitFatal, err: errors.New("copy --mirrors: this repository has no mirrors"),
			hint: "add one with `cairn mirror add LOCATION`"}
	}
	return copyMirrors(ctx, g, r, o, args)
}

func copyMirrors(ctx context.Context, g *globalOptions, src *repo.Repository, o copyOptions, args []string) error {
	mirrors := src.Config().Mirrors
	type mirrorResult struct {
		Mirror string         `json:"mirror"`
		Result *copier.Result `json:"result,omitempty"`
		Error  string         `json:"error,omitempty"`
	}
	var out []mirrorResult
	var errs []error
	for _, m := range mirrors {
		name := fmt.Sprintf("mirror %s: ", m.Location)
		res, err := copyToMirror(ctx, g, src, m, args, o.filter.filter(), name)
		mr := mirrorResult{Mirror: m.Location, Result: res}
		if err != nil {
			mr.Error = err.Error()
			errs = append(errs, fmt.Errorf("mirror %s: %w", m.Location, err))
			if !g.json { // in the JSON array
				g.warnf("error: copy to mirror %s: %v\n", m.Location, err)
			}
		} else if !g.json {
			_ = printCopy(g, res, name)
		}
		out = append(out, mr)
	}
	if g.json {
		if err := jsonOut(g, out); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		// The worst exit code of the mirrors wins (e.g. 11 for a locked one).
		worst, hint := exitFatal, ""
		for _, e := range errs {
			c, h := exitCode(ctx, e)
			if c != exitFatal && c > worst {
				worst = c
			}
			if hint == "" {
				hint = h
			}
		}
		return &exitError{code: worst, err: fmt.Errorf("copy --mirrors: %d of %d mirrors failed: %w", len(errs), len(mirrors), errors.Join(errs...)), hint: hint}
	}
	return nil
}

// mirrorSource is where a mirror is and its password: the local
// --mirror-password-file or -command (or the profile's, or
// $CAIRN_MIRROR_PASSWORD_FILE), else this repository's password. A
// password source stored with the mirror in the repository's config (by
// older versions) is never used: it is told once.
func (g *globalOptions) mirrorSource(m repo.Mirror) repoSource {
	if m.PasswordFile != "" || m.PasswordCommand != "" {
		g.warnf("warning: the repository's config names a password source for mirror %s; it is ignored, since nothing read from a repository is run or opened: give --mirror-password-file or --mirror-password-command (or set them in the profile), and `cairn mirror remove` then `mirror add` it to drop the stored one\n", m.Location)
	}
	mp := connect.MirrorPasswordFor(g.registry(), g.mirrorPasswordFile, g.mirrorPasswordCommand, g.env.Getenv("CAIRN_MIRROR_PASSWORD_FILE"), m.Location)
	s := repoSource{location: m.Location, passwordFile: mp.File, passwordCommand: mp.Command}
	if mp.File == "" && mp.Command == "" {
		s.password = g.pw
	}
	return s
}

func copyToMirror(ctx context.Context, g *globalOptions, src *repo.Repository, m repo.Mirror, refs []string, f snapshot.Filter, name string) (*copier.Result, error) {
	dst, err := g.other(g.mirrorSource(m)).openRepo(ctx)
	if err != nil {
		return nil, job.MirrorOpenError(m.Location, err)
	}
	return g.copy(ctx, src, dst, refs, f, name)
}

// mirrorLag lists, per mirror, the snapshots of src it lacks.
type mirrorLag struct {
	Mirror    string   `json:"mirror"`
	Snapshots int      `json:"snapshots"`
	Missing   []string `json:"missing"`
	Error     string   `json:"error,omitempty"`
}

func checkMirrors(ctx context.Context, g *globalOptions, src *repo.Repository) ([]mirrorLag, error) {
	all, err := g.readableSnapshots(ctx, src)
	if err != nil {
		return nil, err
	}
	out := []mirrorLag{}
	for _, m := range src.Config().Mirrors {
		ml := mirrorLag{Mirror: m.Location, Missing: []string{}}
		have, missing, err := job.Lacking(ctx, func(ctx context.Context, _ string) (*repo.Repository, error) {
			return g.other(g.mirrorSource(m)).openRepo(ctx)
		}, m.Location, all)
		ml.Snapshots = have
		for _, sn := range missing {
			ml.Missing = append(ml.Missing, sn.ID().Short())
		}
		if err != nil {
			ml.Error = err.Error()
		}
		out = append(out, ml)
	}
	slices.SortStableFunc(out, func(a, b mirrorLag) int { return len(b.Missing) - len(a.Missing) })
	return out, nil
}
