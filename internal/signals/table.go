package signals

import (
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Catch is whether and when tend installs its handler for a signal.
type Catch int

// How tend catches a signal.
const (
	// Never: tend has no handler. The kernel does not let it (SIGKILL,
	// SIGSTOP), the reaper owns it (SIGCHLD) or the Go runtime does
	// (SIGURG, Reserved).
	Never Catch = iota
	// Early: registered before the first child starts (see Caught).
	Early
	// Late: registered while the first children exec (see Caught).
	Late
	// StopChannel: registered before the first child starts, on a channel
	// of its own, so that a burst of other signals never crowds out the
	// one that starts the shutdown.
	StopChannel
)

func (c Catch) String() string {
	return [...]string{"never caught", "caught early", "caught late", "caught early, own channel"}[c]
}

// Disposition is what tend does with one signal it receives. The table of
// them (Of, Table) is the only place that decides it: the supervisor asks.
type Disposition struct {
	Signal syscall.Signal
	Catch  Catch
	// Forward: sent on, after --rewrite, to the main process group (the
	// main alone with --forward child), or without a main to every
	// running service's group.
	Forward bool
	// Shutdown: starts tend's shutdown; the main gets it (rewritten) as
	// its stop signal.
	Shutdown bool
	// Reload: re-reads the configuration files when tend runs some (-c,
	// -f, --crontab) instead of forwarding; without files it is forwarded.
	Reload bool
	// JobStop: with job control (the dumb-init face), once it is
	// forwarded tend stops itself with SIGSTOP, so that the shell that
	// started tend sees the job stop.
	JobStop bool
	// Why says why, in a few words.
	Why string
}

// Of is the disposition of sig; a number outside 1-Max is not caught.
func Of(sig syscall.Signal) Disposition {
	if sig < 1 || sig > Max {
		return Disposition{Signal: sig, Why: "not a signal"}
	}
	return table[sig]
}

// Table lists the disposition of every signal, 1 to Max.
func Table() []Disposition { return slices.Clone(table[1:]) }

// early are the signals (other than the stop signals) registered before
// the first child starts; see Caught for why each.
var early = []syscall.Signal{
	unix.SIGHUP, unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS,
	unix.SIGFPE, unix.SIGSEGV, unix.SIGPIPE, unix.SIGSTKFLT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGSYS,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

var table = func() [Max + 1]Disposition {
	var t [Max + 1]Disposition
	for sig := syscall.Signal(1); sig <= Max; sig++ {
		d := Disposition{Signal: sig, Catch: Late, Forward: true, Why: "for the app; registered while the app execs, so one sent in tend's first millisecond is lost"}
		if slices.Contains(early, sig) {
			d.Catch, d.Why = Early, "for the app; caught before it starts, as the Go runtime's default would kill tend"
		}
		switch sig {
		case unix.SIGKILL, unix.SIGSTOP:
			d = Disposition{Signal: sig, Why: "cannot be caught"}
		case unix.SIGCHLD:
			d = Disposition{Signal: sig, Why: "the reaper's: tend reaps every child and orphan"}
		case unix.SIGURG:
			d = Disposition{Signal: sig, Why: "the Go runtime's preemption signal"}
		case unix.SIGTERM, unix.SIGINT:
			d.Catch, d.Shutdown, d.Why = StopChannel, true, "the stop signals: forwarded to the main as its stop signal"
		case unix.SIGHUP:
			d.Reload, d.Why = true, "with configuration files (-c, -f, --crontab) re-reads them; without, forwarded"
		case unix.SIGPIPE:
			d.Forward, d.Why = false, "raised in tend by its own write to a broken stdout: the app must not die of tend's output"
		case unix.SIGPROF:
			d.Forward, d.Why = false, "the Go runtime hands every SIGPROF to its CPU profiler; tend never sees it"
		case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			d.JobStop, d.Why = true, "for the app; caught before it starts, as the Go runtime's default would stop tend"
		case unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH:
			d.Why = "commonly sent to the app: caught before it starts, none lost"
		}
		if slices.Contains(Reserved, sig) {
			d = Disposition{Signal: sig, Why: "reserved by the Go runtime: no Go program catches it (as PID 1 the kernel drops it; otherwise tend sets it to ignored, which its children inherit)"}
		}
		t[sig] = d
	}
	return t
}()

// Render writes the table as the package documentation shows it: one line
// per signal, or per run of consecutive signals treated alike, "NAME:
// what tend does. Why.", in the manner of s6's signal lists.
func Render() string {
	var b strings.Builder
	rows := Table()
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && alike(rows[i], rows[j]) && !named(rows[j].Signal) && !named(rows[i].Signal) {
			j++
		}
		who := Name(rows[i].Signal)
		if j-i > 1 {
			who = "signals " + strconv.Itoa(int(rows[i].Signal)) + "-" + strconv.Itoa(int(rows[j-1].Signal))
		} else if !named(rows[i].Signal) {
			who = "signal " + strconv.Itoa(int(rows[i].Signal))
		}
		b.WriteString(who + ": " + rows[i].does() + ". " + upper(rows[i].Why) + ".\n")
		i = j
	}
	return b.String()
}

// named reports whether sig has a name of its own (1-31).
func named(sig syscall.Signal) bool { return unix.SignalName(sig) != "" && sig < 32 }

func alike(a, b Disposition) bool {
	a.Signal, b.Signal = 0, 0
	return a == b
}

// does says what tend does with the signal.
func (d Disposition) does() string {
	var parts []string
	switch {
	case d.Catch == Never:
		return "never caught, never forwarded"
	case d.Shutdown:
		parts = append(parts, "starts the shutdown")
	case d.Reload:
		parts = append(parts, "reloads")
	}
	if d.Forward {
		parts = append(parts, "forwarded")
	} else {
		parts = append(parts, "not forwarded")
	}
	if d.JobStop {
		parts = append(parts, "then tend stops itself (job control)")
	}
	parts = append(parts, d.Catch.String())
	return strings.Join(parts, ", ")
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
