package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/server"
)

type serveOptions struct {
	listen, htpasswd, tlsCert, tlsKey, accessLog string
	appendOnly, privateRepos, insecure           bool
	appendOnlyUsers                              []string
	maxRepoSize, maxUpload                       string
}

func newServeCommand(g *globalOptions) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [flags] DIR|LOCATION",
		Short: "Serve repositories over HTTP (restic's REST protocol), optionally append-only",
		Long: `Serve the repositories under DIR (or under any location cairn can open) to
cairn and restic clients over HTTP, using restic's REST protocol v2. A client
reaches the repository DIR/NAME at rest:https://USER:PASSWORD@HOST:PORT/NAME/.

Users come from an htpasswd file of bcrypt hashes (htpasswd -B -c FILE USER).
With --append-only (or --append-only-user for some users) a client can back
up, restore, check and copy from, but never delete or overwrite a file other
than its own locks: a compromised client can't destroy its backups.
Maintenance (forget, prune, repair) then runs on the server side, against DIR.

Plain HTTP is served only on a loopback address; elsewhere give --tls-cert and
--tls-key (or --insecure-listen behind a TLS proxy). The access log goes to
stderr (--access-log FILE to change); Prometheus metrics are at /metrics.
SIGINT or SIGTERM stops the server after the requests in flight.

Examples:
  cairn serve --htpasswd /etc/cairn/htpasswd --append-only /srv/cairn
  cairn serve --listen :8443 --tls-cert cert.pem --tls-key key.pem \
    --htpasswd users --private-repos /srv/cairn`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := g.env.Stderr
			if o.accessLog != "-" {
				f, err := os.OpenFile(o.accessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err != nil {
					return fmt.Errorf("--access-log: %w", err)
				}
				defer f.Close()
				log = f
			}
			srv, err := g.newServer(o, args[0], log)
			if err != nil {
				return err
			}
			defer srv.Close()
			return server.Run(cmd.Context(), server.Listen{Addr: o.listen, TLSCert: o.tlsCert, TLSKey: o.tlsKey, Insecure: o.insecure,
				OnListening: func(addr string) {
					if g.json {
						g.stderrJSON(struct {
							MessageType string `json:"message_type"`
							Serving     string `json:"serving"`
							Address     string `json:"address"`
						}{"listening", args[0], addr})
						return
					}
					g.warnf("serving %s on %s\n", args[0], addr)
				}}, srv)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8000", "listen on `HOST:PORT`")
	f.StringVar(&o.htpasswd, "htpasswd", "", "users and bcrypt password hashes (`FILE`, required)")
	f.BoolVar(&o.appendOnly, "append-only", false, "every user may only add files (no delete, no overwrite)")
	f.StringArrayVar(&o.appendOnlyUsers, "append-only-user", nil, "make `USER`'s access append-only (repeatable)")
	f.BoolVar(&o.privateRepos, "private-repos", false, "a user reaches only the repositories under /USER/")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (`PEM file`)")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (`PEM file`)")
	f.BoolVar(&o.insecure, "insecure-listen", false, "allow plain HTTP on a non-loopback address")
	f.StringVar(&o.maxRepoSize, "max-repo-size", "", "quota per repository (`SIZE`, e.g. 500G)")
	f.StringVar(&o.maxUpload, "max-upload-size", "1G", "largest accepted upload (`SIZE`)")
	f.StringVar(&o.accessLog, "access-log", "-", "access log `FILE` (-: stderr)")
	_ = cmd.MarkFlagRequired("htpasswd")
	return cmd
}

// newServer builds the server the flags describe.
func (g *globalOptions) newServer(o serveOptions, where string, log io.Writer) (*server.Server, error) {
	users, err := server.ReadHtpasswd(o.htpasswd)
	if err != nil {
		return nil, err
	}
	for _, u := range o.appendOnlyUsers {
		if err := users.SetAppendOnly(u); err != nil {
			return nil, err
		}
	}
	so := server.Options{Users: users, AppendOnly: o.appendOnly, PrivateRepos: o.privateRepos, Metrics: server.NewMetrics()}
	if o.maxRepoSize != "" {
		if so.MaxRepoSize, err = job.ParseSize(o.maxRepoSize); err != nil {
			return nil, fmt.Errorf("--max-repo-size: %w", err)
		}
	}
	if so.MaxUploadSize, err = job.ParseSize(o.maxUpload); err != nil {
		return nil, fmt.Errorf("--max-upload-size: %w", err)
	}
	so.AccessLog = log
	if location.Split(where) == "local" {
		dir := strings.TrimPrefix(where, "local:")
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("serve: %s is not a directory", dir)
		}
		so.Open = server.DirOpener(dir)
	} else {
		so.Open = server.LocationOpener(where, g.connector().Raw)
	}
	return server.New(so)
}
