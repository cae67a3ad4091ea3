// Package opts parses tend's command line and its TEND_* environment twins
// into one Options value. A flag wins over its variable. Every error names
// the flag or variable, the bad value and the accepted form.
package opts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tend-sh/tend/internal/signals"
)

// Forward says who receives forwarded signals.
type Forward int

const (
	ForwardGroup Forward = iota // the main process's whole process group
	ForwardChild                // the main process alone
)

// Options is everything the command line and environment decide.
type Options struct {
	Forward   Forward
	Rewrite   signals.Rewrite
	Grace     time.Duration
	PreStop   string
	RemapExit map[int]int
	Hold      bool
	User      string
	Verbose   int
	Config    string   // the first -c FILE|DIR (TOML)
	Configs   []string // every -c, in order (TEND_CONFIG: one path)
	Crontabs  []string // every --crontab FILE (TEND_CRONTAB: one path)
	Procfile  string   // -f FILE
	GraceSet  bool     // --grace or TEND_GRACE given: wins over the config file's
	// GracePlatform is --grace=platform: a shutdown a signal started has
	// no deadline of tend's own (the sender's SIGKILL ends it); one tend
	// starts itself (the main exited) still ends at Grace, the default.
	GracePlatform bool
	Socket        string // --socket PATH ("" = TEND_SOCKET or the default)
	HTTP          string // --http ADDR ("" = off)

	// tini's single-letter flags, accepted by tend too (-s, -g, -e, -p,
	// -w), and what the tini and dumb-init faces (internal/compat) set.
	Pdeathsig  syscall.Signal // -p SIGNAL: the signal tend gets when its parent dies
	WarnReaped bool           // -w: warn for every reaped process that is not the main
	Subreaper  bool           // -s: asked for; tend is a subreaper whenever it is not PID 1
	// SingleChild is dumb-init's single-child mode: the main stays in
	// tend's session and process group, signals go to it alone, and once it
	// has exited tend exits without touching any other process.
	SingleChild bool
	// JobControl is dumb-init's: after forwarding SIGTSTP, SIGTTIN or
	// SIGTTOU tend stops itself (SIGSTOP), so the shell that started it
	// sees the job stop.
	JobControl bool
	// NoTerminal keeps the main in a session of its own even when stdin
	// is tend's controlling terminal; when tend leads that terminal's
	// session (docker run -it), tend hands the terminal over to the
	// main's session, as dumb-init does (supervise.Config.HandTerminal).
	NoTerminal bool
	// ResetSignals starts the main with an empty signal mask and every
	// signal at its default action (dumb-init); otherwise the main gets the
	// signals tend inherited as ignored or blocked, as far as Go lets tend
	// know them (tini; README "Signals tend inherited").
	ResetSignals bool
	// ChdirRoot: once the main has started, tend moves its own working
	// directory to "/" so that it keeps no directory busy (dumb-init's).
	ChdirRoot bool

	Help, Version bool
	Command       []string
}

// ErrUsage wraps every usage error; callers print usage and exit 2.
var ErrUsage = errors.New("usage error")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == ErrUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// option describes one flag and its environment twin.
type option struct {
	long, short string
	env         string
	boolean     bool
	repeat      bool
	// noEmpty: an empty variable is not taken as unset but given to set,
	// which rejects it as it rejects an empty flag value: it fails closed,
	// e.g. TEND_USER=$APP_USER with APP_USER unset.
	noEmpty bool
	form    string // accepted form, for errors and help
	help    string
	set     func(o *Options, v string) error
	reset   func(o *Options) // for repeatable options: forget the env twin's values
}

