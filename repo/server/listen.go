package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/local"
)

// Listen says where and how a server listens.
type Listen struct {
	// Addr is host:port.
	Addr string
	// TLSCert and TLSKey are PEM files; without them the server speaks
	// plain HTTP, which is allowed only on a loopback address unless
	// Insecure is set: passwords and repository files would cross the
	// network in the clear.
	TLSCert, TLSKey string
	Insecure        bool
	// ShutdownGrace is how long requests in flight may take to finish
	// once ctx is done (0: 30 s).
	ShutdownGrace time.Duration
	// OnListening is told the address listened on (the port chosen for
	// ":0").
	OnListening func(addr string)
}

// Loopback reports whether addr's host is a loopback address or
// "localhost".
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && backend.LoopbackHost(host)
}

// Run serves h as l says until ctx is done, then shuts down gracefully:
// it stops accepting, lets requests in flight finish (up to the grace
// period) and returns nil.
func Run(ctx context.Context, l Listen, h http.Handler) error {
	useTLS := l.TLSCert != "" || l.TLSKey != ""
	if useTLS && (l.TLSCert == "" || l.TLSKey == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	if !useTLS && !l.Insecure && !Loopback(l.Addr) {
		return fmt.Errorf("serve: plain HTTP on %s would send passwords and data in the clear: give --tls-cert and --tls-key, listen on 127.0.0.1, or pass --insecure-listen", l.Addr)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute,
		MaxHeaderBytes: 64 << 10}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(l.TLSCert, l.TLSKey)
		if err != nil {
			return fmt.Errorf("serve: TLS certificate %s: %w", l.TLSCert, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if l.OnListening != nil {
		l.OnListening(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() {
		if useTLS {
			done <- srv.ServeTLS(ln, "", "")
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	grace := l.ShutdownGrace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	<-done
	return nil
}

// DirOpener serves the repositories under the local directory root: the
// repository at path p is root/p.
func DirOpener(root string) Opener {
	return func(_ context.Context, p string) (backend.Backend, error) {
		return local.New(filepath.Join(root, filepath.FromSlash(p))), nil
	}
}

// LocationOpener serves the repositories under a location of any
// backend: the repository at path p is base/p, opened with open.
func LocationOpener(base string, open func(ctx context.Context, loc string) (backend.Backend, error)) Opener {
	return func(ctx context.Context, p string) (backend.Backend, error) {
		if p == "" {
			return open(ctx, base)
		}
		return open(ctx, strings.TrimRight(base, "/")+"/"+p)
	}
}
