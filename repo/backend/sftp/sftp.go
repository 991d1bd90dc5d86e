// Package sftp stores a repository on an SFTP server, reached through the
// user's own ssh client (so ~/.ssh/config, agents and jump hosts work),
// with github.com/pkg/sftp speaking the protocol over its pipes.
package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"

	"github.com/pkg/sftp"

	"github.com/cairn-backup/cairn/repo/backend"
)

// Config says where the repository is and how to reach it.
type Config struct {
	User, Host, Port string
	// Path is the repository directory on the server.
	Path string
	// Command, if set, replaces `ssh [-p port] -s -- [user@]host sftp`; it is
	// run by sh and must speak SFTP on its stdin and stdout.
	Command string
}

// ParseURL parses sftp:user@host:/path (or a path relative to the login
// directory) and sftp://user@host:port//abs/path or /rel/path.
func ParseURL(s string) (Config, error) {
	var c Config
	rest, ok := strings.CutPrefix(s, "sftp:")
	if !ok {
		return c, fmt.Errorf("sftp location %q: want the prefix sftp: or sftp://", s)
	}
	if u, ok := strings.CutPrefix(rest, "//"); ok {
		hostPart, p, found := strings.Cut(u, "/")
		if !found || p == "" {
			return c, fmt.Errorf("sftp location %q: no path (sftp://user@host:port//absolute/path)", s)
		}
		c.Path = p // "/abs" from "//abs", "rel" from "/rel"
		if user, host, ok := strings.Cut(hostPart, "@"); ok {
			c.User, hostPart = user, host
		}
		if host, port, ok := strings.Cut(hostPart, ":"); ok {
			c.Host, c.Port = host, port
		} else {
			c.Host = hostPart
		}
	} else {
		hostPart, p, found := strings.Cut(rest, ":")
		if !found || p == "" {
			return c, fmt.Errorf("sftp location %q: want sftp:user@host:/path", s)
		}
		c.Path = p
		if user, host, ok := strings.Cut(hostPart, "@"); ok {
			c.User, hostPart = user, host
		}
		c.Host = hostPart
	}
	if c.Host == "" {
		return c, fmt.Errorf("sftp location %q: no host", s)
	}
	// Host, user and port reach ssh's command line: nothing in them may
	// read as an option or carry white space or control bytes.
	for _, f := range []struct{ what, v string }{{"host", c.Host}, {"user", c.User}, {"port", c.Port}} {
		if strings.HasPrefix(f.v, "-") || strings.IndexFunc(f.v, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return c, fmt.Errorf("sftp location %q: %s %q is not allowed", s, f.what, f.v)
		}
	}
	if c.Port != "" {
		if n, err := strconv.Atoi(c.Port); err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("sftp location %q: port %q is not a number from 1 to 65535", s, c.Port)
		}
	}
	c.Path = path.Clean(c.Path)
	return c, nil
}

// Backend is a repository on an SFTP server.
type Backend struct {
	cfg    Config
	cmd    *exec.Cmd
	client *sftp.Client
	stderr *strings.Builder
	// canSync: the server offers fsync@openssh.com.
	canSync bool
	// wrap, if set (by tests), wraps each temporary file save writes.
	wrap func(tempFile) tempFile
}

// tempFile is what save needs of a *sftp.File.
type tempFile interface {
	io.ReaderFrom
	Sync() error
	Close() error
}

// fsyncExtension names the OpenSSH extension behind (*sftp.File).Sync.
const fsyncExtension = "fsync@openssh.com"

// Open starts ssh and the SFTP session.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	var cmd *exec.Cmd
	if cfg.Command != "" {
		cmd = exec.Command("sh", "-c", cfg.Command)
	} else {
		args := []string{"-o", "BatchMode=yes"}
		if cfg.Port != "" {
			args = append(args, "-p", cfg.Port)
		}
		target := cfg.Host
		if cfg.User != "" {
			target = cfg.User + "@" + cfg.Host
		}
		// -s asks for the subsystem named after the destination; "--"
		// ends the options, so no location reads as one.
		args = append(args, "-s", "--", target, "sftp")
		cmd = exec.Command("ssh", args...)
	}
	cmd.Env = backend.ChildEnv(os.Environ())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ssh for %s: %w", cfg.Host, err)
	}
	client, err := sftp.NewClientPipe(stdout, stdin, sftp.UseConcurrentWrites(true))
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		msg := strings.TrimSpace(stderr.String())
		return nil, fmt.Errorf("sftp session with %s: %w (ssh said: %s)", cfg.Host, err, msg)
	}
	ext, ok := client.HasExtension(fsyncExtension)
	return &Backend{cfg: cfg, cmd: cmd, client: client, stderr: &stderr, canSync: ok && ext == "1"}, nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// SyncSupported reports whether the server can sync a file to its disk
// (OpenSSH's fsync@openssh.com extension). Without it a saved file is
// durable only when the server's filesystem gets round to it.
func (b *Backend) SyncSupported() bool { return b.canSync }

// Location returns the location without secrets.
func (b *Backend) Location() string {
	host := b.cfg.Host
	if b.cfg.User != "" {
		host = b.cfg.User + "@" + host
	}
	if b.cfg.Port != "" {
		host += ":" + b.cfg.Port
	}
	return "sftp:" + host + ":" + b.cfg.Path
}

func (b *Backend) path(h backend.Handle) string { return path.Join(b.cfg.Path, h.Path()) }

