// Package supervise is tend's event loop: the one goroutine that starts
// processes, routes signals, consumes exits from the reaper, runs the
// services' state machines and decides when tend is done and with which
// exit code. Single-command mode is one Main service; a config file adds
// more. There is one engine.
//
// Who owns what: this package decides the services' lives (state machine,
// restart policy, dependencies, readiness, stop order, the exit code) and
// writes their status (internal/status); what happens to each signal is
// internal/signals' table, which the loop asks; a service's definition is
// config.Service, held as is. Follow `docker stop` through shutdown.go:
// from the signal arriving to the exit code, in one file. Every process
// started or signalled and every clock read by the Supervisor goes
// through the system seam (sys.go), as do its listings of the processes
// in /proc (the shutdown's sweep, tend status's usage walk on the asking
// goroutine); the unit tests replace it with a fake. Only FromConfig,
// which builds services before there is a Supervisor, reads the clock
// itself: a job's schedule must fire within 5 years of now, as config
// checked it.
package supervise

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/safe"
	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/spawn"
)

// Config is what the supervisor needs to run.
type Config struct {
	Services  []*Service // in start order preference; dependencies decide
	PreStop   *spawn.Spec
	Grace     time.Duration
	ToChild   bool // forward to the main process only, not its group
	Rewrite   signals.Rewrite
	RemapExit map[int]int
	// PlatformGrace (--grace=platform): a shutdown a signal started arms
	// no grace timer, the sender of the signal owns the deadline (docker
	// stop -t, the kubelet's grace); one tend starts itself (the main
	// exited or failed) still ends at Grace.
	PlatformGrace bool
	// Hold keeps tend running after a failure that would stop the
	// container (the main failing, a critical service failing) until
	// SIGTERM or SIGINT.
	Hold bool
	// Terminal: stdin is tend's controlling terminal; the main service
	// becomes its foreground process group.
	Terminal bool
	// AnyExitStops is the Procfile rule: any process exiting stops all,
	// and the container's exit code is the first one's.
	AnyExitStops bool
	// NotifySocket is tend's own manager's $NOTIFY_SOCKET (podman
	// --sdnotify=container, systemd Type=notify); "" = none. See notify.go.
	NotifySocket string
	// NotifyDir is where the notify services' NOTIFY_SOCKETs are made
	// (a directory per service); "" = a new directory under NotifyParent
	// (or the temporary directory), removed when tend exits.
	NotifyDir string
	// NotifyParent is the directory that new directory is made in: the
	// control socket's ("" = /run/tend).
	NotifyParent string
	Log          *slog.Logger
	Logs         *logs.Mux // receives the output of services that do not inherit
	// Reload, when set, is called on SIGHUP to re-read the configuration,
	// in a goroutine of its own (it reads files: never on the event loop)
	// and within ReloadTimeout; without it SIGHUP is forwarded like any
	// other signal.
	Reload func() (*Reloaded, error)

	// WarnReaped logs a warning for every reaped process that is not a
	// service (tini -w).
	WarnReaped bool
	// SingleChild is dumb-init's single-child mode: the main stays in
	// tend's session and process group (set ToChild too), and once it has
	// exited tend exits without signalling or waiting for anything else;
	// at the grace only the main is killed.
	SingleChild bool
	// JobControl: after forwarding SIGTSTP, SIGTTIN or SIGTTOU, tend stops
	// itself with SIGSTOP, so that the shell that started it sees the job
	// stop (dumb-init). A PID 1 cannot stop itself; the kernel drops it.
	JobControl bool
	// ResetSignals starts the processes with an empty signal mask and
	// default dispositions (dumb-init). Otherwise the processes started at
	// startup keep the signals tend inherited as ignored, as far as the Go
	// runtime left them visible (signals.InheritedIgnored), and the
	// inherited mask minus what the runtime unblocks.
	ResetSignals bool
	// ChdirRoot moves tend's working directory to "/" once the services of
	// the startup were started, so tend keeps no directory busy (dumb-init).
	ChdirRoot bool
	// MainStartError, when set, reports a main that could not be started
	// in the words of the program tend stands in for and returns the exit
	// code (dumb-init: "[dumb-init] PROGRAM: No such file or directory",
	// 2). Without it tend logs its own error and exits 127, 126 or 125 as
	// a shell does.
	MainStartError func(err error) int
	// HandTerminal is dumb-init's terminal hand-over, for when tend leads
	// the session of the terminal on its stdin: tend detaches from the
	// terminal and the main takes it in a session of its own (terminal.go).
	HandTerminal bool
}

