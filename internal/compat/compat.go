// Package compat reads the command lines and environment variables of tini
// and dumb-init into tend's options, so that tend installed under their
// names (a symlink or a renamed copy: tini, tini-static, docker-init,
// dumb-init) runs their images unchanged. It only parses and answers
// -h/--version; cmd/tend runs the result with tend's engine.
//
// It owns the list of names the tend binary answers to (FaceOf, including
// tend-runc's) and of the names under which it is an init (InitNames):
// cmd/tend and internal/inject ask it.
//
// What each peer option does under tend, and where tend deliberately
// differs, is the README's "Replacing tini / dumb-init" table.
package compat

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/tend-sh/tend/internal/opts"
	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/spawn"
)

// Face is the program tend is standing in for.
type Face int

// The faces.
const (
	Tend     Face = iota // tend's own command line
	Tini                 // tini, tini-static, docker-init (Docker's --init)
	DumbInit             // dumb-init
	Runtime              // tend-runc: the OCI runtime wrapper (internal/ociruntime)
)

// names is every name the one tend binary answers to (argv[0]'s last
// element, a symlink or a renamed copy), with the face it picks; any other
// name is tend. It is the one list: cmd/tend dispatches on FaceOf, and
// internal/inject leaves alone a container whose command has one of the
// init faces' names (InitNames), as it is an init already.
var names = []struct {
	name string
	face Face
}{
	{"tend", Tend},
	{"tini", Tini},
	{"tini-static", Tini},
	{"docker-init", Tini},
	{"dumb-init", DumbInit},
	{"tend-runc", Runtime},
}

// FaceOf picks the face from the name tend was invoked as (argv[0]).
func FaceOf(argv0 string) Face {
	base := filepath.Base(argv0)
	for _, n := range names {
		if n.name == base {
			return n.face
		}
	}
	return Tend
}

// InitNames lists the names under which the tend binary is a container's
// init: tend's own and its stand-ins for the peers (tini, tini-static,
// docker-init, dumb-init), not tend-runc.
func InitNames() []string {
	var out []string
	for _, n := range names {
		if n.face != Runtime {
			out = append(out, n.name)
		}
	}
	return out
}

// String is the face's own name: the first of its names.
func (f Face) String() string {
	for _, n := range names {
		if n.face == f {
			return n.name
		}
	}
	return "tend"
}

// CodeUsage is the exit code of both peers for a command line they refuse
// (checked against tini 0.19 and dumb-init 1.2.5).
const CodeUsage = 1

// Action is what a command line asks for.
type Action int

// The actions.
const (
	Run     Action = iota // run Options.Command
	Help                  // -h (tini), -h/--help (dumb-init)
	Version               // --version (tini), -V/--version (dumb-init)
	License               // -l (tini)
)

// Invocation is a parsed peer command line.
type Invocation struct {
	Face    Face
	Action  Action
	Options opts.Options
}

// UsageError is a command line or variable the peer would refuse.
type UsageError struct {
	Face Face
	Msg  string
}

func (e *UsageError) Error() string { return e.Msg }

// Parse reads a peer's command line (args without argv[0]) and variables.
// tend's own TEND_* variables (TEND_GRACE, ...) apply underneath, so that
// tend's grace can be set without changing the command line.
func Parse(f Face, args []string, getenv func(string) (string, bool)) (Invocation, error) {
	base, err := opts.Parse(nil, getenv)
	if err != nil {
		return Invocation{Face: f}, &UsageError{f, err.Error()}
	}
	switch f {
	case Tini:
		return parseTini(base, args, getenv)
	case DumbInit:
		return parseDumbInit(base, args, getenv)
	}
	return Invocation{Face: f}, &UsageError{f, "compat: no peer command line for " + f.String()}
}

