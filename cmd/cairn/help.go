package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// exitCodeMeaning is what each exit code means (DESIGN.md section 4), in
// the order `cairn help exit-codes` lists them.
func exitCodeMeaning() []struct {
	code    int
	meaning string
} {
	return []struct {
		code    int
		meaning string
	}{
		{exitOK, "success"},
		{exitFatal, "fatal error: bad arguments or configuration, an I/O or network error"},
		{exitPartial, "partial: the backup was written but some source files could not be read, or the restore finished but some files could not be restored"},
		{exitNoRepo, "the repository does not exist (check --repo / CAIRN_REPOSITORY, or run `cairn init`)"},
		{exitLocked, "the repository is locked by another process, or the lock was lost while working"},
		{exitWrongPass, "wrong password: no key of the repository opens with it"},
		{exitDamage, "repository damage detected: a file whose hash or authentication fails, a missing pack or blob"},
		{exitInterrupted, "interrupted (Ctrl-C, SIGINT or SIGTERM)"},
	}
}

// helpText is a command's examples and the exit codes it can return.
type helpText struct {
	codes    []int
	examples string
}

// commandHelp returns the examples and exit codes of every command, by
// its path without the leading "cairn " ("" is cairn itself). The help
// golden test fails for a command missing here.
func commandHelp() map[string]helpText {
	// The sets of exit codes the commands return.
	var (
		codesLocal   = []int{exitOK, exitFatal, exitInterrupted}
		codesRepo    = []int{exitOK, exitFatal, exitNoRepo, exitLocked, exitWrongPass, exitInterrupted}
		codesRead    = []int{exitOK, exitFatal, exitNoRepo, exitLocked, exitWrongPass, exitDamage, exitInterrupted}
		codesPartial = []int{exitOK, exitFatal, exitPartial, exitNoRepo, exitLocked, exitWrongPass, exitDamage, exitInterrupted}
	)
	return map[string]helpText{
		"": {codesPartial, `  export CAIRN_REPOSITORY=/srv/backup/repo CAIRN_PASSWORD_FILE=/etc/cairn/repo.pass
  cairn init
  cairn backup /home /etc
  cairn snapshots
  cairn restore latest --target /mnt/restore`},
		"init": {[]int{exitOK, exitFatal, exitNoRepo, exitWrongPass, exitInterrupted}, `  cairn -r /srv/backup/repo init
  cairn -r sftp:backup@nas:/srv/cairn init --pack-size 32 --compression max
  cairn -r s3:https://s3.example.com/offsite init --copy-chunker-params --from-repo /srv/backup/repo
  cairn init --parity-data 10 --parity-shards 2`},
		"backup": {codesPartial, `  cairn backup /home /etc --exclude '*.tmp' --exclude-file /etc/cairn/excludes --tag nightly
  cairn backup --full /home
  cairn backup --files-from list.txt --exclude-caches --exclude-if-present .nobackup --exclude-larger-than 2G
  pg_dump app | cairn backup --stdin --stdin-filename app.sql
  cairn backup --profile home`},
		"snapshots": {codesRead, `  cairn snapshots
  cairn snapshots --latest 3 --group-by host,paths
  cairn snapshots --host web1 --tag nightly --json`},
		"ls": {codesRead, `  cairn ls latest:/home/alice
  cairn ls -l latest:/etc
  cairn ls -R 1a2b3c4d:/var/www`},
		"restore": {codesPartial, `  cairn restore latest --target /mnt/restore
  cairn restore 1a2b3c4d:/etc/ssh --target /tmp/ssh-config
  cairn restore latest --target /tmp/r --include '*.conf' --exclude '/home/*/.cache'
  cairn restore latest --target /srv --overwrite if-changed --delete --verify`},
		"key": {codesRepo, `  cairn key list
  cairn key add --new-password-file /root/second.pass`},
		"key add": {codesRepo, `  cairn key add --new-password-file /root/second.pass
  cairn key add                                  # asks for the new password`},
		"key list": {codesRepo, `  cairn key list
  cairn key list --json`},
		"key passwd": {codesRepo, `  cairn key passwd --new-password-file /etc/cairn/repo.pass.new`},
		"key remove": {codesRepo, `  cairn key list
  cairn key remove 4f3e2d1c`},
		"cat": {codesRead, `  cairn cat config
  cairn cat snapshot 1a2b3c4d
  cairn cat tree 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b`},
		"version": {codesLocal, `  cairn version
  cairn version --json`},
		"diff": {codesRead, `  cairn diff 1a2b3c4d latest
  cairn diff 1a2b3c4d:/etc 5e6f7a8b:/etc --metadata`},
		"find": {codesRead, `  cairn find '*.conf'
  cairn find --ignore-case '*report*.pdf' --oldest 2026-01-01 --newest 2026-03-31
  cairn find --snapshot latest /etc/nginx/nginx.conf`},
		"stats": {codesRead, `  cairn stats
  cairn stats latest --json`},
		"tag": {codesRepo, `  cairn tag --add keep 1a2b3c4d
  cairn tag --set nightly,weekly latest
  cairn tag --remove test 1a2b3c4d 5e6f7a8b`},
		"rewrite": {codesRead, `  cairn rewrite --exclude /home/alice/.aws/credentials --dry-run
  cairn rewrite --exclude '*.vmdk' --exclude-file /etc/cairn/never --forget && cairn prune
  cairn rewrite --host web1 --exclude /var/cache --forget
  cairn rewrite 1a2b3c4d --new-host web2 --new-time "2024-05-01 03:00:00"`},
		"dump": {codesRead, `  cairn dump latest /var/db/dump.sql | psql app
  cairn dump latest /etc | tar -x -C /tmp/etc
  cairn dump --archive zip 1a2b3c4d /home/alice/docs > docs.zip`},
		"unlock": {codesRepo, `  cairn unlock
  cairn unlock --remove-all`},
		"forget": {codesRead, `  cairn forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune
  cairn forget --keep-within 30d --keep-tag keep --dry-run
  cairn forget 1a2b3c4d 5e6f7a8b`},
		"prune": {codesRead, `  cairn prune
  cairn prune --dry-run
  cairn prune --max-unused 10% --repack-small`},
		"check": {codesRead, `  cairn check
  cairn check --read-data
  cairn check --read-data-subset 1/30
  cairn check --mirrors`},
		"repair": {codesRead, `  cairn repair index
  cairn repair packs 1a2b3c4d && cairn repair snapshots --forget`},
		"repair index": {codesRead, `  cairn repair index
  cairn repair index --read-all-packs`},
		"repair snapshots": {codesRead, `  cairn repair snapshots --dry-run
  cairn repair snapshots --forget`},
		"repair packs": {codesRead, `  cairn check --read-data
  cairn repair packs 1a2b3c4d 5e6f7a8b`},
		"copy": {codesRead, `  cairn -r s3:https://s3.example.com/offsite copy --from-repo /srv/backup/repo
  cairn copy --mirrors
  cairn -r /mnt/usb/cairn copy --from-repo /srv/backup/repo --from-password-file /etc/cairn/repo.pass latest`},
		"mirror": {codesRepo, `  cairn mirror add --init /mnt/usb/cairn
  cairn mirror list`},
		"mirror add": {codesRead, `  cairn mirror add --init /mnt/usb/cairn
  cairn mirror add sftp:backup@offsite:/srv/cairn/home`},
		"mirror list": {codesRepo, `  cairn mirror list
  cairn mirror list --json`},
		"mirror remove": {codesRepo, `  cairn mirror remove /mnt/usb/cairn`},
		"parity": {codesRead, `  cairn parity enable --data 10 --parity 2
  cairn parity update
  cairn parity status`},
		"parity enable":  {codesRead, `  cairn parity enable --data 10 --parity 2`},
		"parity disable": {codesRepo, `  cairn parity disable`},
		"parity status": {codesRead, `  cairn parity status
  cairn parity status --json`},
		"parity update": {codesRead, `  cairn parity update
  cairn parity update --no-verify`},
		"run": {codesPartial, `  cairn run home
  cairn run home --level full
  cairn --config /etc/cairn/cairn.toml run home --quiet`},
		"status": {codesLocal, `  cairn status
  cairn status home --max-age 26h
  cairn status --json`},
		"schedule": {codesLocal, `  cairn schedule home --cron >> /etc/cron.d/cairn
  cairn schedule home --systemd --install
  cairn schedule home --systemd --install --user`},
		"config": {codesLocal, `  cairn config init /etc/cairn/cairn.toml
  cairn config check
  cairn config show home`},
		"config check": {codesLocal, `  cairn config check
  cairn config check /etc/cairn/cairn.toml`},
		"config show": {codesLocal, `  cairn config show home
  cairn --config /etc/cairn/cairn.toml config show home --json`},
		"config init": {codesLocal, `  cairn config init /etc/cairn/cairn.toml
  cairn config init                              # $XDG_CONFIG_HOME/cairn/cairn.toml`},
		"serve": {codesLocal, `  cairn serve --htpasswd /etc/cairn/htpasswd --tls-cert cert.pem --tls-key key.pem --listen :8443 /srv/cairn
  cairn serve --htpasswd /etc/cairn/htpasswd --append-only-user laptop --private-repos --listen :8443 \
    --tls-cert cert.pem --tls-key key.pem /srv/cairn`},
		"mount": {codesRead, `  mkdir -p /mnt/cairn && cairn mount /mnt/cairn
  cp /mnt/cairn/snapshots/latest/etc/fstab /tmp/
  cairn mount --allow-other --owner-root /srv/browse`},
		"man": {codesLocal, `  cairn man /usr/local/share/man/man1
  cairn man ~/.local/share/man/man1`},
		"help": {codesLocal, `  cairn help backup
  cairn help exit-codes`},
		"exit-codes": {nil, ""},
		"completion": {codesLocal, `  cairn completion bash > /etc/bash_completion.d/cairn
  cairn completion zsh > "${fpath[1]}/_cairn"`},
		"completion bash": {codesLocal, `  cairn completion bash > /etc/bash_completion.d/cairn
  source <(cairn completion bash)`},
		"completion zsh":        {codesLocal, `  cairn completion zsh > "${fpath[1]}/_cairn"`},
		"completion fish":       {codesLocal, `  cairn completion fish > ~/.config/fish/completions/cairn.fish`},
		"completion powershell": {codesLocal, `  cairn completion powershell | Out-String | Invoke-Expression`},
	}
}

