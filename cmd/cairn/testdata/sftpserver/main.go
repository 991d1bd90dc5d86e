// Command sftpserver serves SFTP on stdin/stdout with pkg/sftp's server,
// which (unlike OpenSSH's) does not offer fsync@openssh.com. The tests use
// it as `-o sftp.command=…` to see what cairn does with such a server.
package main

import (
	"io"
	"log"
	"os"

	"github.com/pkg/sftp"
)

func main() {
	rw := struct {
		io.Reader
		io.WriteCloser
	}{os.Stdin, os.Stdout}
	s, err := sftp.NewServer(rw)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Serve(); err != nil && err != io.EOF {
		log.Fatal(err)
	}
}