// Reloaded is a re-read configuration.
type Reloaded struct {
	Services []*Service
	Grace    time.Duration
}

// CodeInternal is the exit code after an internal error (a recovered
// panic) when no main process decides it (EX_SOFTWARE).
const CodeInternal = 70

// InjectFault, when set (by tests only), is called as the event loop
// handles each signal, with the signal's name; a panic in it exercises the
// recovery path.
var InjectFault func(event string)

// Stats are counters for metrics and tests.
type Stats struct {
	OrphansReaped    uint64
	SignalsForwarded uint64
}

// Supervisor runs services as PID 1 or as a subreaper.
type Supervisor struct {
	cfg  Config
	log  *slog.Logger
	pid1 bool
	self int

	events chan reap.Batch
	termCh chan os.Signal // SIGTERM, SIGINT: never crowded out by others
	sigCh  chan os.Signal // every other caught signal
	timers chan timerEvent
	probes chan probeResult
	reqs   chan func()
	faults chan string   // where a recovered panic happened
	done   chan struct{} // closed when Run returns

	order     []*svc
	byName    map[string]*svc
	byPID     map[int]*svc
	probePIDs map[int]probeRef
	main      *svc
	mainPGID  int
	mainCode  int
	mainDone  bool
	// mainStartFailed: the main could not be started (127, 126, 125).
	mainStartFailed bool
	exitCode        int // the container's code when there is no main
	exitSet         bool
	null            *os.File

	startupDone bool
	childless   bool // the reaper said ECHILD after the last exit, nothing started since
	stats       Stats
	rl          reloader // SIGHUP reloads (reload.go)
	oom         oomState // OOM kills and limits (oom.go, cgroup.go)

	// shutdown is the shutdown's state (shutdown.go).
	shutdown
	// startOrder is what decides which service starts when (startorder.go).
	startOrder
	// rollouts: replicas and start-first replacements (update.go).
	rollouts

	sys system // processes and clock; a fake in the unit tests
	// stoppedNow: the stopped processes, read from /proc once per turn
	// of the loop when a stop signal needs to know (cont.go).
	stoppedNow *stoppedSet
	// handedTerminal: tend detached from its terminal for the main to
	// take it; ignoreOnce: the hand-over's signals still to drop
	// (terminal.go).
	handedTerminal bool
	ignoreOnce     map[syscall.Signal]bool
	guard          spawnGuard // job control during a fork–exec (jobcontrol.go)
	lastStatusUp   string     // the last STATUS= sent to tend's manager (notify.go)
	// usage: the groups the services led, for per-service usage (usage.go).
	usage usageState
	// notifyDir is the services' notify sockets' directory, made at the
	// first need (notifyservice.go); notifyDirOwned: tend made it and
	// removes it.
	notifyDir      string
	notifyDirOwned bool
	nsSeq          int                  // names each notify socket's directory
	pools          map[string]*sockPool // listen sockets by service (listen.go)
	// inline: call runs its function at once, on the caller's goroutine
	// (the unit tests drive the loop's handlers themselves).
	inline bool
}

// New prepares a supervisor. Call Run to start it.
func New(cfg Config) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		cfg: cfg, log: cfg.Log, self: os.Getpid(), sys: realSystem{},
		byName: map[string]*svc{}, byPID: map[int]*svc{}, probePIDs: map[int]probeRef{},
		shutdown: shutdown{signalledPGIDs: map[int]bool{}, timeouts: make(chan shutdownTimeout, 2)},
		timers:   make(chan timerEvent, 16),
		probes:   make(chan probeResult, 16),
		reqs:     make(chan func()),
		faults:   make(chan string, 8),
		done:     make(chan struct{}),
	}
	s.guard.stopSelf = s.stopSelfInSpawn
	for _, def := range cfg.Services {
		s.add(def)
	}
	return s
}

