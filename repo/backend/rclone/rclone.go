// Package rclone stores a repository on any rclone remote: it owns the
// `rclone serve restic --stdio REMOTE:PATH` child process (start, the
// connection over its stdin and stdout, its death, its end) and speaks
// the REST protocol to it with the rest package's client. rclone serves
// HTTP/2 without TLS on the pipes, so all requests share the one
// connection as streams. Only the program and arguments the user gave
// locally are run, never anything the repository holds.
package rclone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/rest"
)

// defaultArgs are the arguments before the remote unless -o rclone.args
// replaces them.
var defaultArgs = []string{"serve", "restic", "--stdio"}

// Config says which remote to serve and how.
type Config struct {
	// Remote is REMOTE:PATH as rclone takes it (":local:/dir",
	// ":s3,provider=Minio,endpoint=…:bucket/path", "myremote:repo").
	Remote string
	// Program is the rclone binary (default "rclone", found in PATH).
	Program string
	// Args come before Remote (default "serve restic --stdio").
	Args []string
	// Connections bounds concurrent requests (default 5).
	Connections int
}

// ParseURL parses rclone:REMOTE:PATH.
func ParseURL(s string) (Config, error) {
	remote, ok := strings.CutPrefix(s, "rclone:")
	if !ok || remote == "" {
		return Config{}, fmt.Errorf("rclone location %q: want rclone:REMOTE:PATH", redactRemote(backend.Redact(s)))
	}
	// The remote is one argument of rclone's: it must not read as a flag.
	if strings.HasPrefix(remote, "-") || strings.IndexFunc(remote, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return Config{}, fmt.Errorf("rclone location %q: remote %q is not allowed", redactRemote(backend.Redact(s)), redactRemote(backend.Redact(remote)))
	}
	return Config{Remote: remote}, nil
}

// ApplyOption sets a -o rclone.* option (key with its "rclone." prefix).
func (c *Config) ApplyOption(key, value string) error {
	switch key {
	case "rclone.program":
		if value == "" {
			return errors.New("-o rclone.program: empty")
		}
		c.Program = value
	case "rclone.args":
		c.Args = strings.Fields(value)
		if len(c.Args) == 0 {
			return errors.New("-o rclone.args: empty (the default is: serve restic --stdio)")
		}
	case "rclone.connections":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 128 {
			return fmt.Errorf("-o rclone.connections=%s: want a number from 1 to 128", value)
		}
		c.Connections = n
	default:
		return fmt.Errorf("unknown option -o %s for an rclone repository (known: rclone.program, rclone.args, rclone.connections)", key)
	}
	return nil
}

// Backend is a repository served by an rclone child.
type Backend struct {
	*rest.Backend
	cfg    Config
	cmd    *exec.Cmd
	conn   *pipeConn
	tr     *http.Transport
	stderr *tailWriter
	// exited is closed when the child has exited; waitErr is then its
	// exit status.
	exited  chan struct{}
	waitErr error
	close   sync.Once
	killed  bool
}

