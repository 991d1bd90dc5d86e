package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/all"
	"github.com/cairn-backup/cairn/repo/backend/backendtest"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/backend/rest"
	"github.com/cairn-backup/cairn/repo/server"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cairn test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestTLS: the server speaks TLS with --tls-cert/--tls-key; a client
// trusting its CA works, one that doesn't is refused before any
// password is sent.
func TestTLS(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t)
	srv, err := server.New(server.Options{Open: server.DirOpener(t.TempDir()), Users: htpasswd(t, "alice")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Listen{Addr: "127.0.0.1:0", TLSCert: cert, TLSKey: key, OnListening: func(a string) { addrc <- a }}, srv)
	}()
	addr := <-addrc
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	open := func(opts []string) (backend.Backend, error) {
		reg := &location.Registry{}
		reg.Register(rest.Scheme())
		return reg.Open(context.Background(), "rest:https://alice:alice-pw@"+addr+"/r/", opts, location.Env{Getenv: func(string) string { return "" }})
	}
	be, err := open([]string{"rest.cacert=" + cert})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.(backend.Creator).Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := backend.Handle{Type: backend.ConfigFile}
	if err := backend.SaveBytes(context.Background(), be, h, []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	if b, err := backend.LoadAll(context.Background(), be, h); err != nil || !bytes.Equal(b, []byte("over TLS")) {
		t.Fatalf("read back %q, %v", b, err)
	}
	untrusting, err := open(nil)
	if err == nil {
		_, err = untrusting.Stat(context.Background(), h)
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client not trusting the certificate: %v", err)
	}
}

// TestInFrontOfS3: cairn serve in front of an S3 bucket (any location
// cairn can open) passes the conformance suite through rest:.
func TestInFrontOfS3(t *testing.T) {
	loc, key, secret := backendtest.S3Server(t)
	env := location.Env{Getenv: func(k string) string {
		return map[string]string{"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}[k]
	}}
	reg := all.Registry()
	base := fmt.Sprintf("%s/serve-%d", loc, time.Now().UnixNano())
	ts := start(t, server.Options{Open: server.LocationOpener(base, func(ctx context.Context, l string) (backend.Backend, error) {
		return reg.Open(ctx, l, nil, env)
	})})
	client := &location.Registry{}
	client.Register(rest.Scheme())
	var n atomic.Int64
	url := strings.Replace(ts.URL, "http://", "rest:http://alice:alice-pw@", 1)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		be, err := client.Open(context.Background(), fmt.Sprintf("%s/suite-%d/", url, n.Add(1)), nil, location.Env{Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}
