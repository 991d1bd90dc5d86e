package checker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/parity"
)

// parityNote describes what the parity file of a damaged file h says: which
// shards are bad and whether a repair can rebuild it. file is what is left
// of h (nil: missing or not read).
func (c *checker) parityNote(ctx context.Context, h backend.Handle, file []byte) string {
	if c.parity == nil {
		return ""
	}
	if _, ok := c.parity.Present[h.Name]; !ok {
		return "; it has no parity file"
	}
	par, err := c.r.LoadFile(ctx, repo.ParityHandle(h))
	if err != nil {
		return "; its parity file can't be read: " + err.Error()
	}
	if file == nil {
		file, _ = c.r.LoadFile(ctx, h)
	}
	rep, err := parity.Check(file, par)
	if err != nil {
		return "; " + err.Error()
	}
	return "; parity: " + rep.String()
}

// parityState lists parity and reports files without it while parity is
// on, and parity files whose file is gone.
func (c *checker) parityState(ctx context.Context) error {
	st, err := c.r.Parity().State(ctx)
	if err != nil {
		return err
	}
	c.parity = st
	c.rep.ParityFiles = st.ParityFiles
	if c.r.Config().Parity.Enabled() && len(st.Missing) > 0 {
		var names []string
		for _, m := range st.Missing {
			names = append(names, m.Type.String()+"/"+m.Name[:12])
		}
		c.warn("parity", "", fmt.Sprintf("%d of %d files have no parity file (%s); run `cairn parity update`",
			len(st.Missing), st.Files, joinFirst(names, 5)))
	}
	if !c.r.Config().Parity.Enabled() && st.ParityFiles > 0 {
		c.warn("parity", "", fmt.Sprintf("parity is off but %d parity files remain; `cairn parity disable` removes them", st.ParityFiles))
	}
	for _, o := range st.Orphans {
		c.warn("parity", o.Name[:12], "belongs to a file that is gone (removed by `cairn parity update`)")
	}
	return nil
}

// checkParityFile reads the parity file of h and checks it on its own.
func (c *checker) checkParityFile(ctx context.Context, h backend.Handle) error {
	if c.parity == nil {
		return nil
	}
	if _, ok := c.parity.Present[h.Name]; !ok {
		return nil
	}
	par, err := c.r.LoadFile(ctx, repo.ParityHandle(h))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.fail("parity", h.Name[:12], "can't be read: "+err.Error())
		return nil
	}
	c.rep.ParityRead++
	rep, err := parity.CheckParity(par)
	switch {
	case err != nil:
		c.fail("parity", h.Name[:12], fmt.Sprintf("of %s is damaged: %v; run `cairn parity update` to rewrite it", h, err))
	case rep.Damaged():
		c.fail("parity", h.Name[:12], fmt.Sprintf("of %s is damaged: %s; run `cairn parity update` to rewrite it", h, rep))
	case rep.Header.FileSize != c.parity.Sizes[h.Name]:
		c.fail("parity", h.Name[:12], fmt.Sprintf("of %s is for %d bytes, the file has %d", h, rep.Header.FileSize, c.parity.Sizes[h.Name]))
	}
	return nil
}

func joinFirst(s []string, n int) string {
	var b bytes.Buffer
	for i, x := range firstN(s, n) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// FileRepair says what parity did for one damaged file.
type FileRepair struct {
	File    string `json:"file"`
	Damage  string `json:"damage"`
	Rebuilt bool   `json:"rebuilt"`
	Error   string `json:"error,omitempty"`
}

// RepairFromParity checks each file of type t (ids; nil: all of them)
// against its name and rebuilds the damaged or missing ones from their
// parity files, replacing them only with content that matches the name.
func RepairFromParity(ctx context.Context, r *repo.Repository, t backend.FileType, ids []pack.ID) ([]FileRepair, error) {
	if ids == nil {
		var err error
		if ids, err = r.List(ctx, t); err != nil {
			return nil, err
		}
	}
	var out []FileRepair
	for _, id := range ids {
		h := backend.Handle{Type: t, Name: id.String()}
		b, err := r.LoadFile(ctx, h)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		if err == nil && pack.Hash(b) == id {
			continue
		}
		fr := FileRepair{File: h.String()}
		fixed, rep, err := r.Parity().Rebuild(ctx, h)
		if rep != nil {
			fr.Damage = rep.String()
		}
		if err != nil {
			fr.Error = err.Error()
			out = append(out, fr)
			continue
		}
		if err := r.Backend().Replace(ctx, h, bytes.NewReader(fixed), int64(len(fixed))); err != nil {
			return out, fmt.Errorf("replace %s with its rebuilt content: %w", h, err)
		}
		fr.Rebuilt = true
		out = append(out, fr)
	}
	return out, nil
}
