// Package supervise is tend's event loop: the one goroutine that starts
// processes, routes signals, consumes exits from the reaper, runs the
// services' state machines and decides when tend is done and with which
// exit code. Single-command mode is one Main service; a config file adds
// more. There is one engine.
//
// Follow `docker stop` through this file: SIGTERM arrives on termCh →
// onStopSignal → containerStop (pre-stop first, grace timer armed) →
// advance stops services in reverse dependency order, the main with the
// signal tend received → their exits come back from the reaper (onBatch) →
// once no service is left, advance sweeps every other live process once
// with SIGTERM → the reaper reports no children → finished → Run returns
// the exit code. If the grace timer fires first, onGraceExpired SIGKILLs
// what is left.
package supervise

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/proc"
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
}

// Reloaded is a re-read configuration.
type Reloaded struct {
	Services []*Service
	Grace    time.Duration
}

type phase int

const (
	running  phase = iota
	holding        // a failure would stop the container, --hold: keep the scene
	stopping       // shutdown under way, within the grace
	killing        // grace expired, everything SIGKILLed
)

// CodeInternal is the exit code after an internal error (a recovered
// panic) when no main process decides it (EX_SOFTWARE).
const CodeInternal = 70

// InjectFault, when set (by tests only), is called as the event loop
// handles each signal, with the signal's name; a panic in it exercises the
// recovery path.
var InjectFault func(event string)

// killWait bounds how long tend waits for SIGKILLed processes to be reaped
// (a process in uninterruptible sleep may take a while) before exiting.
const killWait = 3 * time.Second

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

	phase          phase
	trigger        syscall.Signal // signal that started shutdown; 0 = a process exit
	startupDone    bool
	preStopPID     int
	preStopDone    bool
	swept          bool
	childless      bool // the reaper said ECHILD after the last exit, nothing started since
	signalledPGIDs map[int]bool

	grace, final *time.Timer
	graceEnd     time.Time // when the grace of the shutdown under way ends
	stats        Stats
	rl           reloader // SIGHUP reloads (reload.go)

	// stopNext: services the shutdown may stop now (stoporder.go);
	// stopOrderWork counts the steps spent deciding that order (a test
	// checks it stays linear in services + edges).
	stopNext      []*svc
	stopOrderWork int

	// Start scheduling (schedule): dirty are the services touched since
	// the last pass, dependents who lists a name in after (rebuilt when
	// scanAll: the services or their definitions changed), unsettled how
	// many have not reached where startup wants them; scheduleWork counts
	// the steps (a test checks it stays linear).
	dirty        []*svc
	dependents   map[string][]*svc
	scanAll      bool
	unsettled    int
	scheduleWork int

	sys system // processes and clock; a fake in the unit tests
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
		signalledPGIDs: map[int]bool{},
		timers:         make(chan timerEvent, 16),
		probes:         make(chan probeResult, 16),
		reqs:           make(chan func()),
		faults:         make(chan string, 8),
		done:           make(chan struct{}),
	}
	for _, def := range cfg.Services {
		s.add(def)
	}
	return s
}

func (s *Supervisor) add(def *Service) *svc {
	v := &svc{Service: def, state: Starting, since: time.Now(), changed: s.stateChanged}
	s.scanAll = true
	s.order = append(s.order, v)
	s.byName[def.Name] = v
	if def.Main {
		s.main = v
	}
	return v
}

// GraceEnd returns when the grace period of the shutdown ends (or ended):
// its start plus the grace. It is the zero time when no shutdown started.
// Call it only after Run returned; tend drains the services' output until
// then.
func (s *Supervisor) GraceEnd() time.Time { return s.graceEnd }

