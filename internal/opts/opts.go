// Package opts parses tend's command line and its TEND_* environment twins
// into one Options value. A flag wins over its variable. Every error names
// the flag or variable, the bad value and the accepted form.
package opts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	Config    string // -c FILE (TOML)
	Procfile  string // -f FILE
	GraceSet  bool   // --grace or TEND_GRACE given: wins over the config file's
	Socket    string // --socket PATH ("" = TEND_SOCKET or the default)
	HTTP      string // --http ADDR ("" = off)

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
	form        string // accepted form, for errors and help
	help        string
	set         func(o *Options, v string) error
	reset       func(o *Options) // for repeatable options: forget the env twin's values
}

// Table is the list of options, in the order --help shows them.
var table = []option{
	{long: "config", short: "c", env: "TEND_CONFIG", form: "FILE", help: "run the services in this TOML file (see README)", set: func(o *Options, v string) error { o.Config = v; return nil }},
	{long: "procfile", short: "f", env: "TEND_PROCFILE", form: "FILE", help: "run the processes of this Procfile; any exit stops all", set: func(o *Options, v string) error { o.Procfile = v; return nil }},
	{long: "forward", env: "TEND_FORWARD", form: "group|child", help: "forward signals to the main process group (default) or the main process only", set: setForward},
	{long: "rewrite", env: "TEND_REWRITE", repeat: true, form: "FROM:TO", help: "forward signal FROM as TO (names or numbers; TO=0 drops it); repeatable", set: setRewrite, reset: func(o *Options) { o.Rewrite = nil }},
	{long: "grace", env: "TEND_GRACE", form: "DURATION", help: "shutdown budget before everything left is SIGKILLed (default 10s)", set: setGrace},
	{long: "pre-stop", env: "TEND_PRE_STOP", form: "CMD", help: "command run first at shutdown and waited for (split like shell words, no shell)", set: func(o *Options, v string) error { o.PreStop = v; return nil }},
	{long: "remap-exit", env: "TEND_REMAP_EXIT", repeat: true, form: "FROM:TO", help: "exit with TO when the main process's code is FROM (0-255); repeatable", set: setRemap, reset: func(o *Options) { o.RemapExit = nil }},
	{long: "hold", env: "TEND_HOLD", boolean: true, form: "1|0|true|false", help: "when the main process fails, keep running until SIGTERM/SIGINT", set: func(o *Options, v string) error { b, err := parseBool(v); o.Hold = b; return err }},
	{long: "user", env: "TEND_USER", form: "USER[:GROUP]", help: "run the command as this user (name or number)", set: func(o *Options, v string) error { o.User = v; return nil }},
	{long: "socket", env: "TEND_SOCKET", form: "PATH", help: "control socket for tend status/start/stop/... (default /run/tend/control.sock)", set: func(o *Options, v string) error { o.Socket = v; return nil }},
	{long: "http", env: "TEND_HTTP", form: "ADDR", help: "serve /healthz, /readyz, /status, /metrics on ADDR (:PORT binds 127.0.0.1 only)", set: func(o *Options, v string) error { o.HTTP = v; return nil }},
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
		v, ok := getenv(opt.env)
		if !ok || v == "" {
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
		if opt.reset != nil && !flagged[opt.long] {
			opt.reset(&o)
		}
		flagged[opt.long] = true
		if err := opt.set(&o, val); err != nil {
			return o, usagef("invalid --%s %q: %v; want %s", opt.long, val, err, opt.form)
		}
	}
	if o.Config != "" && o.Procfile != "" {
		return o, usagef("--config and --procfile cannot be used together")
	}
	if o.Procfile != "" && len(o.Command) > 0 {
		return o, usagef("--procfile runs the Procfile's processes; it takes no command")
	}
	return o, nil
}

func lookup(arg, name string) *option {
	for i := range table {
		o := &table[i]
		if (strings.HasPrefix(arg, "--") && name == o.long) || (!strings.HasPrefix(arg, "--") && o.short != "" && name == o.short) {
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

func setGrace(o *Options, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	o.Grace, o.GraceSet = d, true
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
       tend -c FILE [options] [-- CMD [ARGS...]]
       tend -f Procfile [options]
       tend check (-c FILE | -f Procfile)
       tend status|start|stop|restart|signal|logs|shutdown|wait-ready ...  (see tend status --help)

tend runs CMD as a well-behaved PID 1: it forwards signals, reaps every
orphan, and at shutdown waits for every descendant (up to --grace) before
exiting with CMD's exit code.

Options (each also read from its environment variable; a flag wins):
`)
	for _, o := range table {
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

Exit codes: CMD's code, or 128+N if it died of signal N (after --remap-exit);
2 usage or configuration error; 125 CMD could not be started; 126 CMD is not
executable; 127 CMD was not found.
`)
	return b.String()
}
