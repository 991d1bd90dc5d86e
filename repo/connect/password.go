package connect

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/location"
)

// PasswordFile returns the password on the first line of file; what
// names the file in errors ("password file", "new password file").
func PasswordFile(file, what string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s %s: %w", what, file, err)
	}
	pw := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	if pw == "" {
		return "", fmt.Errorf("%s %s: empty password", what, file)
	}
	return pw, nil
}

// PasswordCommand runs command with sh and returns the first line it
// prints. Messages name the command by its first word only: the rest may
// hold a secret (a token, a vault path), and its output is the password,
// so neither is ever printed. The command gets no secrets of ours in its
// environment (backend.ChildEnv) and its stderr is ours.
func PasswordCommand(command string) (string, error) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = backend.ChildEnv(os.Environ())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("password command %s: %w", FirstWord(command), err)
	}
	pw := strings.TrimRight(strings.SplitN(out.String(), "\n", 2)[0], "\r")
	if pw == "" {
		return "", fmt.Errorf("password command %s: printed an empty password", FirstWord(command))
	}
	return pw, nil
}

// FirstWord names a shell command in messages without its arguments.
func FirstWord(command string) string {
	f := strings.Fields(command)
	if len(f) == 0 {
		return `""`
	}
	if len(f) == 1 {
		return strconv.Quote(f[0])
	}
	return strconv.Quote(f[0]) + " (arguments not shown)"
}

// MirrorValue picks, from values given as VALUE or LOCATION=VALUE, the
// one for the mirror at loc: its own (specific), else the last one for
// every mirror. A value is for one mirror when what comes before its
// first "=" is a repository location.
func MirrorValue(reg *location.Registry, values []string, loc string) (v string, specific, ok bool) {
	for _, val := range values {
		if l, rest, cut := strings.Cut(val, "="); cut && reg.IsLocation(l) {
			if strings.TrimPrefix(l, "local:") == strings.TrimPrefix(loc, "local:") {
				return rest, true, true
			}
			continue
		}
		v, ok = val, true
	}
	return v, false, ok
}

// MirrorPassword is where a mirror's password comes from: a file, a
// command, or (neither) the repository's own password.
type MirrorPassword struct {
	File, Command string
}

// MirrorPasswordFor picks the mirror at loc's password source from the
// local --mirror-password-file and -command values (VALUE or
// LOCATION=VALUE; a specific one wins over one for every mirror, a file
// over a command), else envFile ($CAIRN_MIRROR_PASSWORD_FILE). A
// password source stored with the mirror in a repository's config is
// never among them: nothing read from a repository is run or opened.
func MirrorPasswordFor(reg *location.Registry, files, commands []string, envFile, loc string) MirrorPassword {
	file, fileSpecific, fileOK := MirrorValue(reg, files, loc)
	command, commandSpecific, commandOK := MirrorValue(reg, commands, loc)
	switch {
	case fileOK && (!commandOK || fileSpecific || !commandSpecific):
		return MirrorPassword{File: file}
	case commandOK:
		return MirrorPassword{Command: command}
	}
	return MirrorPassword{File: envFile}
}
