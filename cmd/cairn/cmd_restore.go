package main

import (
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/restorer"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

type restoreOptions struct {
	filterOptions
	target             string
	include, exclude   []string
	iinclude, iexclude []string
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT[:PATH] --target DIR",
		Short: "Restore a snapshot or a part of it",
		Long: `Restore a snapshot, or the subtree at PATH, into DIR.

Exit code 3 means some files could not be restored (each is reported on
stderr); 13 means the repository is damaged.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.target, "target", "t", "", "restore into `directory`")
	f.StringArrayVarP(&o.include, "include", "i", nil, "restore only paths matching `pattern` (repeatable)")
	f.StringArrayVarP(&o.exclude, "exclude", "e", nil, "don't restore paths matching `pattern` (repeatable)")
	f.StringArrayVar(&o.iinclude, "iinclude", nil, "like --include, ignoring case")
	f.StringArrayVar(&o.iexclude, "iexclude", nil, "like --exclude, ignoring case")
	o.filterOptions.addFlags(cmd)
	return cmd
}

func combineMatchers(pats, ipats []string) (*snapshot.Matcher, *snapshot.Matcher, error) {
	m, err := snapshot.NewMatcher(pats, false)
	if err != nil {
		return nil, nil, err
	}
	im, err := snapshot.NewMatcher(ipats, true)
	return m, im, err
}

func runRestore(cmd *cobra.Command, g *globalOptions, o restoreOptions, arg string) error {
	ctx := cmd.Context()
	if o.target == "" {
		return &exitError{code: exitFatal, err: errors.New("restore: no target directory given"), hint: "pass --target DIR"}
	}
	if len(o.iinclude) > 0 && len(o.include) > 0 || len(o.iexclude) > 0 && len(o.exclude) > 0 {
		return errors.New("restore: use either --include or --iinclude (and --exclude or --iexclude), not both")
	}
	inc, iinc, err := combineMatchers(o.include, o.iinclude)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	exc, iexc, err := combineMatchers(o.exclude, o.iexclude)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if !iinc.Empty() {
		inc = iinc
	}
	if !iexc.Empty() {
		exc = iexc
	}
	r, err := g.openRepo(ctx, true)
	if err != nil {
		return err
	}
	ref, p := snapshot.SplitRef(arg)
	sn, err := snapshot.Find(ctx, r, ref, o.filter())
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var damaged bool
	opts := restorer.Options{Include: inc, Exclude: exc, OnError: func(p string, err error) {
		mu.Lock()
		defer mu.Unlock()
		damaged = damaged || isDamage(err)
		g.warnf("error: restore %s: %v\n", p, err)
	}}
	st, err := restorer.Restore(ctx, r, sn, p, o.target, opts)
	if err != nil && !errors.Is(err, restorer.ErrPartial) {
		return err
	}
	if g.json {
		if jerr := jsonOut(g, map[string]any{"message_type": "summary", "files_restored": st.Files,
			"dirs_restored": st.Dirs, "bytes_restored": st.Bytes, "errors": st.Errors}); jerr != nil {
			return jerr
		}
	} else {
		g.printf("restored %d files, %d dirs, %s from snapshot %s to %s\n", st.Files, st.Dirs, formatBytes(st.Bytes), sn.ID().Short(), o.target)
	}
	if err != nil {
		if damaged {
			return &exitError{code: exitDamage, err: fmt.Errorf("restore: %w: some data is damaged", err),
				hint: "run `cairn check --read-data` to see what is damaged"}
		}
		return err
	}
	return nil
}

func isDamage(err error) bool { return errors.Is(err, repo.ErrDamaged) }
