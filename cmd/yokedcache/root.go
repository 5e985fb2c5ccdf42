package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1 // an operation failed, or a key was not found
	exitUsage    = 2 // bad flags or arguments, invalid configuration
	exitConnFail = 3 // the backend could not be reached
)

// exitErr carries an exit code with an error (nil err: exit silently).
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitErr) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitErr{code: code, err: err} }

// version is set by -ldflags "-X main.version=..."; otherwise the module
// version from the build info is used.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// app holds the global flags and I/O of one invocation.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	lookup func(string) (string, bool)

	redisURL   string
	url        string
	configFile string
	keyPrefix  string
	logLevel   string
	output     string
	verbose    bool

	// format is a command's -f/--format (Python YokedCache's spelling of
	// the output format), merged into output before the command runs.
	format string
	// outFile is the file named by -o FILE on the commands where Python
	// YokedCache's -o means an output file (stats, export-config); out is
	// it opened, closed by run.
	outFile string
	out     *lazyFile
	// noted holds the configuration notes already printed.
	noted map[string]bool
}

// run executes the CLI and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, lookup: lookup}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.out != nil {
		if cerr := a.out.Close(); cerr != nil && err == nil {
			err = withCode(exitError, fmt.Errorf("writing %s: %w", a.outFile, cerr))
		}
		if err == nil && a.out.f != nil {
			fmt.Fprintf(stderr, "yokedcache: output written to %s\n", a.outFile)
		}
	}
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "yokedcache:", strings.TrimPrefix(ee.err.Error(), "yokedcache: "))
		}
		return ee.code
	}
	// Errors cobra produces itself: unknown command/flag, wrong arguments.
	fmt.Fprintln(stderr, "yokedcache:", err)
	fmt.Fprintln(stderr, "Run 'yokedcache --help' for usage.")
	return exitUsage
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "yokedcache",
		Short: "Inspect and manage a yokedcache cache",
		Long: `yokedcache talks to the cache your application uses: the same key prefix, the
same value envelope, any backend by URL.

Backend selection (highest first): --url / --redis-url, YOKEDCACHE_URL /
YOKEDCACHE_REDIS_URL, the configuration file (--config or
YOKEDCACHE_CONFIG_FILE), else the in-process memory backend, which lives
only as long as this command: use a shared backend (Redis, Memcached, a
SQLite or disk file) to see your application's data.

Exit codes: 0 success, 1 error or not found, 2 usage or configuration
error, 3 connection or authentication failure.

Coming from Python YokedCache: its flags work here with the same meaning
(-v verbose, set -t TTL, search -t threshold, list -p prefix, -f format,
-o FILE on stats and export-config, flush --all/--pattern/--tags/--key
--force, warm --config-file); a spelling that would mean something else
here is refused with what to type instead. See docs/cli.md.`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVarP(&a.redisURL, "redis-url", "r", "", "Redis URL (default $YOKEDCACHE_REDIS_URL)")
	f.StringVar(&a.url, "url", "", "backend URL: mem://, redis://, memcached://, file://, sqlite:// (default $YOKEDCACHE_URL)")
	f.StringVarP(&a.configFile, "config", "c", "", "YAML configuration file (default $YOKEDCACHE_CONFIG_FILE)")
	f.StringVar(&a.keyPrefix, "key-prefix", "", "key prefix (default $YOKEDCACHE_KEY_PREFIX or \"yokedcache\")")
	f.StringVar(&a.logLevel, "log-level", "", "debug, info, warn or error (default $YOKEDCACHE_LOG_LEVEL or warn)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table, json, csv or yaml (stats: or prometheus; stats, export-config: or a FILE to write, as in Python)")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "debug logging on stderr (same as --log-level debug)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitUsage, fmt.Errorf("%w%s (see '%s --help')", err, flagHint(c, err), c.CommandPath()))
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return a.prepareOutput(cmd) }
	root.AddCommand(
		a.pingCommand(), a.statsCommand(), a.listCommand(), a.getCommand(), a.setCommand(),
		a.deleteCommand(), a.invalidateCommand(), a.flushCommand(), a.searchCommand(),
		a.healthCommand(), a.warmCommand(), a.exportConfigCommand(), a.benchCommand(),
	)
	return root
}