// Table is the list of options, in the order --help shows them.
var table = []option{
	{long: "config", short: "c", env: "TEND_CONFIG", form: "FILE|DIR", help: "run the services of this TOML file, or of every *.toml in DIR (lexical order); repeatable", set: addConfig, reset: func(o *Options) { o.Config, o.Configs = "", nil }},
	{long: "crontab", env: "TEND_CRONTAB", form: "FILE", help: "run each line of this crontab (SPEC COMMAND, no user column) as a job; repeatable", set: addCrontab, reset: func(o *Options) { o.Crontabs = nil }},
	{long: "procfile", short: "f", env: "TEND_PROCFILE", form: "FILE", help: "run the processes of this Procfile; any exit stops all", set: func(o *Options, v string) error { o.Procfile = v; return nil }},
	{long: "forward", env: "TEND_FORWARD", form: "group|child", help: "forward signals to the main process group (default) or the main process only", set: setForward},
	{long: "rewrite", env: "TEND_REWRITE", repeat: true, form: "FROM:TO", help: "forward signal FROM as TO (names or numbers; TO=0 drops it); repeatable", set: setRewrite, reset: func(o *Options) { o.Rewrite = nil }},
	{long: "grace", env: "TEND_GRACE", form: "DURATION|platform", help: "shutdown budget before everything left is SIGKILLed (default 10s); platform: none of tend's own when a signal started the stop", set: setGrace},
	{long: "pre-stop", env: "TEND_PRE_STOP", form: "CMD", help: "command run first at shutdown and waited for (split like shell words, no shell)", set: func(o *Options, v string) error { o.PreStop = v; return nil }},
	{long: "remap-exit", env: "TEND_REMAP_EXIT", repeat: true, form: "FROM:TO", help: "exit with TO when the main process's code is FROM (0-255); repeatable", set: setRemap, reset: func(o *Options) { o.RemapExit = nil }},
	{long: "hold", env: "TEND_HOLD", boolean: true, form: "1|0|true|false", help: "when the main process fails, keep running until SIGTERM/SIGINT", set: func(o *Options, v string) error { b, err := parseBool(v); o.Hold = b; return err }},
	{long: "user", env: "TEND_USER", noEmpty: true, form: "USER[:GROUP]", help: "run the command as this user (name or number)", set: setUser},
	{long: "socket", env: "TEND_SOCKET", form: "PATH", help: "control socket for tend status/start/stop/... (default /run/tend/control.sock)", set: func(o *Options, v string) error { o.Socket = v; return nil }},
	{long: "http", env: "TEND_HTTP", form: "ADDR", help: "serve /healthz, /readyz, /status, /metrics on ADDR (:PORT binds 127.0.0.1 only)", set: func(o *Options, v string) error { o.HTTP = v; return nil }},
	{short: "s", boolean: true, help: "be a child subreaper (tend always is when not PID 1)", set: func(o *Options, v string) error { b, err := parseBool(v); o.Subreaper = b; return err }},
	{short: "g", boolean: true, help: "forward signals to the main's process group (tend's default)", set: func(o *Options, v string) error { o.Forward = ForwardGroup; return nil }},
	{short: "e", repeat: true, form: "CODE", help: "exit 0 when the main exits with CODE (0-255); repeatable, as --remap-exit CODE:0", set: func(o *Options, v string) error {
		n, err := exitCode(v)
		if err == nil {
			err = setRemap(o, strconv.Itoa(n)+":0")
		}
		return err
	}},
	{short: "p", form: "SIGNAL", help: "the signal tend gets when its parent dies (PR_SET_PDEATHSIG)", set: func(o *Options, v string) error {
		sig, err := signals.Parse(v, false)
		o.Pdeathsig = sig
		return err
	}},
	{short: "w", boolean: true, help: "warn for every reaped process that is not the main", set: func(o *Options, v string) error { b, err := parseBool(v); o.WarnReaped = b; return err }},
	{long: "verbose", short: "v", env: "TEND_VERBOSE", boolean: true, form: "1|0|true|false|2", help: "log lifecycle detail (-vv or TEND_VERBOSE=2: also every signal and reaped process)", set: func(o *Options, v string) error {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 3 {
			o.Verbose += n
			return nil
		}
		b, err := parseBool(v)
		if b {
			o.Verbose++
		}
		return err
	}},
}