// getopt walks POSIX short options in the way both peers' getopt("+...")
// does: options stop at "--" or the first non-option; flags group (-vvv,
// -sg) and a value may be attached (-e3) or the next argument. long maps
// --name to its short letter (dumb-init's getopt_long); withValue lists the
// letters that take a value. visit returns an error to stop.
func getopt(f Face, args []string, known, withValue string, long map[string]byte, visit func(c byte, val string) error) (rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args[i+1:], nil
		case strings.HasPrefix(a, "--") && long != nil:
			name, val, hasVal := strings.Cut(a[2:], "=")
			full, err := longName(f, name, long)
			if err != nil {
				return nil, err
			}
			name = full
			c := long[name]
			if strings.IndexByte(withValue, c) >= 0 {
				if !hasVal {
					if i+1 >= len(args) {
						return nil, &UsageError{f, fmt.Sprintf("option --%s needs a value", name)}
					}
					i++
					val = args[i]
				}
			} else if hasVal {
				return nil, &UsageError{f, fmt.Sprintf("option --%s takes no value", name)}
			}
			if err := visit(c, val); err != nil {
				return nil, err
			}
			continue
		case !strings.HasPrefix(a, "-") || a == "-":
			return args[i:], nil
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			if strings.IndexByte(known, c) < 0 {
				return nil, &UsageError{f, fmt.Sprintf("unknown option -%c", c)}
			}
			if strings.IndexByte(withValue, c) < 0 {
				if err := visit(c, ""); err != nil {
					return nil, err
				}
				continue
			}
			val := a[j+1:]
			if val == "" {
				if i+1 >= len(args) {
					return nil, &UsageError{f, fmt.Sprintf("option -%c needs a value", c)}
				}
				i++
				val = args[i]
			}
			if err := visit(c, val); err != nil {
				return nil, err
			}
			break
		}
	}
	return nil, nil
}

// longName resolves a long option's name as getopt_long does: the exact
// name, else the one option it is a prefix of (--single for
// --single-child, --rew for --rewrite); a prefix of several (--ver:
// --verbose or --version?) is ambiguous and refused, listing them.
func longName(f Face, name string, long map[string]byte) (string, error) {
	if _, ok := long[name]; ok {
		return name, nil
	}
	var matches []string
	for full := range long {
		if strings.HasPrefix(full, name) {
			matches = append(matches, full)
		}
	}
	slices.Sort(matches)
	switch len(matches) {
	case 0:
		return "", &UsageError{f, fmt.Sprintf("unknown option --%s", name)}
	case 1:
		return matches[0], nil
	}
	return "", &UsageError{f, fmt.Sprintf("option --%s is ambiguous: --%s", name, strings.Join(matches, " or --"))}
}

// parseTini reads tini's command line: tini [-hsvwgl] [-p SIGNAL]
// [-e CODE]... [--] PROGRAM [ARGS], or tini --version.
func parseTini(o opts.Options, args []string, getenv func(string) (string, bool)) (Invocation, error) {
	inv := Invocation{Face: Tini}
	if len(args) > 0 && args[0] == "--version" {
		inv.Action = Version
		return inv, nil
	}
	// tini signals the child alone unless told otherwise; an explicit
	// TEND_FORWARD still wins.
	if _, set := getenv("TEND_FORWARD"); !set {
		o.Forward = opts.ForwardChild
	}
	verbosity := 1 // tini's default: warnings
	if _, ok := getenv("TINI_SUBREAPER"); ok {
		o.Subreaper = true
	}
	if _, ok := getenv("TINI_KILL_PROCESS_GROUP"); ok {
		o.Forward = opts.ForwardGroup
	}
	if v, ok := getenv("TINI_VERBOSITY"); ok {
		n, err := atoi(v)
		if err != nil {
			return inv, &UsageError{Tini, fmt.Sprintf("invalid TINI_VERBOSITY=%q: want a number (0 errors only, 1 warnings, 2 info, 3 debug)", v)}
		}
		verbosity = n
	}
	remapped := false
	rest, err := getopt(Tini, args, "hsvwgle:p:", "ep", nil, func(c byte, val string) error {
		switch c {
		case 'h':
			inv.Action = Help
		case 'l':
			inv.Action = License
		case 's':
			o.Subreaper = true
		case 'v':
			verbosity++
		case 'w':
			o.WarnReaped = true
		case 'g':
			o.Forward = opts.ForwardGroup
		case 'e':
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 255 {
				return &UsageError{Tini, fmt.Sprintf("invalid -e %q: want an exit code 0-255", val)}
			}
			if !remapped { // the command line replaces TEND_REMAP_EXIT
				o.RemapExit, remapped = map[int]int{}, true
			}
			o.RemapExit[n] = 0
		case 'p':
			sig, err := signals.Parse(val, false)
			if err != nil {
				return &UsageError{Tini, fmt.Sprintf("invalid -p %q: %v", val, err)}
			}
			o.Pdeathsig = sig
		}
		return nil
	})
	if err != nil {
		return inv, err
	}
	if inv.Action != Run {
		return inv, nil // tini answers -h and -l before looking for a program
	}
	if len(rest) == 0 {
		return inv, &UsageError{Tini, "no program given"}
	}
	o.Command = rest
	o.Verbose = verbosity - 1 // tend's 0 is tini's 1: warnings and errors
	inv.Options = o
	return inv, nil
}