func (s *Supervisor) add(def *Service) *svc {
	v := &svc{Service: def, state: Starting, since: s.sys.now(), clock: func() time.Time { return s.sys.now() }, seq: s.seq}
	s.seq++
	v.onState = func(from State) { s.stateChanged(v, from) }
	s.order = append(s.order, v)
	s.indexAfter(v)
	s.candidate(v)
	s.byName[def.Name] = v
	s.addToGroup(v)
	if def.Main {
		s.main = v
	}
	s.openEarly(v)
	return v
}

// GraceEnd returns when the grace period of the shutdown ends (or ended):
// its start plus the grace. It is the zero time when no shutdown started,
// or when the shutdown had no grace of tend's own (PlatformGrace).
// Call it only after Run returned; tend drains the services' output until
// then.
func (s *Supervisor) GraceEnd() time.Time { return s.graceEnd }

// Run starts the services and supervises until tend should exit; it
// returns tend's exit code.
func (s *Supervisor) Run() int {
	defer close(s.done)
	defer s.closeZD()
	safe.SetHandler(s.onPanic)
	reserveThreads()
	pid1, err := reap.BecomeSubreaper()
	if err != nil {
		s.log.Warn("cannot become a child subreaper; orphans will go to PID 1", "err", err)
	}
	s.pid1 = pid1
	if !pid1 {
		if err := signals.IgnoreReserved(); err != nil {
			s.log.Warn("cannot ignore the Go runtime's reserved signals", "err", err)
		}
	}
	// Handlers are installed before any child starts, so a signal that
	// arrives meanwhile is queued, not lost and not fatal to tend.
	s.termCh = make(chan os.Signal, 16)
	s.sigCh = make(chan os.Signal, 128)
	// Signals tend was started with ignored, and which it can still see as
	// ignored, stay so until the first processes are started, so that
	// those inherit them; one that arrives meanwhile is ignored, as whoever
	// started tend asked.
	var kept []syscall.Signal
	early, late := signals.Caught()
	if !s.cfg.ResetSignals {
		kept = signals.InheritedIgnored()
	} else {
		// A late signal (SIGCONT) inherited as ignored is caught before the
		// first fork too, so that the children get its default action.
		for _, sig := range signals.InheritedIgnored() {
			if slices.Contains(late, os.Signal(sig)) {
				early = append(early, sig)
			}
		}
	}
	if s.cfg.HandTerminal {
		// The hand-over's SIGCONT must reach the loop (to be dropped),
		// not the runtime's default, which would lose it.
		early = append(early, unix.SIGCONT)
	}
	notify(s.termCh, without(signals.Stops(), kept))
	notify(s.sigCh, without(early, kept))
	if s.cfg.JobControl {
		defer s.watchJobStops(jobStops(without(early, kept)))()
	}
	if s.cfg.HandTerminal {
		s.handOverTerminal()
	}
	s.initOOM()
	defer s.removeCgroups()
	if !s.setupLimits() {
		return CodeLimits
	}
	s.events = make(chan reap.Batch, 64)
	s.childless = reap.Start(s.events)

	s.schedule()
	for _, sig := range kept {
		if signals.IsShutdown(sig) {
			signal.Notify(s.termCh, sig)
		} else if slices.Contains(early, os.Signal(sig)) {
			signal.Notify(s.sigCh, sig)
		}
	}
	if s.cfg.ChdirRoot {
		if err := os.Chdir("/"); err != nil {
			s.log.Warn("cannot change tend's working directory to /", "err", err)
		}
	}
	if s.mainStartFailed && !s.anyAlive() {
		return s.mainCode // the main could not even be started: nothing to supervise
	}
	// The signals the runtime ignores until caught are registered while
	// the children exec; one that arrives before then is not forwarded,
	// as it would most likely kill a child not yet set up to handle it.
	go signal.Notify(s.sigCh, late...)
	return s.loop()
}

// notify is signal.Notify for a list that may be empty (signal.Notify
// with no signals would relay every signal).
func notify(c chan<- os.Signal, sigs []os.Signal) {
	if len(sigs) > 0 {
		signal.Notify(c, sigs...)
	}
}

// without returns sigs minus those in drop.
func without(sigs []os.Signal, drop []syscall.Signal) []os.Signal {
	if len(drop) == 0 {
		return sigs
	}
	out := make([]os.Signal, 0, len(sigs))
	for _, sig := range sigs {
		if !slices.Contains(drop, sig.(syscall.Signal)) {
			out = append(out, sig)
		}
	}
	return out
}