// Open starts rclone and checks it answers (a HEAD of the config, which
// may be missing). Close ends it.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	prog := cfg.Program
	if prog == "" {
		prog = "rclone"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("rclone: cannot run %q: %w (install rclone or set -o rclone.program=PATH)", prog, errors.Unwrap(err))
	}
	args := cfg.Args
	if len(args) == 0 {
		args = defaultArgs
	}
	cmd := exec.Command(path, append(append([]string{}, args...), cfg.Remote)...)
	cmd.Env = backend.ChildEnv(os.Environ())
	// Our own pipes, not exec's: Wait, which runs as soon as the child
	// exits, must not close the ends a request still reads.
	childIn, stdin, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("rclone: %w", err)
	}
	stdout, childOut, err := os.Pipe()
	if err != nil {
		childIn.Close()
		stdin.Close()
		return nil, fmt.Errorf("rclone: %w", err)
	}
	cmd.Stdin, cmd.Stdout = childIn, childOut
	tail := &tailWriter{max: 4096}
	cmd.Stderr = tail
	err = cmd.Start()
	childIn.Close()
	childOut.Close()
	if err != nil {
		stdin.Close()
		stdout.Close()
		return nil, fmt.Errorf("rclone: start %s: %w", path, err)
	}
	b := &Backend{cfg: cfg, cmd: cmd, stderr: tail, exited: make(chan struct{})}
	go func() {
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()
	b.conn = &pipeConn{r: stdout, w: stdin}
	var dialed sync.Mutex
	used := false
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dialed.Lock()
			defer dialed.Unlock()
			if used {
				return nil, errors.New("the connection to rclone was lost")
			}
			used = true
			return b.conn, nil
		},
		ResponseHeaderTimeout: 5 * time.Minute,
		MaxIdleConnsPerHost:   1,
		MaxConnsPerHost:       1,
		DisableCompression:    true,
		HTTP2:                 &http.HTTP2Config{StrictMaxConcurrentRequests: true},
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr.Protocols = &protos
	b.tr = tr
	be, err := rest.New(&http.Client{Transport: tr}, &url.URL{Scheme: "http", Host: "rclone", Path: "/"}, rest.Settings{
		Location:    "rclone:" + redactRemote(cfg.Remote),
		Connections: cfg.Connections,
		Explain:     b.explain,
	})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	b.Backend = be
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = b.Close()
		return nil, fmt.Errorf("rclone %s: %w", redactRemote(cfg.Remote), err)
	}
	return b, nil
}

// explain adds to an error of the connection that rclone exited, with its
// exit status and the last lines it wrote to stderr.
func (b *Backend) explain(err error) error {
	select {
	case <-b.exited:
	case <-time.After(200 * time.Millisecond):
		// The pipe can break a moment before the exit is seen.
		select {
		case <-b.exited:
		default:
			return err
		}
	}
	status := "exited"
	if b.waitErr != nil {
		status = b.waitErr.Error()
	}
	said := strings.ReplaceAll(b.stderr.lastLines(5), b.cfg.Remote, redactRemote(b.cfg.Remote))
	return fmt.Errorf("rclone serving %s has ended (%s); it said: %s: %w", redactRemote(b.cfg.Remote), status, redactSecrets(said), err)
}

// Close ends rclone: its stdin is closed, which ends its serving, and it
// is killed if it hasn't exited after 10 s. Close waits for the exit.
func (b *Backend) Close() error {
	var err error
	b.close.Do(func() {
		if b.tr != nil {
			b.tr.CloseIdleConnections()
		}
		_ = b.conn.Close()
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			b.killed = true
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		var ee *exec.ExitError
		if b.waitErr != nil && !b.killed && !errors.As(b.waitErr, &ee) {
			err = fmt.Errorf("rclone: %w", b.waitErr)
		}
	})
	return err
}

// pipeConn is a net.Conn over the child's stdout (read) and stdin (write).
// Deadlines are not supported: requests end through their contexts.
type pipeConn struct {
	r io.ReadCloser
	w io.WriteCloser
}

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *pipeConn) Close() error {
	err := c.w.Close()
	if rerr := c.r.Close(); err == nil {
		err = rerr
	}
	return err
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "rclone" }

func (c *pipeConn) LocalAddr() net.Addr                { return pipeAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr               { return pipeAddr{} }
func (c *pipeConn) SetDeadline(t time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return nil }

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// lastLines returns the last n lines written, joined by " | ", made
// printable.
func (t *tailWriter) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.buf), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var out []string
	for _, l := range lines {
		s := strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return '?'
			}
			return r
		}, strings.TrimSpace(string(l)))
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "(nothing on stderr)"
	}
	return strings.Join(out, " | ")
}

// redactRemote hides the credentials of a connection string, for
// locations, errors and logs.
func redactRemote(remote string) string { return backend.Redact(remote) }

func redactSecrets(s string) string { return backend.Redact(s) }