// atoi reads a number as tini's atoi does, but refuses what is not one.
func atoi(v string) (int, error) {
	return strconv.Atoi(strings.TrimSpace(v))
}

// parseDumbInit reads dumb-init's command line: dumb-init [-c] [-r S:R]...
// [-v] [--] PROGRAM [ARGS], -h/--help, -V/--version.
func parseDumbInit(o opts.Options, args []string, getenv func(string) (string, bool)) (Invocation, error) {
	inv := Invocation{Face: DumbInit}
	if v, _ := getenv("DUMB_INIT_SETSID"); v == "0" {
		o.SingleChild = true
	}
	if v, _ := getenv("DUMB_INIT_DEBUG"); v == "1" {
		o.Verbose = 2
	}
	rewritten := false
	long := map[string]byte{"help": 'h', "single-child": 'c', "rewrite": 'r', "verbose": 'v', "version": 'V'}
	rest, err := getopt(DumbInit, args, "hvVcr:", "r", long, func(c byte, val string) error {
		switch c {
		case 'h':
			inv.Action = Help
			return errStop
		case 'V':
			inv.Action = Version
			return errStop
		case 'c':
			o.SingleChild = true
		case 'v':
			o.Verbose = 2
		case 'r':
			from, to, err := signals.ParsePair(val)
			if err != nil {
				return &UsageError{DumbInit, fmt.Sprintf("invalid --rewrite %q: %v", val, err)}
			}
			if !rewritten { // the command line replaces TEND_REWRITE
				o.Rewrite, rewritten = signals.Rewrite{}, true
			}
			o.Rewrite[from] = to
		}
		return nil
	})
	if err == errStop {
		return inv, nil // dumb-init answers -h and -V at once
	}
	if err != nil {
		return inv, err
	}
	if len(rest) == 0 {
		return inv, &UsageError{DumbInit, "no program given"}
	}
	o.Command = rest
	o.JobControl, o.NoTerminal, o.ResetSignals, o.ChdirRoot = true, true, true, true
	if o.SingleChild {
		o.Forward = opts.ForwardChild
	} else {
		// In its own session the child's group is orphaned: a terminal stop
		// signal would do nothing to it, so dumb-init stops it with SIGSTOP
		// unless told otherwise.
		o.Forward = opts.ForwardGroup
		for _, s := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU} {
			if _, set := o.Rewrite[s]; !set {
				if o.Rewrite == nil {
					o.Rewrite = signals.Rewrite{}
				}
				o.Rewrite[s] = syscall.SIGSTOP
			}
		}
	}
	inv.Options = o
	return inv, nil
}

var errStop = &UsageError{Msg: "stop"}

// Answer prints what a Help, Version or License invocation asks for, on
// the stream the peer uses (tini: stdout; dumb-init: stderr), and returns
// the exit code (0).
func Answer(inv Invocation, version string, stdout, stderr io.Writer) int {
	w := stdout
	if inv.Face == DumbInit {
		w = stderr
	}
	switch inv.Action {
	case Help:
		fmt.Fprint(w, Usage(inv.Face, version))
	case Version:
		fmt.Fprintf(w, "tend %s (standing in for %s)\n", version, inv.Face)
	case License:
		fmt.Fprint(w, license)
	}
	return 0
}