func (s *Supervisor) loop() int {
	for {
		var handle func()
		where := "event loop" // a panic's place: see onFault
		s.newTurn()
		select {
		case sig := <-s.termCh:
			handle = func() { s.onStopSignal(sig.(syscall.Signal)) }
		case sig := <-s.sigCh:
			handle = func() { s.onSignal(sig.(syscall.Signal)) }
		case b := <-s.events:
			handle = func() { s.onBatch(b) }
		case ev := <-s.timers:
			where = serviceWhere(ev.v.Name)
			handle = func() { s.onTimer(ev) }
		case r := <-s.probes:
			where = serviceWhere(r.v.Name)
			handle = func() { s.onProbe(r) }
		case req := <-s.reqs:
			handle = req
		case at := <-s.faults:
			handle = func() { s.onFault(at) }
		case to := <-s.timeouts:
			if to == killWaitOver {
				s.afterKillWait()
				return s.code()
			}
			handle = s.onGraceExpired
		}
		// A panic in a handler is reported (onPanic) and handled on the
		// next turn (onFault: the one service it concerns fails, or an
		// orderly shutdown); the loop itself goes on.
		if safe.Run(where, handle) {
			safe.Run("event loop", s.advance)
		}
		if s.finished() {
			s.log.Info("all processes exited", "code", s.code())
			return s.code()
		}
	}
}

// onBatch handles what one drain of the reaper found.
func (s *Supervisor) onBatch(b reap.Batch) {
	// A drain that ended in ECHILD after these exits means nothing at all
	// is left; a start while handling them clears it again.
	s.childless = b.NoChildren
	s.noteOOM(b) // before byPID forgets the exits' services
	for _, e := range b.Exits {
		switch {
		case e.PID == s.preStopPID:
			s.preStopDone = true
			s.log.Info("pre-stop exited", "pid", e.PID, "code", reap.Code(e.Status))
		case s.byPID[e.PID] != nil:
			// A panic handling one exit concerns that service (onFault);
			// the batch's other exits are still handled.
			v := s.byPID[e.PID]
			safe.Run(serviceWhere(v.Name), func() { s.onServiceExit(v, e.Status) })
		case s.probePIDs[e.PID].v != nil:
			safe.Run(serviceWhere(s.probePIDs[e.PID].v.Name), func() { s.onProbeExit(e.PID, e.Status) })
		default:
			s.stats.OrphansReaped++
			if s.cfg.WarnReaped {
				s.log.Warn("reaped a process that was not the main", "pid", e.PID, "code", reap.Code(e.Status))
			} else {
				s.log.Debug("reaped", "pid", e.PID, "code", reap.Code(e.Status))
			}
		}
	}
}

// onPanic is the safe package's handler for a panic recovered in any of
// tend's goroutines: log it with its stack and queue an orderly shutdown.
func (s *Supervisor) onPanic(where string, v any, stack []byte) {
	s.log.Error(fmt.Sprintf("internal error (panic) in %s: %v; shutting down\n%s", where, v, stack))
	select {
	case s.faults <- where:
	default: // one queued fault is enough to shut down
	}
}

// serviceWhere names the place of a panic that concerns one service only.
func serviceWhere(name string) string { return "service " + name }

// servicePlaces are the prefixes of the places (safe.Go, safe.Run) whose
// panics concern the one service named after them.
var servicePlaces = []string{"service ", "probe ", "ready fd ", "log reader ", "notify "}

// onFault handles a recovered panic (onPanic). One that concerns a single
// service that is neither critical nor the main fails that service alone:
// it is stopped and not restarted (until started again), and the
// container goes on. Any other starts the shutdown with CodeInternal.
func (s *Supervisor) onFault(where string) {
	var v *svc
	for _, p := range servicePlaces {
		if name, ok := strings.CutPrefix(where, p); ok {
			if v = s.byName[name]; v == nil {
				s.log.Warn("internal error concerned a service that is gone (removed by a reload); going on", "service", name)
				return
			}
			break
		}
	}
	if v == nil || v.Critical || v.Main {
		s.containerStop(0, CodeInternal, true, "internal error in "+where)
		return
	}
	if s.phase != running {
		return // the shutdown under way stops it
	}
	s.fail(v, CodeInternal, "internal error in tend (see the panic above); the other services go on")
	s.stop(v, v.StopSignal)
	s.schedule()
}