// config builds the effective configuration: flags > environment > file.
//
// --config, --url and --redis-url stand in for YOKEDCACHE_CONFIG_FILE,
// YOKEDCACHE_URL and YOKEDCACHE_REDIS_URL (a URL flag hides both URL
// variables), so that FromEnvMap applies the rest of the environment,
// such as the Redis pool settings, to the flag's URL exactly as it would
// to the variable's.
func (a *app) config() (yokedcache.Config, error) {
	if a.url != "" && a.redisURL != "" {
		return yokedcache.Config{}, withCode(exitUsage, fmt.Errorf("--url and --redis-url are both set; use one"))
	}
	for flag, u := range map[string]string{"--url": a.url, "--redis-url": a.redisURL} {
		if u == "" {
			continue
		}
		if _, err := backend.ParseURL(u); err != nil {
			return yokedcache.Config{}, withCode(exitUsage, fmt.Errorf("%s %s: %w", flag, backend.RedactURL(u), err))
		}
	}
	if a.configFile != "" {
		// Report a bad file as the flag's, not as YOKEDCACHE_CONFIG_FILE's.
		if _, _, err := yokedcache.LoadConfigNotes(a.configFile); err != nil {
			return yokedcache.Config{}, withCode(exitUsage, err)
		}
	}
	flagVars := map[string]string{}
	if a.configFile != "" {
		flagVars[yokedcache.EnvConfigFile] = a.configFile
	}
	if a.url != "" || a.redisURL != "" {
		flagVars[yokedcache.EnvURL], flagVars[yokedcache.EnvRedisURL] = a.url, a.redisURL
		// The flag's URL replaces Python's YOKEDCACHE_REDIS_HOST etc. too.
		for _, k := range yokedcache.PythonRedisEnv() {
			flagVars[k] = ""
		}
	}
	lookup := func(k string) (string, bool) {
		if v, ok := flagVars[k]; ok {
			return v, v != ""
		}
		return a.lookup(k)
	}
	cfg, notes, err := yokedcache.FromEnvMapNotes(lookup)
	if err != nil {
		return cfg, withCode(exitUsage, err)
	}
	a.note(notes...)
	var flags yokedcache.Config
	flags.KeyPrefix = a.keyPrefix
	if a.verbose && a.logLevel == "" {
		flags.Logger = newLogger(a.stderr, slog.LevelDebug)
	}
	if a.logLevel != "" {
		lv, err := yokedcache.ParseLogLevel(a.logLevel)
		if err != nil {
			return cfg, withCode(exitUsage, fmt.Errorf("--log-level: %w", err))
		}
		flags.Logger = newLogger(a.stderr, lv)
	}
	cfg = cfg.Merge(flags)
	if cfg.Logger == nil {
		cfg.Logger = newLogger(a.stderr, levelWarn)
	}
	return cfg, nil
}

// note prints configuration notes (deprecated Python settings) on
// standard error, each once per invocation.
func (a *app) note(notes ...string) {
	for _, n := range notes {
		if a.noted[n] {
			continue
		}
		if a.noted == nil {
			a.noted = map[string]bool{}
		}
		a.noted[n] = true
		fmt.Fprintln(a.stderr, "yokedcache: note:", n)
	}
}

// open builds the cache; the caller closes it.
func (a *app) open() (*yokedcache.Cache, yokedcache.Config, error) {
	return a.openWith(nil)
}

// openWith is open with mod applied to the configuration first.
func (a *app) openWith(mod func(*yokedcache.Config)) (*yokedcache.Cache, yokedcache.Config, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, cfg, err
	}
	if mod != nil {
		mod(&cfg)
	}
	cfg.Logger.Debug("yokedcache: opening the cache", "config", cfg.String())
	c, err := yokedcache.New(cfg)
	if err != nil {
		return nil, cfg, classify(err)
	}
	return c, cfg, nil
}

// classify maps an error to an exit code.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return err
	}
	switch {
	case isConfigRefusal(err):
		return withCode(exitUsage, err)
	case isAuthErr(err), errors.Is(err, disk.ErrLocked):
		// The backend is there but will not let us in: a connection
		// failure for scripts, like an unreachable server.
		return withCode(exitConnFail, err)
	case errors.Is(err, yokedcache.ErrInvalidConfig),
		// Keys and TTLs come from the command line or a warm file.
		errors.Is(err, yokedcache.ErrInvalidKey), errors.Is(err, yokedcache.ErrInvalidTTL):
		return withCode(exitUsage, err)
	case isConnErr(err):
		return withCode(exitConnFail, err)
	}
	return withCode(exitError, err)
}

// isAuthErr reports a server refusing our credentials (Redis WRONGPASS,
// NOAUTH, NOPERM on AUTH; SASL failures).
func isAuthErr(err error) bool {
	msg := err.Error()
	for _, s := range []string{"WRONGPASS", "NOAUTH", "invalid password", "invalid username-password", "Authentication required", "authentication failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// isConfigRefusal reports a server refusing a setting of ours that only a
// configuration change can fix, such as a Redis database index out of
// range.
func isConfigRefusal(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "DB index is out of range") || strings.Contains(msg, "invalid DB index")
}

// isConnErr reports errors that mean the backend could not be reached.
func isConnErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &oe), errors.As(err, &de),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "connection reset", "dial tcp", "no reachable server", "no servers configured"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// withCache opens the cache, runs f and closes it.
func (a *app) withCache(f func(c *yokedcache.Cache, cfg yokedcache.Config) error) error {
	c, cfg, err := a.open()
	if err != nil {
		return err
	}
	defer c.Close()
	return classify(f(c, cfg))
}
