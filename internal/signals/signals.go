package signals

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Max is the highest signal number on Linux (SIGRTMAX).
const Max = 64

// Parse turns "TERM", "SIGTERM", "term" or "15" into a signal. Zero is
// accepted only when allowZero is set (it means "drop" in a rewrite).
func Parse(s string, allowZero bool) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		if (n == 0 && allowZero) || (n >= 1 && n <= Max) {
			return syscall.Signal(n), nil
		}
		return 0, fmt.Errorf("signal number %d out of range 1-%d", n, Max)
	}
	u := strings.ToUpper(t)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want a name such as TERM or SIGTERM, or a number 1-%d)", s, Max)
}

// Name returns "SIGTERM" for 15, "SIGRT5"-style names unknown to x/sys as "signal N".
func Name(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// Forwardable reports whether tend forwards sig (after --rewrite): the
// table's Forward.
func Forwardable(sig syscall.Signal) bool { return Of(sig).Forward }

// IsShutdown reports whether sig starts tend's shutdown: the table's
// Shutdown.
func IsShutdown(sig syscall.Signal) bool { return Of(sig).Shutdown }

// NeedsCont reports whether a process sent sig to stop it should also get
// SIGCONT right after, if it is stopped: a stopped process acts on a
// pending signal only once it runs again (a running one needs nothing and
// gets nothing more; the caller checks /proc). Not for the signals that
// stop a process (SIGCONT would undo them), nor for SIGCONT and SIGKILL
// themselves.
func NeedsCont(sig syscall.Signal) bool {
	switch sig {
	case 0, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT, unix.SIGKILL:
		return false
	}
	return true
}

// Caught lists every signal tend installs a handler for on its common
// channel (the table's Catch), in number order, split in two. Early are
// registered before the first child starts:
//   - those whose Go runtime default is fatal or stops tend (die: HUP;
//     crash: QUIT, ABRT, STKFLT, SYS and the fault signals when sent with
//     kill; SIGPIPE on a broken stdout; stop: TSTP, TTIN, TTOU). Every
//     signal not in this list is ignored by the runtime until registered
//     (measured: a Go program survives each of them, and dies of SIGSTKFLT);
//     32 and 34 cannot be caught at all (see Reserved);
//   - those operators commonly send an app (USR1, USR2, WINCH: reopen logs,
//     reload, graceful stop). The runtime drops such a signal until it is
//     registered, and registering after the fork left a window: under load
//     the registration trailed the child's start by over a millisecond and
//     a SIGUSR1 sent to a child that was already up was lost
//     (TestSignalBurst).
//
// Late are the rest (ALRM, the real-time signals, ...), which the runtime
// also ignores until they are caught. Registering each costs a round trip
// to the runtime's signal-mask thread (~25µs, measured; all of them before
// the fork made `tend -- /bin/true` 1 ms slower), so they are registered
// while the child execs; one that arrives in that first millisecond is not
// forwarded.
//
// SIGTERM and SIGINT are in neither list: they go on their own channel so
// that a burst of other signals can never push out the one that starts
// shutdown (Stops).
func Caught() (early, late []os.Signal) {
	for _, d := range Table() {
		switch d.Catch {
		case Early:
			early = append(early, d.Signal)
		case Late:
			late = append(late, d.Signal)
		}
	}
	return early, late
}

// Stops lists the signals tend registers on a channel of their own, before
// the first child starts (the table's Catch StopChannel: SIGINT, SIGTERM),
// in number order.
func Stops() []os.Signal {
	var out []os.Signal
	for _, d := range Table() {
		if d.Catch == StopChannel {
			out = append(out, d.Signal)
		}
	}
	return out
}

// Rewrite maps a received signal to the one forwarded. A mapping to 0 drops
// the signal. Signals absent from the map are forwarded unchanged.
type Rewrite map[syscall.Signal]syscall.Signal

// Apply returns the signal to forward for sig, or 0 to drop it.
func (r Rewrite) Apply(sig syscall.Signal) syscall.Signal {
	if to, ok := r[sig]; ok {
		return to
	}
	return sig
}

// ParsePair parses "FROM:TO" (names or numbers). TO may be 0 ("drop").
// FROM must be a signal tend catches (Catch != Never); one it catches but
// does not forward (SIGPIPE, SIGPROF) is accepted, as dumb-init's command
// lines may name any signal 1-31, and the rewrite has no effect.
func ParsePair(s string) (from, to syscall.Signal, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not FROM:TO (e.g. TERM:QUIT, or USR1:0 to drop)", s)
	}
	if from, err = Parse(a, false); err != nil {
		return 0, 0, err
	}
	if Of(from).Catch == Never {
		return 0, 0, fmt.Errorf("%s is never forwarded, so it cannot be rewritten", Name(from))
	}
	if to, err = Parse(b, true); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

// Reserved are the signals the Go runtime keeps for itself on Linux (32
// and 34, for glibc and musl's thread machinery): signal.Notify cannot
// catch them, so they are never forwarded.
var Reserved = []syscall.Signal{32, 34}

// kernelSigaction is the kernel's struct kernel_sigaction { handler;
// flags; restorer; mask }, as rt_sigaction(2) takes it with an 8-byte mask.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// IgnoreReserved sets the Reserved signals to SIG_IGN, so that they cannot
// kill tend. Needed only when tend is not PID 1: the kernel already drops
// signals PID 1 has no handler for. Children inherit the ignored
// disposition for these two signals (exec keeps SIG_IGN).
func IgnoreReserved() error {
	act := kernelSigaction{handler: 1} // SIG_IGN
	for _, sig := range Reserved {
		_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
		if errno != 0 {
			return errno
		}
	}
	return nil
}

// InheritedIgnored lists the signals whose disposition is SIG_IGN right
// now. Called before tend installs its handlers, these are the signals tend
// was started with ignored that the Go runtime left as they were: SIGHUP
// and SIGINT (the runtime keeps an inherited SIG_IGN for them), SIGCONT,
// SIGTSTP, SIGTTIN, SIGTTOU (the runtime does not touch them until they
// are caught). For every other signal the runtime installs its own handler
// at start-up and keeps the inherited disposition where no Go API can read
// it, so an ignored SIGUSR1 or SIGTERM, say, cannot be handed on.
func InheritedIgnored() []syscall.Signal {
	var out []syscall.Signal
	for sig := syscall.Signal(1); sig <= Max; sig++ {
		if sig == unix.SIGKILL || sig == unix.SIGSTOP || slices.Contains(Reserved, sig) {
			continue
		}
		var old kernelSigaction
		_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if errno == 0 && old.handler == 1 { // SIG_IGN
			out = append(out, sig)
		}
	}
	return out
}