// Fail prints a usage error the way the peer reports one (stderr; tini
// adds its whole usage, dumb-init a pointer to --help) and returns the
// peer's exit code.
func Fail(f Face, err error, version string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s (tend): %v\n", f, err)
	if f == Tini {
		fmt.Fprint(stderr, Usage(f, version))
	} else {
		fmt.Fprintf(stderr, "See %s --help.\n", f)
	}
	return CodeUsage
}

// CodeExecFailed is dumb-init's exit code when its child cannot execute the
// program (execvp failed): the child exits 2, and dumb-init with it.
const CodeExecFailed = 2

// StartError reports a program that could not be started the way the
// face's peer does and returns the exit code to use. As dumb-init it is
// dumb-init's own line, "[dumb-init] PROGRAM: " and the C library's text
// for the error (strerror: "No such file or directory", "Permission
// denied"), and exit 2. Other faces return ok false: tend's own message
// and the shell's codes (127, 126, 125) apply.
func StartError(f Face, err error) (line string, code int, ok bool) {
	if f != DumbInit {
		return "", 0, false
	}
	name, text := "", err.Error()
	var se *spawn.Error
	if errors.As(err, &se) {
		name = se.Name
		text = se.Err.Error()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		text = errno.Error()
	}
	return "[dumb-init] " + name + ": " + strerror(text) + "\n", CodeExecFailed, true
}

// strerror turns Go's text for an errno into the C library's: Go's table
// is glibc's strerror with the first letter in lower case.
func strerror(text string) string {
	if text == "" {
		return text
	}
	return strings.ToUpper(text[:1]) + text[1:]
}

// Usage is the help of a face, in tend's words.
func Usage(f Face, version string) string {
	if f == DumbInit {
		return `tend ` + version + `, standing in for dumb-init
Usage: dumb-init [OPTIONS] [--] PROGRAM [ARGS...]

Runs PROGRAM in a session of its own, passes it every signal and reaps
orphans; at shutdown tend waits for all descendants (TEND_GRACE, default 10s).

  -c, --single-child   signal PROGRAM alone; it stays in tend's session, and
                       when it exits tend exits without touching the rest
                       (also DUMB_INIT_SETSID=0)
  -r, --rewrite S:R    pass signal S on as R (R=0: drop S); repeatable
  -v, --verbose        debug output on stderr (also DUMB_INIT_DEBUG=1)
  -h, --help           this help
  -V, --version        tend's version

tend's TEND_* variables apply too. Full documentation: tend's README,
"Replacing tini / dumb-init".
`
	}
	return `tend ` + version + `, standing in for tini
Usage: tini [OPTIONS] [--] PROGRAM [ARGS...] | tini --version

Runs PROGRAM, passes it signals and reaps orphans; at shutdown tend waits
for all descendants (TEND_GRACE, default 10s).

  --version     tend's version
  -h            this help
  -s            be a child subreaper (tend always is when not PID 1)
  -p SIGNAL     receive SIGNAL when tend's parent dies, e.g. -p SIGKILL
  -v            more output; repeat for more (up to -vvv)
  -w            warn about every reaped process that is not PROGRAM
  -g            send signals to PROGRAM's whole process group
  -e CODE       exit 0 when PROGRAM exits with CODE (0-255); repeatable
  -l            licence and exit

Variables: TINI_SUBREAPER (as -s), TINI_KILL_PROCESS_GROUP (as -g),
TINI_VERBOSITY (0 errors, 1 warnings (default), 2 info, 3 debug); tend's
TEND_* variables apply too. Full documentation: tend's README,
"Replacing tini / dumb-init".
`
}

const license = `This is tend standing in for tini: tend is its own program and contains no
code from tini or dumb-init. Its licence is the one stated in tend's source
repository, which is where its authors and terms are recorded.
`
