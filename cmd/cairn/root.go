package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/repo"
	"github.com/cairn-backup/cairn/repo/backend"
	"github.com/cairn-backup/cairn/repo/backend/all"
	"github.com/cairn-backup/cairn/repo/backend/location"
	"github.com/cairn-backup/cairn/repo/connect"
	"github.com/cairn-backup/cairn/repo/job"
	"github.com/cairn-backup/cairn/repo/profile"
	"github.com/cairn-backup/cairn/repo/termsafe"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit codes (DESIGN.md section 4).
const (
	exitOK          = job.ExitOK
	exitFatal       = job.ExitFatal
	exitPartial     = job.ExitPartial
	exitNoRepo      = job.ExitNoRepo
	exitLocked      = job.ExitLocked
	exitWrongPass   = job.ExitWrongPass
	exitDamage      = job.ExitDamage
	exitInterrupted = job.ExitInterrupted
)

// Env is everything a command reads from its surroundings, read once so
// CLI tests can run in parallel with buffers.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// IsTerminal reports whether stdin is a terminal (password prompt).
	IsTerminal func() bool
	// StdoutIsTerminal reports whether stdout is a terminal (progress).
	StdoutIsTerminal func() bool
	// TermWidth returns the terminal's width in columns.
	TermWidth func() int
	// ReadPassword reads a password from the terminal without echo.
	ReadPassword func(prompt string) (string, error)
}

// globalOptions are the flags every command accepts.
type globalOptions struct {
	// locations are the backends by scheme (all.Registry).
	locations *location.Registry
	// opened are the backends to close when the command ends (shared by
	// the copies other makes).
	opened          *connect.Opened
	repo            string
	passwordFile    string
	passwordCommand string
	// mirrorPasswordFile and mirrorPasswordCommand are where the mirrors'
	// password comes from (flags or profile; default: this repository's).
	// Each is VALUE (every mirror) or LOCATION=VALUE (that mirror).
	mirrorPasswordFile    []string
	mirrorPasswordCommand []string
	json                  bool
	quiet                 bool
	verbose               int
	compression           string
	cpuProfile            string
	memProfile            string
	retryLock             time.Duration
	limitUpload           int
	limitDownload         int
	options               []string
	cacheDir              string
	noCache               bool
	env                   *Env
	progress              *progressState
	// pw is the password once read, so a mirror that shares it doesn't
	// ask again.
	pw string
	// configPath and profileName select a profile (--config, --profile);
	// prof is the profile, once loaded.
	configPath  string
	profileName string
	prof        *profile.Profile
	profFile    *profile.File
}

// exitError carries an explicit exit code with an error.
type exitError struct {
	code int
	err  error
	hint string
	// warning reports a state, not a failure (status --warn-age): the
	// line starts with "warning:".
	warning bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errPartial marks a command that did its job but with errors already
// reported (exit 3).
var errPartial = job.ErrPartial

// errOutputClosed cancels a command whose standard output was closed by
// its reader (`cairn ls latest | head -1`).
var errOutputClosed = errors.New("standard output closed")

// exitBrokenPipe is what a shell reports for a command killed by SIGPIPE
// (128+13), so `cairn ls | head` looks like `ls | head` to a script; the
// command stops quietly, releasing its lock on the way out.
const exitBrokenPipe = 141

// pipeWriter is standard output; a write that fails because the reader
// has gone (EPIPE, with SIGPIPE caught in main) cancels the command.
type pipeWriter struct {
	w      io.Writer
	closed func()
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.closed()
	}
	return n, err
}

