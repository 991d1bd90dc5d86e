package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/cairn-backup/cairn/repo/backend"
)

// password returns the repository password from, in order: --password-file
// / CAIRN_PASSWORD_FILE, --password-command, CAIRN_PASSWORD, a prompt on a
// terminal. Without a terminal and without a source it fails at once
// rather than hang.
func (g *globalOptions) password(prompt string) (string, error) {
	if g.pw != "" {
		return g.pw, nil
	}
	pw, err := g.readPassword(prompt)
	g.pw = pw
	return pw, err
}

func (g *globalOptions) readPassword(prompt string) (string, error) {
	file := g.passwordFile
	if file == "" {
		file = g.env.Getenv("CAIRN_PASSWORD_FILE")
	}
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read password file %s: %w", file, err)
		}
		pw := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
		if pw == "" {
			return "", fmt.Errorf("password file %s: empty password", file)
		}
		return pw, nil
	case g.passwordCommand != "":
		return runPasswordCommand(g.passwordCommand)
	case g.env.Getenv("CAIRN_PASSWORD") != "":
		return g.env.Getenv("CAIRN_PASSWORD"), nil
	case g.env.IsTerminal() && g.env.ReadPassword != nil:
		pw, err := g.env.ReadPassword(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if pw == "" {
			return "", errors.New("read password: empty password")
		}
		return pw, nil
	}
	return "", &exitError{code: exitFatal, err: errors.New("no password given and no terminal to ask on"),
		hint: "set CAIRN_PASSWORD, or pass --password-file or --password-command"}
}

// runPasswordCommand runs command and reads the password from the first
// line it prints. Messages name the command by its first word only: the
// rest may hold a secret (a token, a vault path), and its output is the
// password, so neither is ever printed.
func runPasswordCommand(command string) (string, error) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = backend.ChildEnv(os.Environ())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("password command %s: %w", firstWord(command), err)
	}
	pw := strings.TrimRight(strings.SplitN(out.String(), "\n", 2)[0], "\r")
	if pw == "" {
		return "", fmt.Errorf("password command %s: printed an empty password", firstWord(command))
	}
	return pw, nil
}

// firstWord names a shell command in messages without its arguments.
func firstWord(command string) string {
	f := strings.Fields(command)
	if len(f) == 0 {
		return `""`
	}
	if len(f) == 1 {
		return strconv.Quote(f[0])
	}
	return strconv.Quote(f[0]) + " (arguments not shown)"
}

// newPassword asks for a new password: from the same sources, or twice
// on a terminal.
func (g *globalOptions) newPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read new password file %s: %w", file, err)
		}
		pw := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
		if pw == "" {
			return "", fmt.Errorf("new password file %s: empty password", file)
		}
		return pw, nil
	}
	if g.env.IsTerminal() && g.env.ReadPassword != nil && g.passwordFile == "" && g.passwordCommand == "" && g.env.Getenv("CAIRN_PASSWORD") == "" {
		a, err := g.env.ReadPassword("enter new password: ")
		if err != nil {
			return "", err
		}
		b, err := g.env.ReadPassword("enter new password again: ")
		if err != nil {
			return "", err
		}
		if a != b {
			return "", errors.New("passwords do not match")
		}
		if a == "" {
			return "", errors.New("empty password")
		}
		return a, nil
	}
	return g.password("enter new password: ")
}
