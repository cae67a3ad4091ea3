package signals

import (
	"os"
	"os/signal"
	"slices"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in        string
		allowZero bool
		want      syscall.Signal
		err       string
	}{
		{"TERM", false, syscall.SIGTERM, ""},
		{"sigquit", false, syscall.SIGQUIT, ""},
		{"SIGUSR1", false, syscall.SIGUSR1, ""},
		{"15", false, syscall.SIGTERM, ""},
		{"34", false, syscall.Signal(34), ""},
		{"0", true, 0, ""},
		{"0", false, 0, "signal number 0 out of range 1-64"},
		{"65", false, 0, "signal number 65 out of range 1-64"},
		{"NOPE", false, 0, `unknown signal "NOPE" (want a name such as TERM or SIGTERM, or a number 1-64)`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.allowZero)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Parse(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestCaught(t *testing.T) {
	caught := map[syscall.Signal]bool{}
	early, late := Caught()
	for _, s := range append(early, late...) {
		caught[s.(syscall.Signal)] = true
	}
	for _, s := range early {
		if s == syscall.Signal(40) || s == syscall.SIGALRM {
			t.Errorf("%v is harmless by default and rarely sent: it should be registered late", s)
		}
	}
	// Fatal to or stopping an unprepared Go program, or commonly sent.
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP,
		syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGPIPE, syscall.SIGSTKFLT,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGSYS,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH} {
		if !slices.Contains(early, os.Signal(s)) {
			t.Errorf("%v must be registered before the first child starts", s)
		}
	}
	// 32 and 34: no Go program can catch them (Reserved).
	for _, s := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGCHLD, syscall.SIGURG, syscall.SIGTERM, syscall.SIGINT, 32, 34} {
		if caught[s] {
			t.Errorf("%v must not be in Caught()", s)
		}
	}
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGWINCH, syscall.SIGQUIT, syscall.SIGPIPE, syscall.Signal(64)} {
		if !caught[s] {
			t.Errorf("%v missing from Caught()", s)
		}
	}
	if len(caught) != 64-8 {
		t.Errorf("Caught() has %d signals, want %d", len(caught), 64-8)
	}
}

func TestRewrite(t *testing.T) {
	r := Rewrite{syscall.SIGTERM: syscall.SIGQUIT, syscall.SIGUSR1: 0}
	for in, want := range map[syscall.Signal]syscall.Signal{syscall.SIGTERM: syscall.SIGQUIT, syscall.SIGUSR1: 0, syscall.SIGHUP: syscall.SIGHUP} {
		if got := r.Apply(in); got != want {
			t.Errorf("Apply(%v) = %v, want %v", in, got, want)
		}
	}
	var none Rewrite
	if got := none.Apply(syscall.SIGHUP); got != syscall.SIGHUP {
		t.Errorf("nil Rewrite changed SIGHUP to %v", got)
	}
}

func TestNeedsCont(t *testing.T) {
	for sig, want := range map[syscall.Signal]bool{
		syscall.SIGTERM: true, syscall.SIGINT: true, syscall.SIGQUIT: true, syscall.SIGUSR1: true, syscall.Signal(37): true,
		0: false, syscall.SIGSTOP: false, syscall.SIGTSTP: false, syscall.SIGTTIN: false, syscall.SIGTTOU: false,
		syscall.SIGCONT: false, syscall.SIGKILL: false,
	} {
		if got := NeedsCont(sig); got != want {
			t.Errorf("NeedsCont(%v) = %v, want %v", sig, got, want)
		}
	}
}

// InheritedIgnored sees the dispositions the runtime leaves alone: here
// set with signal.Ignore, as an inherited SIG_IGN would be.
func TestInheritedIgnored(t *testing.T) {
	if got := InheritedIgnored(); slices.Contains(got, syscall.SIGTTIN) || slices.Contains(got, syscall.SIGHUP) {
		t.Fatalf("before: %v", got)
	}
	signal.Ignore(syscall.SIGTTIN, syscall.SIGHUP)
	defer signal.Reset(syscall.SIGTTIN, syscall.SIGHUP)
	got := InheritedIgnored()
	if !slices.Contains(got, syscall.SIGTTIN) || !slices.Contains(got, syscall.SIGHUP) {
		t.Errorf("after signal.Ignore(TTIN, HUP): %v", got)
	}
	for _, sig := range got {
		if sig == syscall.SIGKILL || sig == syscall.SIGSTOP || slices.Contains(Reserved, sig) {
			t.Errorf("lists %v", sig)
		}
	}
}