// Defaults returns the options when nothing is set.
func Defaults() Options {
	return Options{Grace: 10 * time.Second, Forward: ForwardGroup}
}

// Parse reads the environment first, then the flags in args (without the
// program name). The command starts at "--" or at the first argument that
// is not a flag.
func Parse(args []string, getenv func(string) (string, bool)) (Options, error) {
	o := Defaults()
	for i := range table {
		opt := &table[i]
		if opt.env == "" {
			continue
		}
		v, ok := getenv(opt.env)
		if !ok || (v == "" && !opt.noEmpty) {
			continue
		}
		if err := opt.setEnv(&o, v); err != nil {
			return o, usagef("invalid %s=%q: %v; want %s", opt.env, v, err, opt.form)
		}
	}
	flagged := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.Command = args[i+1:]
			break
		}
		if a == "-h" || a == "--help" {
			o.Help = true
			return o, nil
		}
		if a == "--version" {
			o.Version = true
			return o, nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.Command = args[i:]
			break
		}
		if strings.Trim(a, "v") == "-" && len(a) > 2 { // -vv, -vvv
			o.Verbose += len(a) - 1
			continue
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 && !strings.Contains(a, "=") {
			// Grouped short flags as tini's command lines write them:
			// -sg, -e3, -gse 3. A letter that takes a value ends the group.
			var err error
			if i, err = shortGroup(&o, args, i); err != nil {
				return o, err
			}
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		opt := lookup(a, name)
		if opt == nil {
			return o, usagef("unknown flag %s", a)
		}
		if opt.boolean {
			if !hasVal {
				val = "true"
			}
		} else if !hasVal {
			if i+1 >= len(args) {
				return o, usagef("flag %s needs a value: %s", a, opt.form)
			}
			i++
			val = args[i]
		}
		// A repeatable flag given on the command line replaces its
		// environment twin's list instead of adding to it.
		if opt.reset != nil && !flagged[opt.name()] {
			opt.reset(&o)
		}
		flagged[opt.name()] = true
		if err := opt.set(&o, val); err != nil {
			return o, usagef("invalid %s %q: %v; want %s", opt.name(), val, err, opt.form)
		}
	}
	if o.Config != "" && o.Procfile != "" {
		return o, usagef("--config and --procfile cannot be used together")
	}
	if len(o.Crontabs) > 0 && o.Procfile != "" {
		return o, usagef("--crontab and --procfile cannot be used together")
	}
	if o.Procfile != "" && len(o.Command) > 0 {
		return o, usagef("--procfile runs the Procfile's processes; it takes no command")
	}
	return o, nil
}

// shortGroup applies the grouped short flags of args[i] and returns the
// index of the last argument it used.
func shortGroup(o *Options, args []string, i int) (int, error) {
	a := args[i]
	for j := 1; j < len(a); j++ {
		opt := lookup("-", a[j:j+1])
		if opt == nil {
			return i, usagef("unknown flag -%c in %s", a[j], a)
		}
		val := "true"
		if !opt.boolean {
			if val = a[j+1:]; val == "" {
				if i+1 >= len(args) {
					return i, usagef("flag -%s needs a value: %s", opt.short, opt.form)
				}
				i++
				val = args[i]
			}
			j = len(a)
		}
		if err := opt.set(o, val); err != nil {
			return i, usagef("invalid -%s %q: %v; want %s", opt.short, val, err, opt.form)
		}
	}
	return i, nil
}

// name is how errors call the flag: --long, or -s for a short-only one.
func (o *option) name() string {
	if o.long == "" {
		return "-" + o.short
	}
	return "--" + o.long
}

