package restorer

import (
	"archive/tar"
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/cairn-backup/cairn/pack"
	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/snapshot"
)

// WriteContent writes the content of file node n to w, loading its blobs
// a few ahead of the writer so the output streams.
func WriteContent(ctx context.Context, r Repository, n *snapshot.Node, w io.Writer) error {
	type result struct {
		data []byte
		err  error
	}
	const ahead = 4
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	futures := make(chan chan result, ahead)
	go func() {
		defer close(futures)
		for _, id := range n.Content {
			ch := make(chan result, 1)
			select {
			case futures <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				b, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
				ch <- result{b, err}
			}()
		}
	}()
	var written uint64
	for ch := range futures {
		res := <-ch
		if res.err != nil {
			return fmt.Errorf("file %s: %w", n.Name, res.err)
		}
		if _, err := w.Write(res.data); err != nil {
			return err
		}
		written += uint64(len(res.data))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if written != n.Size {
		return fmt.Errorf("file %s: %w: content has %d bytes, node says %d", n.Name, repo.ErrDamaged, written, n.Size)
	}
	return nil
}

// Archive formats for Dump.
const (
	FormatTar = "tar"
	FormatZip = "zip"
)

// Dump writes the directory node dir (named name inside the archive) and
// everything below it to w as a tar or zip stream.
func Dump(ctx context.Context, r Repository, dir *snapshot.Node, name, format string, w io.Writer) error {
	switch format {
	case FormatTar:
		tw := tar.NewWriter(w)
		d := &tarDumper{r: r, tw: tw, links: map[[2]uint64]string{}, lim: snapshot.NewTreeLimit()}
		if err := d.node(ctx, name, dir); err != nil {
			return err
		}
		return tw.Close()
	case FormatZip:
		zw := zip.NewWriter(w)
		if err := dumpZip(ctx, r, snapshot.NewTreeLimit(), zw, name, dir); err != nil {
			return err
		}
		return zw.Close()
	}
	return fmt.Errorf("invalid archive format %q: want tar or zip", format)
}

type tarDumper struct {
	r     Repository
	tw    *tar.Writer
	links map[[2]uint64]string
	lim   *snapshot.TreeLimit
}

func (d *tarDumper) node(ctx context.Context, name string, n *snapshot.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" { // the snapshot root: its entries, without itself
		return eachChild(ctx, d.r, d.lim, n, "", d.node)
	}
	h := &tar.Header{Name: name, Mode: int64(unixMode(n.Mode)), Uid: int(n.UID), Gid: int(n.GID),
		Uname: n.User, Gname: n.Group, ModTime: n.ModTime, AccessTime: n.AccessTime, Format: tar.FormatPAX}
	if len(n.Xattrs) > 0 {
		h.PAXRecords = map[string]string{}
		for _, x := range n.Xattrs {
			h.PAXRecords["SCHILY.xattr."+x.Name] = string(x.Value)
		}
	}
	switch n.Type {
	case snapshot.TypeDir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case snapshot.TypeFile:
		key := [2]uint64{n.DeviceID, n.Inode}
		if first, ok := d.links[key]; ok && n.Links > 1 {
			h.Typeflag, h.Linkname = tar.TypeLink, first
		} else {
			if n.Links > 1 {
				d.links[key] = name
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(n.Size)
		}
	case snapshot.TypeSymlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, n.LinkTarget
	case snapshot.TypeFIFO:
		h.Typeflag = tar.TypeFifo
	case snapshot.TypeDev, snapshot.TypeCharDev:
		h.Typeflag = tar.TypeBlock
		if n.Type == snapshot.TypeCharDev {
			h.Typeflag = tar.TypeChar
		}
		h.Devmajor, h.Devminor = int64((n.Rdev>>8)&0xfff), int64((n.Rdev&0xff)|((n.Rdev>>12)&0xfff00))
	default:
		return nil // sockets are not archived
	}
	if err := d.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	switch {
	case h.Typeflag == tar.TypeReg:
		return WriteContent(ctx, d.r, n, d.tw)
	case n.Type == snapshot.TypeDir:
		return eachChild(ctx, d.r, d.lim, n, name, d.node)
	}
	return nil
}

// eachChild calls fn for every entry of directory n, named below name.
func eachChild(ctx context.Context, r Repository, lim *snapshot.TreeLimit, n *snapshot.Node, name string, fn func(context.Context, string, *snapshot.Node) error) error {
	t, err := lim.Load(ctx, r, *n.Subtree)
	if err != nil {
		return err
	}
	for _, c := range t.Nodes {
		if err := fn(ctx, path.Join(name, c.Name), c); err != nil {
			return err
		}
	}
	return nil
}

func dumpZip(ctx context.Context, r Repository, lim *snapshot.TreeLimit, zw *zip.Writer, name string, n *snapshot.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	next := func(ctx context.Context, name string, c *snapshot.Node) error {
		return dumpZip(ctx, r, lim, zw, name, c)
	}
	if name == "" {
		return eachChild(ctx, r, lim, n, "", next)
	}
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: n.ModTime}
	fh.SetMode(n.Mode)
	switch n.Type {
	case snapshot.TypeDir:
		fh.Name, fh.Method = name+"/", zip.Store
		if _, err := zw.CreateHeader(fh); err != nil {
			return err
		}
		return eachChild(ctx, r, lim, n, name, next)
	case snapshot.TypeFile:
		fw, err := zw.CreateHeader(fh)
		if err != nil {
			return err
		}
		return WriteContent(ctx, r, n, fw)
	case snapshot.TypeSymlink:
		// Info-ZIP's convention: a symlink is an entry holding its target.
		fh.SetMode(fs.ModeSymlink | 0o777)
		fw, err := zw.CreateHeader(fh)
		if err != nil {
			return err
		}
		_, err = io.Copy(fw, strings.NewReader(n.LinkTarget))
		return err
	}
	return nil // devices, FIFOs and sockets have no zip form
}