// notExist makes every "no such file" answer satisfy fs.ErrNotExist.
func notExist(err error) error {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

// Create makes the repository directories; it fails if a config exists.
func (b *Backend) Create(ctx context.Context) error {
	if _, err := b.client.Stat(path.Join(b.cfg.Path, "config")); err == nil {
		return fmt.Errorf("create repository %s: %w", b.Location(), fs.ErrExist)
	}
	dirs := []string{b.cfg.Path}
	for _, t := range backend.AllTypes {
		dirs = append(dirs, path.Join(b.cfg.Path, t.String()))
	}
	for i := 0; i < 256; i++ {
		dirs = append(dirs, path.Join(b.cfg.Path, "data", fmt.Sprintf("%02x", i)))
	}
	for _, d := range dirs {
		if err := b.client.MkdirAll(d); err != nil {
			return fmt.Errorf("create repository %s: mkdir %s: %w", b.Location(), d, err)
		}
	}
	return nil
}

// Save writes to a temporary name and renames it into place, so readers
// see all of the file or nothing.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	return b.save(ctx, h, rd, size, false)
}

// Replace is Save that may replace an existing file (posix-rename is
// atomic).
func (b *Backend) Replace(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64) error {
	return b.save(ctx, h, rd, size, true)
}

func (b *Backend) save(ctx context.Context, h backend.Handle, rd io.ReaderAt, size int64, replace bool) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := b.path(h)
	if _, err := b.client.Lstat(final); err == nil && !replace {
		return fmt.Errorf("save %s: %w", h, fs.ErrExist)
	}
	// Unique, so two saves of one name (a retry while the first attempt
	// still runs) can't write into one file.
	tmp := path.Join(path.Dir(final), fmt.Sprintf("%s%s-%d-%016x", backend.TempPrefix, path.Base(final), os.Getpid(), rand.Uint64()))
	sf, err := b.client.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil && errors.Is(notExist(err), fs.ErrNotExist) {
		if mkErr := b.client.MkdirAll(path.Dir(final)); mkErr != nil {
			return fmt.Errorf("save %s: %w", h, mkErr)
		}
		sf, err = b.client.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	var f tempFile = sf
	if b.wrap != nil {
		f = b.wrap(f)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = b.client.Remove(tmp)
		}
	}()
	if _, err = f.ReadFrom(io.NewSectionReader(rd, 0, size)); err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if err = b.sync(f); err != nil {
		return fmt.Errorf("save %s: sync: %w", h, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if err = b.client.PosixRename(tmp, final); err != nil {
		if err = b.client.Rename(tmp, final); err != nil {
			return fmt.Errorf("save %s: rename: %w", h, err)
		}
	}
	_ = b.client.Chmod(final, 0o400)
	return nil
}

// sync makes the server write f to its disk before f is renamed into
// place, so a crash of the server can't leave a named but empty or short
// pack that an index already refers to. A server without the extension
// (pkg/sftp then answers "op unsupported" without asking) can't do better:
// the save goes on without it, as restic's does, since failing would make
// such servers unusable; SyncSupported tells. SFTP can't sync a directory,
// so the rename itself is as durable as the server's filesystem makes it;
// journaling filesystems commit renames in order, so an index file that
// survives a crash implies the earlier renames of its packs did too.
func (b *Backend) sync(f tempFile) error {
	err := f.Sync()
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported {
		return nil
	}
	return err
}

// Load reads a range of h.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := b.client.Open(b.path(h))
	if err != nil {
		return fmt.Errorf("load %s: %w", h, notExist(err))
	}
	defer f.Close()
	r, err := backend.RangeOf(f, length, offset)
	if err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	if err := fn(r); err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	return nil
}

// Stat returns the size of h.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	fi, err := b.client.Stat(b.path(h))
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, notExist(err))
	}
	return backend.FileInfo{Name: h.Name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove deletes h.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	p := b.path(h)
	if err := b.client.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", h, notExist(err))
	}
	return nil
}

// List calls fn for each file of type t.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	dir := path.Join(b.cfg.Path, t.String())
	dirs := []string{dir}
	if t.Sharded() {
		subs, err := b.client.ReadDir(dir)
		if t == backend.ParityFile && errors.Is(notExist(err), fs.ErrNotExist) {
			return nil // made by the first parity file
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", t, notExist(err))
		}
		dirs = dirs[:0]
		for _, s := range subs {
			if s.IsDir() {
				dirs = append(dirs, path.Join(dir, s.Name()))
			}
		}
	}
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := b.client.ReadDir(d)
		if err != nil {
			return fmt.Errorf("list %s: %w", d, notExist(err))
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), backend.TempPrefix) || !e.Mode().IsRegular() {
				continue
			}
			if err := fn(backend.FileInfo{Name: e.Name(), Size: e.Size(), ModTime: e.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListTemp calls fn for each temporary file a save left behind (or is
// writing right now).
func (b *Backend) ListTemp(ctx context.Context, fn func(backend.TempFile) error) error {
	return backend.FindTemp(ctx, func(dir string) ([]fs.DirEntry, error) {
		infos, err := b.client.ReadDir(path.Join(b.cfg.Path, dir))
		if errors.Is(notExist(err), fs.ErrNotExist) {
			return nil, nil
		}
		ents := make([]fs.DirEntry, len(infos))
		for i, fi := range infos {
			ents[i] = fs.FileInfoToDirEntry(fi)
		}
		return ents, err
	}, fn)
}

// RemoveTemp deletes a temporary file ListTemp gave.
func (b *Backend) RemoveTemp(ctx context.Context, p string) error {
	if err := backend.CheckTempPath(p); err != nil {
		return err
	}
	if err := b.client.Remove(path.Join(b.cfg.Path, p)); err != nil {
		return fmt.Errorf("remove temporary file %s: %w", p, notExist(err))
	}
	return nil
}

// Close ends the session and ssh.
func (b *Backend) Close() error {
	err := b.client.Close()
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	return err
}
