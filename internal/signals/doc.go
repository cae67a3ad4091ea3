// Package signals owns what happens to each signal tend receives: one
// table (Of, Table) says, per signal, whether tend catches it and when,
// whether it is forwarded, whether it starts the shutdown or reloads, and
// why. The supervisor (internal/supervise) asks the table and decides
// nothing about a signal itself; it only routes: the targets of a forward
// (--forward, the main's group or every service's) and the stop signals'
// own channel. The package also parses signal names and --rewrite pairs
// and reads the dispositions tend inherited.
//
// # Signals
//
// tend reacts to the signals it receives as follows (Render prints this
// list from the table; a test holds the two equal, and the README's list
// of signals never forwarded to the table). "Forwarded" is after
// --rewrite; a signal rewritten to 0 is dropped, and a stop signal
// rewritten to 0 still starts the shutdown.
//
//	SIGHUP: reloads, forwarded, caught early. With configuration files (-c, -f, --crontab) re-reads them; without, forwarded.
//	SIGINT: starts the shutdown, forwarded, caught early, own channel. The stop signals: forwarded to the main as its stop signal.
//	SIGQUIT: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGILL: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGTRAP: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGABRT: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGBUS: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGFPE: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGKILL: never caught, never forwarded. Cannot be caught.
//	SIGUSR1: forwarded, caught early. Commonly sent to the app: caught before it starts, none lost.
//	SIGSEGV: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGUSR2: forwarded, caught early. Commonly sent to the app: caught before it starts, none lost.
//	SIGPIPE: not forwarded, caught early. Raised in tend by its own write to a broken stdout: the app must not die of tend's output.
//	SIGALRM: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGTERM: starts the shutdown, forwarded, caught early, own channel. The stop signals: forwarded to the main as its stop signal.
//	SIGSTKFLT: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	SIGCHLD: never caught, never forwarded. The reaper's: tend reaps every child and orphan.
//	SIGCONT: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGSTOP: never caught, never forwarded. Cannot be caught.
//	SIGTSTP: forwarded, then tend stops itself (job control), caught early. For the app; caught before it starts, as the Go runtime's default would stop tend.
//	SIGTTIN: forwarded, then tend stops itself (job control), caught early. For the app; caught before it starts, as the Go runtime's default would stop tend.
//	SIGTTOU: forwarded, then tend stops itself (job control), caught early. For the app; caught before it starts, as the Go runtime's default would stop tend.
//	SIGURG: never caught, never forwarded. The Go runtime's preemption signal.
//	SIGXCPU: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGXFSZ: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGVTALRM: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGPROF: not forwarded, caught late. The Go runtime hands every SIGPROF to its CPU profiler; tend never sees it.
//	SIGWINCH: forwarded, caught early. Commonly sent to the app: caught before it starts, none lost.
//	SIGIO: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGPWR: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	SIGSYS: forwarded, caught early. For the app; caught before it starts, as the Go runtime's default would kill tend.
//	signal 32: never caught, never forwarded. Reserved by the Go runtime: no Go program catches it (as PID 1 the kernel drops it; otherwise tend sets it to ignored, which its children inherit).
//	signal 33: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//	signal 34: never caught, never forwarded. Reserved by the Go runtime: no Go program catches it (as PID 1 the kernel drops it; otherwise tend sets it to ignored, which its children inherit).
//	signals 35-64: forwarded, caught late. For the app; registered while the app execs, so one sent in tend's first millisecond is lost.
//
// "Then tend stops itself" applies with job control only (the dumb-init
// face); as PID 1 the kernel drops the SIGSTOP. The dumb-init face, after
// handing its terminal over, also drops the first SIGHUP and SIGCONT (the
// kernel's, for the hand-over; internal/supervise's terminal.go).
package signals