// Run runs the CLI with args and returns the exit code.
func Run(ctx context.Context, env *Env, args []string) int {
	if env.IsTerminal == nil {
		env.IsTerminal = func() bool { return false }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	piped := *env
	piped.Stdout = &pipeWriter{w: env.Stdout, closed: func() { cancel(errOutputClosed) }}
	env = &piped
	g := &globalOptions{env: env, progress: &progressState{}, opened: &connect.Opened{}}
	defer g.opened.Close()
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if errors.Is(context.Cause(ctx), errOutputClosed) {
		return exitBrokenPipe
	}
	if err == nil {
		return exitOK
	}
	err = asUnknownCommand(root, err)
	code, hint := exitCode(ctx, err)
	if g.json || jsonFlag(args) {
		writeJSONError(env.Stderr, err, hint, code)
		return code
	}
	var pe *profile.Errors
	var ee *exitError
	if errors.As(err, &pe) {
		// Every problem of the configuration file, one a line.
		for _, p := range pe.List {
			kind := "error"
			if p.Warning {
				kind = "warning"
			}
			fmt.Fprintf(env.Stderr, "%s: %s\n", kind, termsafe.String(oneLine(p.String()), false))
		}
	} else if !errors.Is(err, errPartial) && !(errors.As(err, &ee) && ee.warning) {
		fmt.Fprintf(env.Stderr, "error: %s\n", termsafe.String(oneLine(err.Error()), false))
	} else {
		fmt.Fprintf(env.Stderr, "warning: %s\n", termsafe.String(oneLine(err.Error()), false))
	}
	if hint != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", hint)
	}
	return code
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// jsonError is how a failing command reports under --json: one object
// on stderr, instead of the error: and hint: lines.
type jsonError struct {
	Error    string `json:"error"`
	Hint     string `json:"hint,omitempty"`
	ExitCode int    `json:"exit_code"`
}

func writeJSONError(w io.Writer, err error, hint string, code int) {
	_ = jsonEncoder(w).Encode(jsonError{Error: oneLine(err.Error()), Hint: hint, ExitCode: code})
}

// jsonFlag reports whether args ask for --json, for errors met before
// the flags were all parsed (an unknown flag before --json).
func jsonFlag(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true":
			return true
		}
	}
	return false
}

// exitCode maps an error to an exit code (job.Code) and a hint.
func exitCode(ctx context.Context, err error) (int, string) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.hint
	}
	code := job.Code(ctx, err)
	var h interface{ Hint() string }
	var le *repo.LockedError
	switch {
	case errors.As(err, &le):
		return code, "wait for it (--retry-lock 10m), or run `cairn unlock` if no other cairn process is running"
	case errors.Is(err, repo.ErrLockLost):
		return code, "another process removed the lock (`cairn unlock`?) or it could not be refreshed; nothing more was written: run the command again"
	case code == exitInterrupted:
		return code, ""
	case errors.As(err, &h):
		return code, h.Hint()
	case errors.Is(err, syscall.ENOSPC):
		return code, "free space on the disk of the file named (TMPDIR holds data packs while they are filled), then run the command again: what was stored is reused, and `cairn prune` removes what nothing needs"
	}
	switch code {
	case exitNoRepo:
		return code, "run `cairn init` to create a repository, or check --repo / CAIRN_REPOSITORY"
	case exitWrongPass:
		return code, "check the password, --password-file, --password-command or CAIRN_PASSWORD"
	case exitLocked:
		return code, "run `cairn unlock` if no other cairn process is running"
	case exitDamage:
		return code, "run `cairn check --read-data` to see what is damaged, then `cairn repair packs ID…` and `cairn repair snapshots`"
	}
	return code, ""
}