// onSignal handles every other caught signal as the signals table says
// (signals.Of): a reload (SIGHUP, when there are files to re-read), not
// forwarded (SIGPIPE), or forwarded, and with job control tend then stops
// itself (SIGTSTP, SIGTTIN, SIGTTOU).
func (s *Supervisor) onSignal(sig syscall.Signal) {
	if InjectFault != nil {
		InjectFault(signals.Name(sig))
	}
	if s.ignoredOnce(sig) {
		return
	}
	d := signals.Of(sig)
	switch {
	case d.Reload && s.cfg.Reload != nil:
		s.reload()
		return
	case !d.Forward:
		s.log.Debug("signal not forwarded", "signal", signals.Name(sig), "why", d.Why)
		return
	}
	if s.cfg.JobControl && d.JobStop && s.guard.consume() {
		s.log.Debug("terminal stop signal already acted on during a spawn: not forwarded", "signal", signals.Name(sig))
		return
	}
	s.forward(sig, false)
	if s.cfg.JobControl && d.JobStop {
		s.log.Debug("stopping tend itself after a terminal stop signal", "signal", signals.Name(sig))
		_ = s.sys.kill(s.self, unix.SIGSTOP)
	}
}

// forward sends sig, after rewriting, to the main process group (or the
// main alone with --forward child) or, without a main, to every running
// service's group. With cont (a stop signal) SIGCONT follows it. Whether
// sig is forwarded at all is the signals table's to say (onSignal).
func (s *Supervisor) forward(sig syscall.Signal, cont bool) {
	to := s.cfg.Rewrite.Apply(sig)
	if to == 0 {
		s.log.Debug("dropped signal (rewrite to 0)", "signal", signals.Name(sig))
		return
	}
	var targets []int
	switch {
	case s.main != nil && s.cfg.ToChild:
		if s.main.alive() {
			targets = append(targets, s.main.pid)
		}
	case s.main != nil:
		if s.mainPGID != 0 {
			targets = append(targets, -s.mainPGID)
		}
	default:
		for _, v := range s.order {
			if v.alive() {
				targets = append(targets, v.sigTarget())
			}
			if x := v.shadow; x != nil && x.alive() { // start-first (update.go)
				targets = append(targets, -x.pid)
			}
		}
	}
	for _, t := range targets {
		var err error
		if cont {
			err = s.killCont(t, to)
		} else {
			err = s.sys.kill(t, to)
		}
		s.log.Debug("forwarded", "signal", signals.Name(sig), "as", signals.Name(to), "to", t, "err", err)
		if err == nil {
			s.stats.SignalsForwarded++
		}
	}
}

// anyAlive reports whether any service has a process (byPID holds
// exactly the services' live pids).
func (s *Supervisor) anyAlive() bool {
	return len(s.byPID) > 0
}

// code is the container's exit code: the main's (after remap; what SIGKILL
// gives while it is still being killed), else the failure's, else 0. A
// main that never started (it waited for services that failed, or the
// shutdown began first) was not killed: the code is then the failure's
// (a startup oneshot's, a dependency's), else 128+N for the stop signal N
// (after remap), as if the main had died of it.
func (s *Supervisor) code() int {
	switch {
	case s.main == nil:
		return s.exitCode
	case s.mainDone:
		return s.mainCode
	case !s.main.started.IsZero():
		return 128 + int(unix.SIGKILL)
	case s.exitSet || s.trigger == 0:
		return s.exitCode
	}
	code := 128 + int(s.trigger)
	if to, ok := s.cfg.RemapExit[code]; ok {
		code = to
	}
	return code
}

// reclaimTerminal makes tend's own group the terminal's foreground again
// after the main (which had it) exited, so Ctrl-C reaches tend in --hold.
func (s *Supervisor) reclaimTerminal() {
	if !s.cfg.Terminal {
		return
	}
	// A background process changing the foreground group gets SIGTTOU
	// unless it ignores it; ignore it for the duration of the call.
	signal.Ignore(unix.SIGTTOU)
	err := unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, unix.Getpgrp())
	signal.Notify(s.sigCh, unix.SIGTTOU)
	if err != nil {
		s.log.Debug("cannot take back the terminal", "err", err)
	}
}
