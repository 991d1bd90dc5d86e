package main

import (
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/repo/connect"
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
		return connect.PasswordFile(file, "password file")
	case g.passwordCommand != "":
		return connect.PasswordCommand(g.passwordCommand)
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

// newPassword asks for a new password: from the same sources, or twice
// on a terminal.
func (g *globalOptions) newPassword(file string) (string, error) {
	if file != "" {
		return connect.PasswordFile(file, "new password file")
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