func newRootCommand(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "Deduplicating, encrypted backups",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate("cairn {{.Version}}\n")
	f := root.PersistentFlags()
	f.StringVarP(&g.repo, "repo", "r", "", "repository `location` (default $CAIRN_REPOSITORY)")
	f.StringVar(&g.passwordFile, "password-file", "", "read the password from `file` (default $CAIRN_PASSWORD_FILE)")
	f.StringVar(&g.passwordCommand, "password-command", "", "run `command` and read the password from its output")
	f.StringArrayVar(&g.mirrorPasswordFile, "mirror-password-file", nil, "the mirrors' password is in `file`, or LOCATION=FILE for one mirror (repeatable; default: $CAIRN_MIRROR_PASSWORD_FILE, else this repository's password)")
	f.StringArrayVar(&g.mirrorPasswordCommand, "mirror-password-command", nil, "run `command` for the mirrors' password, or LOCATION=COMMAND for one mirror (repeatable)")
	f.BoolVar(&g.json, "json", false, "print JSON instead of text")
	f.BoolVarP(&g.quiet, "quiet", "q", false, "print only errors")
	f.CountVarP(&g.verbose, "verbose", "v", "print more (repeat for more)")
	f.StringArrayVarP(&g.options, "option", "o", nil, "backend `key=value` option, e.g. sftp.command=\"ssh host -s sftp\" (repeatable)")
	f.StringVar(&g.cacheDir, "cache-dir", "", "local cache `directory` for remote repositories (default $XDG_CACHE_HOME/cairn)")
	f.BoolVar(&g.noCache, "no-cache", false, "don't use the local cache")
	f.IntVar(&g.limitUpload, "limit-upload", 0, "limit uploads to `KiB/s` (0: unlimited)")
	f.IntVar(&g.limitDownload, "limit-download", 0, "limit downloads to `KiB/s` (0: unlimited)")
	f.DurationVar(&g.retryLock, "retry-lock", 0, "wait up to `duration` for a lock held by another process")
	f.StringVar(&g.compression, "compression", "", "compression for new data: auto, off, fastest, better or max (default: the repository's)")
	f.StringVar(&g.configPath, "config", "", "configuration `file` (default $CAIRN_CONFIG, $XDG_CONFIG_HOME/cairn/cairn.toml, /etc/cairn/cairn.toml)")
	f.StringVar(&g.profileName, "profile", "", "take the repository, password and options from profile `name` of the configuration file")
	f.StringVar(&g.cpuProfile, "cpu-profile", "", "write a CPU profile to `file` (for performance work)")
	_ = f.MarkHidden("cpu-profile")
	f.StringVar(&g.memProfile, "mem-profile", "", "write a heap profile taken at the peak live heap to `file` (for performance work)")
	_ = f.MarkHidden("mem-profile")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if g.profileName != "" {
			if err := g.applyProfile(g.profileName); err != nil {
				return err
			}
		}
		if g.memProfile != "" {
			stop := profilePeakHeap(g.memProfile)
			cobra.OnFinalize(func() {
				if err := stop(); err != nil {
					fmt.Fprintf(g.env.Stderr, "error: write heap profile %s: %v\n", g.memProfile, err)
				}
			})
		}
		if g.cpuProfile == "" {
			return nil
		}
		pf, err := os.Create(g.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		cobra.OnFinalize(func() { pprof.StopCPUProfile(); pf.Close() })
		return nil
	}
	root.AddCommand(
		newInitCommand(g), newBackupCommand(g), newSnapshotsCommand(g), newLsCommand(g),
		newRestoreCommand(g), newKeyCommand(g), newCatCommand(g), newVersionCommand(g),
		newDiffCommand(g), newFindCommand(g), newStatsCommand(g), newTagCommand(g), newRewriteCommand(g), newDumpCommand(g),
		newUnlockCommand(g), newForgetCommand(g), newPruneCommand(g), newCheckCommand(g), newRepairCommand(g),
		newCopyCommand(g), newMirrorCommand(g), newParityCommand(g),
		newRunCommand(g), newStatusCommand(g), newScheduleCommand(g), newConfigCommand(g), newServeCommand(g),
		newManCommand(g), newMountCommand(g),
	)
	setupHelp(root)
	return root
}

// loadConfig reads the configuration file (--config, $CAIRN_CONFIG, …).
func (g *globalOptions) loadConfig() (*profile.File, error) {
	if g.profFile != nil {
		return g.profFile, nil
	}
	path, err := profile.Lookup(g.configPath, g.env.Getenv)
	if err != nil {
		return nil, err
	}
	f, err := profile.Load(path)
	if err != nil {
		return nil, err
	}
	g.profFile = f
	return f, nil
}

// loadProfile reads the configuration file and returns profile name.
func (g *globalOptions) loadProfile(name string) (*profile.File, *profile.Profile, error) {
	f, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	p, err := f.Get(name)
	if err != nil {
		return nil, nil, err
	}
	return f, p, nil
}

// applyProfile takes the repository, password source, backend options
// and compression of profile name where no flag gave them.
func (g *globalOptions) applyProfile(name string) error {
	_, p, err := g.loadProfile(name)
	if err != nil {
		return err
	}
	g.prof = p
	if g.repo == "" {
		g.repo = p.Repository
	}
	if g.passwordFile == "" && g.passwordCommand == "" {
		g.passwordFile, g.passwordCommand = p.PasswordFile, p.PasswordCommand
		if p.Password != "" {
			g.pw = p.Password
		}
	}
	if len(g.mirrorPasswordFile) == 0 && len(g.mirrorPasswordCommand) == 0 {
		if p.MirrorPasswordFile != "" {
			g.mirrorPasswordFile = []string{p.MirrorPasswordFile}
		}
		if p.MirrorPasswordCommand != "" {
			g.mirrorPasswordCommand = []string{p.MirrorPasswordCommand}
		}
	}
	g.options = append(append([]string{}, p.Options...), g.options...)
	if g.compression == "" {
		g.compression = p.Compression
	}
	return nil
}

// repoLocation returns the repository location from --repo or the env.
func (g *globalOptions) repoLocation() (string, error) {
	loc := g.repo
	if loc == "" {
		loc = g.env.Getenv("CAIRN_REPOSITORY")
	}
	if loc == "" {
		return "", &exitError{code: exitFatal, err: errors.New("no repository given"),
			hint: "pass --repo or set CAIRN_REPOSITORY"}
	}
	return loc, nil
}