// Run starts the services and supervises until tend should exit; it
// returns tend's exit code.
func (s *Supervisor) Run() int {
	defer close(s.done)
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
	notify(s.termCh, without([]os.Signal{unix.SIGTERM, unix.SIGINT}, kept))
	notify(s.sigCh, without(early, kept))
	s.events = make(chan reap.Batch, 64)
	s.childless = reap.Start(s.events)

	s.schedule()
	for _, sig := range kept {
		if signals.IsShutdown(sig) {
			signal.Notify(s.termCh, sig)
		} else if signals.Forwardable(sig) && slices.Contains(early, os.Signal(sig)) {
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
		var graceC, finalC <-chan time.Time
		if s.grace != nil {
			graceC = s.grace.C
		}
		if s.final != nil {
			finalC = s.final.C
		}
		var handle func()
		where := "event loop" // a panic's place: see onFault
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
		case <-graceC:
			s.grace = nil
			handle = s.onGraceExpired
		case <-finalC:
			s.log.Warn("processes still present after SIGKILL; exiting anyway", "waited", killWait)
			return s.code()
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
var servicePlaces = []string{"service ", "probe ", "ready fd ", "log reader "}

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

// onStopSignal handles SIGTERM and SIGINT sent to tend.
func (s *Supervisor) onStopSignal(sig syscall.Signal) {
	switch s.phase {
	case running, holding:
		s.containerStop(sig, 0, false, "signal "+signals.Name(sig))
	default:
		// A second stop signal is forwarded again; the grace is not
		// extended.
		s.log.Info("stop signal during shutdown; forwarding again", "signal", signals.Name(sig))
		s.forward(sig, true)
	}
}

// onSignal handles every other caught signal: SIGHUP reloads when there
// is a config to reload; the rest is forwarded.
func (s *Supervisor) onSignal(sig syscall.Signal) {
	if InjectFault != nil {
		InjectFault(signals.Name(sig))
	}
	if sig == unix.SIGHUP && s.cfg.Reload != nil {
		s.reload()
		return
	}
	s.forward(sig, false)
	if s.cfg.JobControl && (sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU) {
		s.log.Debug("stopping tend itself after a terminal stop signal", "signal", signals.Name(sig))
		_ = unix.Kill(s.self, unix.SIGSTOP)
	}
}

// forward sends sig, after rewriting, to the main process group (or the
// main alone with --forward child) or, without a main, to every running
// service's group. With cont (a stop signal) SIGCONT follows it.
func (s *Supervisor) forward(sig syscall.Signal, cont bool) {
	if sig == unix.SIGPIPE {
		// Our own write to a closed stdout raises SIGPIPE in tend; passing
		// it on would kill the app for tend's broken output.
		return
	}
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
				targets = append(targets, -v.pid)
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

// containerStop starts the ordered shutdown of everything. trigger is the
// signal that started it (0 for a process exit). When failure is set, code
// is the container's exit code (if no main decides it) and --hold applies.
func (s *Supervisor) containerStop(trigger syscall.Signal, code int, failure bool, why string) {
	if s.phase >= stopping {
		return
	}
	if failure && !s.exitSet {
		s.exitCode, s.exitSet = code, true
	}
	if s.main == nil && s.cfg.AnyExitStops && !s.exitSet {
		s.exitCode, s.exitSet = code, true
	}
	if failure && s.cfg.Hold && s.phase == running {
		s.phase = holding
		s.log.Error("holding (--hold) until SIGTERM or SIGINT", "reason", why, "code", code)
		s.reclaimTerminal()
		return
	}
	s.phase = stopping
	s.planStops()
	s.trigger = trigger
	// "Already signalled" is about this shutdown only: a group signalled
	// by an earlier `tend stop` is long gone, and its number may now be
	// another group's (PID reuse).
	clear(s.signalledPGIDs)
	s.grace = time.NewTimer(s.cfg.Grace)
	s.graceEnd = s.sys.now().Add(s.cfg.Grace)
	if failure && (s.main == nil || s.main.started.IsZero()) {
		// Said at the default level: why the container stops, with which
		// code (a main that ran decides the code, and says why itself).
		s.log.Error("shutting down", "reason", why, "code", s.code(), "grace", s.cfg.Grace)
	} else {
		s.log.Info("shutting down", "reason", why, "grace", s.cfg.Grace)
	}
	s.preStopDone = true
	if s.cfg.PreStop != nil {
		pid, err := s.sys.start(s.cfg.PreStop)
		if err != nil {
			s.log.Error("pre-stop: " + err.Error())
		} else {
			s.preStopPID, s.preStopDone, s.childless = pid, false, false
			s.log.Info("running pre-stop", "pid", pid, "cmd", strings.Join(s.cfg.PreStop.Argv, " "))
		}
	}
}

// advance takes the shutdown as far as it can go now: once the pre-stop is
// done, stop every service nothing depending on which is still alive
// (stopNext, see stoporder.go; the main first, with the signal tend
// received); once no service is left, one SIGTERM to every other process
// still alive.
func (s *Supervisor) advance() {
	if s.phase != stopping || !s.preStopDone {
		return
	}
	for len(s.stopNext) > 0 {
		v := s.stopNext[0]
		s.stopNext = s.stopNext[1:]
		if !v.stopAsked {
			s.stop(v, s.stopSignal(v))
		}
	}
	if !s.swept && !s.anyAlive() {
		s.swept = true
		// No children means no descendants: nothing to sweep. In
		// single-child mode the others are left alone.
		if !s.childless && !s.cfg.SingleChild {
			s.sweep()
		}
	}
}

// stopSignal is the signal that stops v at shutdown: for the main, the one
// tend received (rewritten); SIGTERM when a failure started the shutdown.
func (s *Supervisor) stopSignal(v *svc) syscall.Signal {
	if !v.Main {
		return v.StopSignal
	}
	trigger := s.trigger
	if trigger == 0 {
		trigger = unix.SIGTERM
	}
	return s.cfg.Rewrite.Apply(trigger)
}

// anyAlive reports whether any service has a process (byPID holds
// exactly the services' live pids).
func (s *Supervisor) anyAlive() bool {
	return len(s.byPID) > 0
}

// finished reports whether tend may exit now: the shutdown ran its course
// and the reaper reported no children left after the last exit or start.
func (s *Supervisor) finished() bool {
	switch s.phase {
	case stopping:
		return s.preStopDone && s.swept && (s.childless || s.cfg.SingleChild)
	case killing:
		return !s.anyAlive() && (s.childless || s.cfg.SingleChild)
	}
	return false
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

// sweep sends SIGTERM (and SIGCONT) once to every live process other than
// tend that did not already receive a stop signal through its service's
// process group in this shutdown: the whole namespace when tend is PID 1,
// every descendant otherwise.
func (s *Supervisor) sweep() {
	if s.pid1 && !proc.OwnNamespace() {
		// /proc shows another namespace: we cannot tell who is ours, but
		// kill(-1) from PID 1 reaches exactly our namespace.
		s.log.Info("no /proc for this namespace; sending SIGTERM to all")
		_ = unix.Kill(-1, unix.SIGTERM)
		return
	}
	n := 0
	for _, p := range sweepTargets(s.mine(), s.signalledPGIDs) {
		if s.killCont(p.PID, unix.SIGTERM) == nil {
			n++
		}
	}
	if n > 0 {
		s.log.Info("sent SIGTERM to remaining processes", "count", n)
	}
}

// sweepTargets picks, from the processes left once no service is alive
// (zombies included), the live ones the sweep signals: all but those that
// already got a stop signal through their service's group in this
// shutdown. A group number counts as that service's group only while no
// process has it as its PID: the service's leader has been reaped by now
// (no service is alive), so a process with that PID is a newer one that
// reused the number, and its group is another group, to be swept. (The
// kernel does not reuse a PID while a group of that number has members, so
// members of the old group and a new leader never share it.)
func sweepTargets(procs []proc.Process, signalled map[int]bool) []proc.Process {
	reused := map[int]bool{}
	for _, p := range procs {
		if signalled[p.PID] {
			reused[p.PID] = true
		}
	}
	var out []proc.Process
	for _, p := range procs {
		if p.State == 'Z' || (signalled[p.PGID] && !reused[p.PGID]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// killCont sends sig to target (a pid, or -pgid) and then SIGCONT, as a
// careful init does: a stopped process acts on sig only once it runs again
// (until then it would just wait for the grace's SIGKILL). SIGCONT does not
// follow a signal that itself stops (signals.NeedsCont).
func (s *Supervisor) killCont(target int, sig syscall.Signal) error {
	err := s.sys.kill(target, sig)
	if err == nil && signals.NeedsCont(sig) {
		_ = s.sys.kill(target, unix.SIGCONT)
	}
	return err
}

// others lists live processes tend is responsible for, zombies excluded.
func (s *Supervisor) others() []proc.Process {
	mine := s.mine()
	out := mine[:0]
	for _, p := range mine {
		if p.State != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// mine lists the processes tend is responsible for (zombies included):
// every other process of the namespace as PID 1, its descendants otherwise.
func (s *Supervisor) mine() []proc.Process {
	all, err := s.sys.processes()
	if err != nil {
		s.log.Warn("cannot list processes", "err", err)
		return nil
	}
	if !s.pid1 {
		return proc.Descendants(all, s.self)
	}
	return slices.DeleteFunc(all, func(p proc.Process) bool { return p.PID == s.self })
}

// onGraceExpired SIGKILLs everything left and says what it killed.
func (s *Supervisor) onGraceExpired() {
	s.phase = killing
	s.final = time.NewTimer(killWait)
	var killed []string
	rest := ""
	if s.cfg.SingleChild {
		// Only what tend started is tend's to kill.
		for _, pid := range []int{s.preStopPID, s.mainPID()} {
			if pid == 0 {
				continue
			}
			what := proc.Cmdline(pid) // read first: once killed it is gone
			if unix.Kill(pid, unix.SIGKILL) == nil {
				killed = append(killed, strconv.Itoa(pid)+" ("+what+")")
			}
		}
	} else if s.pid1 && !proc.OwnNamespace() {
		_ = unix.Kill(-1, unix.SIGKILL)
		killed = append(killed, "all")
	} else {
		var all bool
		killed, all = s.killLeft()
		// As PID 1, kill(-1) also reaches what no listing could show (a
		// process whose main thread exited reads as a zombie) and, if
		// processes were still appearing after killPasses listings, the
		// rest of a fork storm at once (uncounted: said so).
		if s.pid1 && unix.Kill(-1, unix.SIGKILL) == nil && !all {
			rest = ", and the rest of the namespace (still forking)"
		}
	}
	if len(killed) > 0 {
		s.log.Warn("grace period " + s.cfg.Grace.String() + " expired; killed " + strconv.Itoa(len(killed)) + " process(es): " + strings.Join(killed, ", ") + rest)
	}
}

// killPasses bounds the listings of killLeft.
const killPasses = 10

// killLeft SIGKILLs every process left and returns each one it killed,
// once, as "PID (command line)". A process may fork between a listing and
// its kill, so it lists again until a listing shows none it has not killed
// already: a process with SIGKILL pending cannot fork any more, so then
// nothing is left and all is true. all is false if processes were still
// appearing after killPasses listings.
func (s *Supervisor) killLeft() (killed []string, all bool) {
	type ident struct { // PID and start time: a PID may be reused meanwhile
		pid   int
		start uint64
	}
	seen := map[ident]bool{}
	for pass := 0; pass < killPasses; pass++ {
		found := false
		for _, p := range s.others() {
			id := ident{p.PID, p.StartTime}
			if seen[id] {
				continue // killed, not yet dead
			}
			seen[id], found = true, true
			// Read the command line first: once killed it is gone.
			what := proc.Cmdline(p.PID)
			if what == "" {
				what = "[" + p.Comm + "]"
			}
			if unix.Kill(p.PID, unix.SIGKILL) == nil {
				killed = append(killed, strconv.Itoa(p.PID)+" ("+what+")")
			}
		}
		if !found {
			return killed, true
		}
	}
	return killed, false
}

// mainPID is the main's pid while it runs, else 0.
func (s *Supervisor) mainPID() int {
	if s.main != nil {
		return s.main.pid
	}
	return 0
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
