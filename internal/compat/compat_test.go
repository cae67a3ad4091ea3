package compat

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tend-sh/tend/internal/opts"
	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/spawn"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFaceOf(t *testing.T) {
	for argv0, want := range map[string]Face{
		"tini": Tini, "/sbin/tini": Tini, "/usr/bin/tini-static": Tini, "/sbin/docker-init": Tini,
		"dumb-init": DumbInit, "/usr/local/bin/dumb-init": DumbInit,
		"tend": Tend, "/tend": Tend, "tini2": Tend, "dumb-init.sh": Tend, "": Tend,
		"tend-runc": Runtime, "/usr/local/bin/tend-runc": Runtime, "tend-runc2": Tend,
	} {
		if got := FaceOf(argv0); got != want {
			t.Errorf("FaceOf(%q) = %v, want %v", argv0, got, want)
		}
	}
}

// TestNames: each face is named by its first name; the init names are
// every name but tend-runc's; tend's help names every stand-in.
func TestNames(t *testing.T) {
	for f, want := range map[Face]string{Tend: "tend", Tini: "tini", DumbInit: "dumb-init", Runtime: "tend-runc"} {
		if got := f.String(); got != want {
			t.Errorf("Face %d: String() = %q, want %q", int(f), got, want)
		}
	}
	inits := InitNames()
	if want := []string{"tend", "tini", "tini-static", "docker-init", "dumb-init"}; !slices.Equal(inits, want) {
		t.Errorf("InitNames() = %q, want %q", inits, want)
	}
	usage := strings.Join(strings.Fields(opts.Usage()), " ")
	for _, n := range inits[1:] {
		if !strings.Contains(usage, n) {
			t.Errorf("tend --help does not name %s", n)
		}
	}
}

// tiniDefaults is what `tini -- x` means in tend's options.
func tiniDefaults() opts.Options {
	o := opts.Defaults()
	o.Forward = opts.ForwardChild
	o.Command = []string{"x"}
	return o
}