// exitCodesTopic is `cairn help exit-codes`: a help topic, no command.
func exitCodesTopic() *cobra.Command {
	var b strings.Builder
	b.WriteString(`Every cairn command exits with one of these codes (restic's, so existing
scripts keep working, plus 13 for damage). Each command's --help lists the
ones it can return.

`)
	writeExitCodes(&b, nil)
	b.WriteString(`
For example:

  cairn backup /home /etc; [ $? -eq 3 ] && echo "some files could not be read"
  cairn check --read-data-subset 1/30; [ $? -eq 13 ] && mail -s 'cairn: damage' root < /dev/null
`)
	return &cobra.Command{Use: "exit-codes", Short: "The exit codes of cairn and what they mean", Long: b.String()}
}

// writeExitCodes lists codes (nil: all) with their meaning.
func writeExitCodes(b *strings.Builder, codes []int) {
	for _, e := range exitCodeMeaning() {
		if codes == nil || containsInt(codes, e.code) {
			fmt.Fprintf(b, "  %-4d %s\n", e.code, wrap(e.meaning, 72, "\n       "))
		}
	}
}

// wrap breaks s into lines of at most width columns joined by sep.
func wrap(s string, width int, sep string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), sep)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// setupHelp adds the help command, the completion commands and the
// exit-codes topic, gives every command its examples and an exit-code
// section, and makes a command group refuse an unknown subcommand.
func setupHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.AddCommand(exitCodesTopic())
	texts := commandHelp()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), root.Name()), " ")
		if h, ok := texts[path]; ok {
			c.Example = h.examples
			if h.codes != nil {
				var b strings.Builder
				b.WriteString(strings.TrimRight(or(c.Long, c.Short), "\n"))
				b.WriteString("\n\nExit codes:\n")
				writeExitCodes(&b, h.codes)
				b.WriteString("(`cairn help exit-codes` explains them all.)")
				c.Long = b.String()
			}
		}
		if c.HasSubCommands() && !c.Runnable() && c != root && c.Name() != "help" {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return unknownCommand(cmd, args[0])
				}
				if j, _ := cmd.Flags().GetBool("json"); j {
					// Help is text: under --json, say what is missing.
					return &exitError{code: exitFatal, err: fmt.Errorf("%s: a subcommand is required (%s)", cmd.CommandPath(), strings.Join(subNames(cmd), ", ")),
						hint: fmt.Sprintf("run `%s --help` to see what each does", cmd.CommandPath())}
				}
				return cmd.Help()
			}
		}
		if c.Name() == "help" && c.Parent() == root {
			// An unknown topic is an error with suggestions, not help
			// text and exit 0.
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				target, rest, err := root.Find(args)
				if err != nil || target == nil || len(rest) > 0 {
					parent, name := root, args[0]
					if target != nil && len(rest) > 0 {
						parent, name = target, rest[0]
					}
					return unknownCommand(parent, name)
				}
				return target.Help()
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// subNames lists the names of c's available subcommands.
func subNames(c *cobra.Command) []string {
	var out []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			out = append(out, sub.Name())
		}
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// unknownCommandError is an unknown command or subcommand, with the
// commands whose names are close to it.
type unknownCommandError struct {
	name, parent string
	suggestions  []string
}

func (e *unknownCommandError) Error() string {
	return fmt.Sprintf("unknown command %q for %q", e.name, e.parent)
}

// hint suggests the close commands, or where to see them all.
func (e *unknownCommandError) hint() string {
	switch len(e.suggestions) {
	case 0:
		return fmt.Sprintf("run `%s --help` to see the commands", e.parent)
	case 1:
		return fmt.Sprintf("did you mean %q?", e.suggestions[0])
	}
	q := make([]string, len(e.suggestions))
	for i, s := range e.suggestions {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "did you mean one of " + strings.Join(q, ", ") + "?"
}

func unknownCommand(parent *cobra.Command, name string) error {
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2
	}
	ue := &unknownCommandError{name: name, parent: parent.CommandPath(), suggestions: parent.SuggestionsFor(name)}
	return &exitError{code: exitFatal, err: ue, hint: ue.hint()}
}

// cobraUnknownRe matches cobra's own unknown-command error (from the root),
// whose suggestions are on further lines.
var cobraUnknownRe = regexp.MustCompile(`^unknown command "(.*)" for "(.*?)"`)

// asUnknownCommand turns cobra's unknown-command error into one with the
// suggestions as a hint line.
func asUnknownCommand(root *cobra.Command, err error) error {
	var ue *unknownCommandError
	if errors.As(err, &ue) {
		return err
	}
	m := cobraUnknownRe.FindStringSubmatch(err.Error())
	if m == nil || m[2] != root.Name() {
		return err
	}
	return unknownCommand(root, m[1])
}