// connector opens backends and repositories with this command's flags;
// every backend it opens is closed when the command ends.
func (g *globalOptions) connector() *connect.Connector {
	return connect.New(connect.Options{Registry: g.registry(), BackendOptions: g.options, Getenv: g.env.Getenv,
		Warn:        func(s string) { g.warnf("%s\n", s) },
		LimitUpload: g.limitUpload, LimitDownload: g.limitDownload, CacheDir: g.cacheDir, NoCache: g.noCache,
		Compression: g.compression, Now: g.env.Now, Opened: g.opened,
		WrapRaw: func(be backend.Backend) (backend.Backend, bool) { return testFaults(be, g.env.Getenv) }})
}

// openBackend opens the repository's backend with the limits and
// retries every backend goes through.
func (g *globalOptions) openBackend(ctx context.Context) (backend.Backend, error) {
	loc, err := g.repoLocation()
	if err != nil {
		return nil, err
	}
	be, err := g.connector().Backend(ctx, loc)
	if errors.Is(err, location.ErrUnknownScheme) {
		return nil, &exitError{code: exitFatal, err: err}
	}
	return be, err
}

// registry is the backends this binary supports.
func (g *globalOptions) registry() *location.Registry {
	if g.locations == nil {
		g.locations = all.Registry()
	}
	return g.locations
}

// repoSource is where another repository than --repo is and where its
// password comes from (copy's source, a mirror).
type repoSource struct {
	location        string
	passwordFile    string
	passwordCommand string
	password        string
}

// other returns options for another repository: its location and password
// sources, the global flags for everything else.
func (g *globalOptions) other(src repoSource) *globalOptions {
	o := *g
	o.repo, o.passwordFile, o.passwordCommand = src.location, src.passwordFile, src.passwordCommand
	env := *g.env
	env.Getenv = func(k string) string {
		switch k {
		case "CAIRN_PASSWORD":
			return src.password
		case "CAIRN_PASSWORD_FILE", "CAIRN_REPOSITORY":
			return ""
		}
		return g.env.Getenv(k)
	}
	o.env = &env
	o.pw = ""
	return &o
}

// openRepo opens the repository (keys and config): enough for snapshot
// files, keys and locks. Work on the index and the data is done in a
// session (withSession), which takes the lock first.
func (g *globalOptions) openRepo(ctx context.Context) (*repo.Repository, error) {
	return g.openRepoWith(ctx, false)
}

// openRepoWith is openRepo with a dry-run blob store when dryRun is set.
func (g *globalOptions) openRepoWith(ctx context.Context, dryRun bool) (*repo.Repository, error) {
	loc, err := g.repoLocation()
	if err != nil {
		return nil, err
	}
	r, err := g.connector().Open(ctx, loc, func() (string, error) { return g.password("enter password for repository: ") }, dryRun)
	if errors.Is(err, location.ErrUnknownScheme) {
		return nil, &exitError{code: exitFatal, err: err}
	}
	return r, err
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// printf prints text unless --quiet or --json: under --json stdout
// carries JSON only, which each command prints with jsonOut.
func (g *globalOptions) printf(format string, args ...any) {
	if !g.quiet && !g.json {
		fmt.Fprint(g.env.Stdout, termsafe.String(fmt.Sprintf(format, args...), true))
	}
}

// warnf prints to stderr; under --json each message is a JSON object
// (jsonNotice) instead of a line of text.
func (g *globalOptions) warnf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if g.json {
		for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			level, msg := splitLevel(line)
			g.stderrJSON(jsonNotice{MessageType: level, Message: msg})
		}
		return
	}
	fmt.Fprint(g.env.Stderr, termsafe.String(s, true))
}

// jsonNotice is a warning, note or error message on stderr under --json.
type jsonNotice struct {
	MessageType string `json:"message_type"`
	// Step is the step of `cairn run` the message comes from.
	Step    string `json:"step,omitempty"`
	Message string `json:"message"`
}

// splitLevel splits "warning: text" into its level (warning, note,
// notice, damage or error) and the text; a message without one of those
// prefixes is a warning.
func splitLevel(s string) (string, string) {
	s = strings.TrimSpace(s)
	if level, msg, ok := strings.Cut(s, ": "); ok {
		switch level {
		case "warning", "note", "notice", "damage", "error":
			return level, msg
		}
	}
	return "warning", s
}

// stderrJSON writes v as one line of JSON on stderr.
func (g *globalOptions) stderrJSON(v any) {
	_ = jsonEncoder(g.env.Stderr).Encode(v)
}