func dumbDefaults() opts.Options {
	o := opts.Defaults()
	o.Command = []string{"x"}
	o.JobControl, o.NoTerminal, o.ResetSignals, o.ChdirRoot = true, true, true, true
	o.Rewrite = signals.Rewrite{syscall.SIGTSTP: syscall.SIGSTOP, syscall.SIGTTIN: syscall.SIGSTOP, syscall.SIGTTOU: syscall.SIGSTOP}
	return o
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name   string
		face   Face
		args   []string
		env    func(string) (string, bool)
		action Action
		want   func() opts.Options // nil: not a Run
	}{
		// tini
		{"tini defaults", Tini, []string{"--", "x"}, env(), Run, tiniDefaults},
		{"tini without --", Tini, []string{"x", "-g"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Command = []string{"x", "-g"}; return o }},
		{"tini -g", Tini, []string{"-g", "--", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Forward = opts.ForwardGroup; return o }},
		{"TINI_KILL_PROCESS_GROUP", Tini, []string{"x"}, env("TINI_KILL_PROCESS_GROUP", ""), Run, func() opts.Options { o := tiniDefaults(); o.Forward = opts.ForwardGroup; return o }},
		{"TEND_FORWARD wins over tini's default", Tini, []string{"x"}, env("TEND_FORWARD", "group"), Run, func() opts.Options { o := tiniDefaults(); o.Forward = opts.ForwardGroup; return o }},
		{"tini -s", Tini, []string{"-s", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Subreaper = true; return o }},
		{"TINI_SUBREAPER", Tini, []string{"x"}, env("TINI_SUBREAPER", "1"), Run, func() opts.Options { o := tiniDefaults(); o.Subreaper = true; return o }},
		{"tini -w", Tini, []string{"-w", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.WarnReaped = true; return o }},
		{"tini -vvv", Tini, []string{"-vvv", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Verbose = 3; return o }},
		{"tini -v -v", Tini, []string{"-v", "-v", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Verbose = 2; return o }},
		{"TINI_VERBOSITY=0", Tini, []string{"x"}, env("TINI_VERBOSITY", "0"), Run, func() opts.Options { o := tiniDefaults(); o.Verbose = -1; return o }},
		{"TINI_VERBOSITY=2 and -v", Tini, []string{"-v", "x"}, env("TINI_VERBOSITY", "2"), Run, func() opts.Options { o := tiniDefaults(); o.Verbose = 2; return o }},
		{"tini -e repeat, grouped and attached", Tini, []string{"-e", "143", "-se3", "x"}, env(), Run, func() opts.Options {
			o := tiniDefaults()
			o.RemapExit, o.Subreaper = map[int]int{143: 0, 3: 0}, true
			return o
		}},
		{"tini -e replaces TEND_REMAP_EXIT", Tini, []string{"-e", "3", "x"}, env("TEND_REMAP_EXIT", "1:2"), Run, func() opts.Options { o := tiniDefaults(); o.RemapExit = map[int]int{3: 0}; return o }},
		{"tini -p SIGKILL", Tini, []string{"-p", "SIGKILL", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Pdeathsig = syscall.SIGKILL; return o }},
		{"tini -p 15 (a superset)", Tini, []string{"-p15", "x"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Pdeathsig = syscall.SIGTERM; return o }},
		{"TEND_GRACE applies", Tini, []string{"x"}, env("TEND_GRACE", "3s"), Run, func() opts.Options { o := tiniDefaults(); o.Grace, o.GraceSet = 3e9, true; return o }},
		{"tini -h", Tini, []string{"-h"}, env(), Help, nil},
		{"tini -h with a program", Tini, []string{"-s", "-h", "x"}, env(), Help, nil},
		{"tini -l", Tini, []string{"-l"}, env(), License, nil},
		{"tini --version", Tini, []string{"--version"}, env(), Version, nil},
		{"tini: --version after -- is the program", Tini, []string{"--", "--version"}, env(), Run, func() opts.Options { o := tiniDefaults(); o.Command = []string{"--version"}; return o }},

		// dumb-init
		{"dumb-init defaults", DumbInit, []string{"x"}, env(), Run, dumbDefaults},
		{"dumb-init --", DumbInit, []string{"--", "x"}, env(), Run, dumbDefaults},
		{"dumb-init -c", DumbInit, []string{"-c", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite = true, opts.ForwardChild, nil
			return o
		}},
		{"dumb-init --single-child", DumbInit, []string{"--single-child", "--", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite = true, opts.ForwardChild, nil
			return o
		}},
		{"DUMB_INIT_SETSID=0", DumbInit, []string{"x"}, env("DUMB_INIT_SETSID", "0"), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite = true, opts.ForwardChild, nil
			return o
		}},
		{"DUMB_INIT_SETSID=1 keeps the session", DumbInit, []string{"x"}, env("DUMB_INIT_SETSID", "1"), Run, dumbDefaults},
		{"dumb-init -r repeat and drop", DumbInit, []string{"-r", "15:3", "--rewrite=10:0", "--rewrite", "TSTP:TSTP", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.Rewrite = signals.Rewrite{syscall.SIGTERM: syscall.SIGQUIT, syscall.SIGUSR1: 0, syscall.SIGTSTP: syscall.SIGTSTP, syscall.SIGTTIN: syscall.SIGSTOP, syscall.SIGTTOU: syscall.SIGSTOP}
			return o
		}},
		{"dumb-init -c -r: no SIGSTOP defaults", DumbInit, []string{"-c", "-r", "15:3", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite = true, opts.ForwardChild, signals.Rewrite{syscall.SIGTERM: syscall.SIGQUIT}
			return o
		}},
		{"dumb-init -v", DumbInit, []string{"-v", "x"}, env(), Run, func() opts.Options { o := dumbDefaults(); o.Verbose = 2; return o }},
		{"DUMB_INIT_DEBUG=1", DumbInit, []string{"x"}, env("DUMB_INIT_DEBUG", "1"), Run, func() opts.Options { o := dumbDefaults(); o.Verbose = 2; return o }},
		{"DUMB_INIT_DEBUG=yes is not on", DumbInit, []string{"x"}, env("DUMB_INIT_DEBUG", "yes"), Run, dumbDefaults},
		{"dumb-init -h", DumbInit, []string{"-h"}, env(), Help, nil},
		{"dumb-init --help", DumbInit, []string{"--help", "x"}, env(), Help, nil},
		{"dumb-init -V", DumbInit, []string{"-V"}, env(), Version, nil},
		{"dumb-init --version", DumbInit, []string{"--version"}, env(), Version, nil},
		// getopt_long takes an unambiguous prefix of a long option.
		{"dumb-init --single", DumbInit, []string{"--single", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite = true, opts.ForwardChild, nil
			return o
		}},
		{"dumb-init --single-c --s", DumbInit, []string{"--single-c", "--s", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite = true, opts.ForwardChild, nil
			return o
		}},
		{"dumb-init --rew 15:3 and --rew=10:0", DumbInit, []string{"--rew", "15:3", "--rew=10:0", "--r", "12:0", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.Rewrite[syscall.SIGTERM], o.Rewrite[syscall.SIGUSR1], o.Rewrite[syscall.SIGUSR2] = syscall.SIGQUIT, 0, 0
			return o
		}},
		{"dumb-init --verb", DumbInit, []string{"--verb", "x"}, env(), Run, func() opts.Options { o := dumbDefaults(); o.Verbose = 2; return o }},
		{"dumb-init --vers", DumbInit, []string{"--vers"}, env(), Version, nil},
		{"dumb-init --he", DumbInit, []string{"--he"}, env(), Help, nil},
		{"dumb-init --h", DumbInit, []string{"--h", "x"}, env(), Help, nil},
		{"dumb-init -cv grouped", DumbInit, []string{"-cv", "x"}, env(), Run, func() opts.Options {
			o := dumbDefaults()
			o.SingleChild, o.Forward, o.Rewrite, o.Verbose = true, opts.ForwardChild, nil, 2
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(tt.face, tt.args, tt.env)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if inv.Action != tt.action {
				t.Fatalf("action = %v, want %v", inv.Action, tt.action)
			}
			if tt.want == nil {
				return
			}
			if want := tt.want(); !reflect.DeepEqual(inv.Options, want) {
				t.Errorf("options:\n got %+v\nwant %+v", inv.Options, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		face Face
		args []string
		env  func(string) (string, bool)
		want string // in the message
	}{
		{"tini unknown flag", Tini, []string{"-x", "y"}, env(), "unknown option -x"},
		{"tini long flag", Tini, []string{"--help"}, env(), "unknown option -"},
		{"tini no program", Tini, nil, env(), "no program given"},
		{"tini only flags", Tini, []string{"-s", "--"}, env(), "no program given"},
		{"tini -e missing", Tini, []string{"-e"}, env(), "option -e needs a value"},
		{"tini -e not a number", Tini, []string{"-e", "abc", "x"}, env(), `invalid -e "abc": want an exit code 0-255`},
		{"tini -e 256", Tini, []string{"-e", "256", "x"}, env(), `invalid -e "256"`},
		{"tini -e -1", Tini, []string{"-e", "-1", "x"}, env(), `invalid -e "-1"`},
		{"tini -p missing", Tini, []string{"-p"}, env(), "option -p needs a value"},
		{"tini -p unknown", Tini, []string{"-p", "SIGFOO", "x"}, env(), `invalid -p "SIGFOO": unknown signal`},
		{"tini -p 0", Tini, []string{"-p", "0", "x"}, env(), `invalid -p "0"`},
		{"TINI_VERBOSITY junk", Tini, []string{"x"}, env("TINI_VERBOSITY", "loud"), `invalid TINI_VERBOSITY="loud"`},
		{"TEND_GRACE junk under tini", Tini, []string{"x"}, env("TEND_GRACE", "ten"), `invalid TEND_GRACE="ten"`},
		{"dumb-init unknown flag", DumbInit, []string{"-x", "y"}, env(), "unknown option -x"},
		{"dumb-init unknown long", DumbInit, []string{"--foo", "y"}, env(), "unknown option --foo"},
		{"dumb-init --verbose=1", DumbInit, []string{"--verbose=1", "y"}, env(), "option --verbose takes no value"},
		{"dumb-init --single=1", DumbInit, []string{"--single=1", "y"}, env(), "option --single-child takes no value"},
		{"dumb-init --ver ambiguous", DumbInit, []string{"--ver", "y"}, env(), "option --ver is ambiguous: --verbose or --version"},
		{"dumb-init --v ambiguous", DumbInit, []string{"--v", "y"}, env(), "option --v is ambiguous"},
		{"dumb-init --= ambiguous", DumbInit, []string{"--=x", "y"}, env(), "is ambiguous"},
		{"dumb-init --rew missing", DumbInit, []string{"--rew"}, env(), "option --rewrite needs a value"},
		{"dumb-init --single-childx", DumbInit, []string{"--single-childx", "y"}, env(), "unknown option --single-childx"},
		{"dumb-init no program", DumbInit, nil, env(), "no program given"},
		{"dumb-init -c alone", DumbInit, []string{"-c"}, env(), "no program given"},
		{"dumb-init -r missing", DumbInit, []string{"-r"}, env(), "option -r needs a value"},
		{"dumb-init --rewrite missing", DumbInit, []string{"--rewrite"}, env(), "option --rewrite needs a value"},
		{"dumb-init -r no colon", DumbInit, []string{"-r", "15", "x"}, env(), `invalid --rewrite "15"`},
		{"dumb-init -r out of range", DumbInit, []string{"-r", "15:99", "x"}, env(), "out of range"},
		{"dumb-init -r from 0", DumbInit, []string{"-r", "0:15", "x"}, env(), "out of range"},
		{"dumb-init -r SIGKILL", DumbInit, []string{"-r", "9:15", "x"}, env(), "SIGKILL is never forwarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.face, tt.args, tt.env)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			var stderr bytes.Buffer
			if code := Fail(tt.face, err, "v", &stderr); code != CodeUsage {
				t.Errorf("Fail = %d, want the peers' %d", code, CodeUsage)
			}
			if !strings.HasPrefix(stderr.String(), tt.face.String()+" (tend): ") {
				t.Errorf("stderr = %q", stderr.String())
			}
		})
	}
}

// The answers go where the peer writes them: tini to stdout, dumb-init to
// stderr; both exit 0.
func TestAnswerStreams(t *testing.T) {
	for _, tt := range []struct {
		face     Face
		action   Action
		toStderr bool
		want     string
	}{
		{Tini, Help, false, "Usage: tini"},
		{Tini, Version, false, "tend v1 (standing in for tini)\n"},
		{Tini, License, false, "licence"},
		{DumbInit, Help, true, "Usage: dumb-init"},
		{DumbInit, Version, true, "tend v1 (standing in for dumb-init)\n"},
	} {
		var out, errb bytes.Buffer
		if code := Answer(Invocation{Face: tt.face, Action: tt.action}, "v1", &out, &errb); code != 0 {
			t.Errorf("%v %v: code %d", tt.face, tt.action, code)
		}
		got, other := out.String(), errb.String()
		if tt.toStderr {
			got, other = other, got
		}
		if !strings.Contains(got, tt.want) || other != "" {
			t.Errorf("%v %v: on its stream %q, on the other %q", tt.face, tt.action, got, other)
		}
	}
}

// StartError: as dumb-init, the program and the C library's text for the
// error, exit 2; other faces keep tend's own report.
func TestStartError(t *testing.T) {
	for _, tt := range []struct {
		face Face
		err  error
		line string
		code int
		ok   bool
	}{
		{DumbInit, &spawn.Error{Name: "nope", Err: syscall.ENOENT, Code: spawn.CodeNotFound}, "[dumb-init] nope: No such file or directory\n", 2, true},
		{DumbInit, &spawn.Error{Name: "/etc/passwd", Err: syscall.EACCES, Code: spawn.CodeNotExecutable}, "[dumb-init] /etc/passwd: Permission denied\n", 2, true},
		{DumbInit, &spawn.Error{Name: "./a.out", Err: fmt.Errorf("exec: %w", syscall.ENOEXEC), Code: spawn.CodeNotExecutable}, "[dumb-init] ./a.out: Exec format error\n", 2, true},
		{DumbInit, &spawn.Error{Name: "x", Err: syscall.E2BIG, Code: spawn.CodeOther}, "[dumb-init] x: Argument list too long\n", 2, true},
		{Tini, &spawn.Error{Name: "nope", Err: syscall.ENOENT, Code: spawn.CodeNotFound}, "", 0, false},
		{Tend, &spawn.Error{Name: "nope", Err: syscall.ENOENT, Code: spawn.CodeNotFound}, "", 0, false},
	} {
		line, code, ok := StartError(tt.face, tt.err)
		if line != tt.line || code != tt.code || ok != tt.ok {
			t.Errorf("StartError(%v, %v) = %q, %d, %v; want %q, %d, %v", tt.face, tt.err, line, code, ok, tt.line, tt.code, tt.ok)
		}
	}
}