func lookup(arg, name string) *option {
	for i := range table {
		o := &table[i]
		if (strings.HasPrefix(arg, "--") && o.long != "" && name == o.long) || (!strings.HasPrefix(arg, "--") && o.short != "" && name == o.short) {
			return o
		}
	}
	return nil
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// errEmptyUser is the error for an empty --user or TEND_USER: it fails
// closed rather than running the command as tend's own user (root).
var errEmptyUser = errors.New("empty (an unset variable?); tend never falls back to running as its own user")

func setUser(o *Options, v string) error {
	if v == "" {
		return errEmptyUser
	}
	o.User = v
	return nil
}

func addConfig(o *Options, v string) error {
	if v == "" {
		return errors.New("empty path")
	}
	if o.Config == "" {
		o.Config = v
	}
	o.Configs = append(o.Configs, v)
	return nil
}

func addCrontab(o *Options, v string) error {
	if v == "" {
		return errors.New("empty path")
	}
	o.Crontabs = append(o.Crontabs, v)
	return nil
}

func setForward(o *Options, v string) error {
	switch v {
	case "group":
		o.Forward = ForwardGroup
	case "child":
		o.Forward = ForwardChild
	default:
		return errors.New("unknown mode")
	}
	return nil
}

// GracePlatformValue is the --grace value that leaves the deadline of a
// stop to whoever sent the stop signal (the platform: docker stop -t, the
// kubelet's grace); see Options.GracePlatform.
const GracePlatformValue = "platform"

func setGrace(o *Options, v string) error {
	if v == GracePlatformValue {
		o.Grace, o.GraceSet, o.GracePlatform = Defaults().Grace, true, true
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	o.Grace, o.GraceSet, o.GracePlatform = d, true, false
	return nil
}

func setRewrite(o *Options, v string) error {
	from, to, err := signals.ParsePair(v)
	if err != nil {
		return err
	}
	if o.Rewrite == nil {
		o.Rewrite = signals.Rewrite{}
	}
	o.Rewrite[from] = to
	return nil
}

func setRemap(o *Options, v string) error {
	a, b, ok := strings.Cut(v, ":")
	if !ok {
		return errors.New("missing ':'")
	}
	from, err1 := exitCode(a)
	to, err2 := exitCode(b)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if o.RemapExit == nil {
		o.RemapExit = map[int]int{}
	}
	o.RemapExit[from] = to
	return nil
}

func exitCode(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("%q is not an exit code 0-255", s)
	}
	return n, nil
}

// Usage is the text --help prints and usage errors end with.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: tend [options] [--] CMD [ARGS...]
       tend -c FILE|DIR [-c ...] [--crontab FILE] [options] [-- CMD [ARGS...]]
       tend --crontab FILE [options]
       tend -f Procfile [options]
       tend check (-c FILE|DIR... [--crontab FILE] [-- CMD ...] | --crontab FILE | -f Procfile)
       tend status|start|stop|restart|run|signal|logs|shutdown|wait-ready ...  (see tend status --help)

tend runs CMD as a well-behaved PID 1: it forwards signals, reaps every
orphan, and at shutdown waits for every descendant (up to --grace) before
exiting with CMD's exit code.

Options (each also read from its environment variable; a flag wins):
`)
	var tini []option
	for _, o := range table {
		if o.long == "" {
			tini = append(tini, o)
			continue
		}
		flag := "--" + o.long
		if o.short != "" {
			flag = "-" + o.short + ", " + flag
		}
		if !o.boolean {
			flag += " " + o.form
		}
		fmt.Fprintf(&b, "  %-26s %s [%s]\n", flag, o.help, o.env)
	}
	b.WriteString(`  -h, --help                 show this help
      --version              print the version

tini's flags, accepted so that "tend -g --" works (-c stays tend's --config):
`)
	for _, o := range tini {
		flag := "-" + o.short
		if !o.boolean {
			flag += " " + o.form
		}
		fmt.Fprintf(&b, "  %-26s %s\n", flag, o.help)
	}
	b.WriteString(`
Run as tini, tini-static, docker-init or dumb-init (a symlink or a renamed
copy), tend takes that program's command line and variables instead.

Exit codes: CMD's code, or 128+N if it died of signal N (after --remap-exit);
2 usage or configuration error; 125 CMD could not be started; 126 CMD is not
executable; 127 CMD was not found.
`)
	return b.String()
}
