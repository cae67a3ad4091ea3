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
	stats        Stats
	rl           reloader // SIGHUP reloads (reload.go)
}

// New prepares a supervisor. Call Run to start it.
func New(cfg Config) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		cfg: cfg, log: cfg.Log, self: os.Getpid(),
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
	v := &svc{Service: def, state: Starting, since: time.Now()}
	s.order = append(s.order, v)
	s.byName[def.Name] = v
	if def.Main {
		s.main = v
	}
	return v
}

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
	signal.Notify(s.termCh, unix.SIGTERM, unix.SIGINT)
	early, late := signals.Caught()
	signal.Notify(s.sigCh, early...)
	s.events = make(chan reap.Batch, 64)
	s.childless = reap.Start(s.events)

	s.schedule()
	if s.mainStartFailed && !s.anyAlive() {
		return s.mainCode // the main could not even be started: nothing to supervise
	}
	// The signals the runtime ignores until caught are registered while
	// the children exec; one that arrives before then is not forwarded,
	// as it would most likely kill a child not yet set up to handle it.
	go signal.Notify(s.sigCh, late...)
	return s.loop()
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
		select {
		case sig := <-s.termCh:
			handle = func() { s.onStopSignal(sig.(syscall.Signal)) }
		case sig := <-s.sigCh:
			handle = func() { s.onSignal(sig.(syscall.Signal)) }
		case b := <-s.events:
			handle = func() { s.onBatch(b) }
		case ev := <-s.timers:
			handle = func() { s.onTimer(ev) }
		case r := <-s.probes:
			handle = func() { s.onProbe(r) }
		case req := <-s.reqs:
			handle = req
		case where := <-s.faults:
			handle = func() { s.containerStop(0, CodeInternal, true, "internal error in "+where) }
		case <-graceC:
			s.grace = nil
			handle = s.onGraceExpired
		case <-finalC:
			s.log.Warn("processes still present after SIGKILL; exiting anyway", "waited", killWait)
			return s.code()
		}
		// A panic in a handler is reported (onPanic) and becomes an
		// orderly shutdown on the next turn; the loop itself goes on.
		safe.Run("event loop", func() {
			handle()
			s.advance()
		})
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
			s.onServiceExit(s.byPID[e.PID], e.Status)
		case s.probePIDs[e.PID].v != nil:
			s.onProbeExit(e.PID, e.Status)
		default:
			s.stats.OrphansReaped++
			s.log.Debug("reaped", "pid", e.PID, "code", reap.Code(e.Status))
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

// onStopSignal handles SIGTERM and SIGINT sent to tend.
func (s *Supervisor) onStopSignal(sig syscall.Signal) {
	switch s.phase {
	case running, holding:
		s.containerStop(sig, 0, false, "signal "+signals.Name(sig))
	default:
		// A second stop signal is forwarded again; the grace is not
		// extended.
		s.log.Info("stop signal during shutdown; forwarding again", "signal", signals.Name(sig))
		s.forward(sig)
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
	s.forward(sig)
}

// forward sends sig, after rewriting, to the main process group (or the
// main alone with --forward child) or, without a main, to every running
// service's group.
func (s *Supervisor) forward(sig syscall.Signal) {
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
		err := unix.Kill(t, to)
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
	s.trigger = trigger
	s.grace = time.NewTimer(s.cfg.Grace)
	s.log.Info("shutting down", "reason", why, "grace", s.cfg.Grace)
	s.preStopDone = true
	if s.cfg.PreStop != nil {
		pid, err := spawn.Start(s.cfg.PreStop)
		if err != nil {
			s.log.Error("pre-stop: " + err.Error())
		} else {
			s.preStopPID, s.preStopDone, s.childless = pid, false, false
			reap.Started()
			s.log.Info("running pre-stop", "pid", pid, "cmd", strings.Join(s.cfg.PreStop.Argv, " "))
		}
	}
}

// advance takes the shutdown as far as it can go now: once the pre-stop is
// done, stop every service none of whose dependents is still alive (the
// main first, with the signal tend received); once no service is left, one
// SIGTERM to every other process still alive.
func (s *Supervisor) advance() {
	if s.phase != stopping || !s.preStopDone {
		return
	}
	for _, v := range s.order {
		if v.stopAsked || s.dependentsAlive(v) {
			continue
		}
		s.stop(v, s.stopSignal(v))
	}
	if !s.swept && !s.anyAlive() {
		s.swept = true
		if !s.childless { // no children means no descendants: nothing to sweep
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

// dependentsAlive reports whether any service that depends on v, directly
// or through others (web → migrate → db), still has a process: v must
// outlive them all.
func (s *Supervisor) dependentsAlive(v *svc) bool {
	seen := map[string]bool{v.Name: true}
	queue := []string{v.Name}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, d := range s.order {
			if seen[d.Name] || !slices.Contains(d.After, name) {
				continue
			}
			if d.alive() {
				return true
			}
			seen[d.Name] = true
			queue = append(queue, d.Name)
		}
	}
	return false
}

func (s *Supervisor) anyAlive() bool {
	return slices.ContainsFunc(s.order, (*svc).alive)
}

// finished reports whether tend may exit now: the shutdown ran its course
// and the reaper reported no children left after the last exit or start.
func (s *Supervisor) finished() bool {
	switch s.phase {
	case stopping:
		return s.preStopDone && s.swept && s.childless
	case killing:
		return !s.anyAlive() && s.childless
	}
	return false
}

// code is the container's exit code: the main's (after remap; what SIGKILL
// gives while it is still being killed), else the failure's, else 0.
func (s *Supervisor) code() int {
	if s.main != nil {
		if s.mainDone {
			return s.mainCode
		}
		return 128 + int(unix.SIGKILL)
	}
	return s.exitCode
}

// sweep sends SIGTERM once to every live process other than tend that did
// not already receive a stop signal through its service's process group:
// the whole namespace when tend is PID 1, every descendant otherwise.
func (s *Supervisor) sweep() {
	if s.pid1 && !proc.OwnNamespace() {
		// /proc shows another namespace: we cannot tell who is ours, but
		// kill(-1) from PID 1 reaches exactly our namespace.
		s.log.Info("no /proc for this namespace; sending SIGTERM to all")
		_ = unix.Kill(-1, unix.SIGTERM)
		return
	}
	n := 0
	for _, p := range s.others() {
		if s.signalledPGIDs[p.PGID] {
			continue // already got the stop signal through its group
		}
		if unix.Kill(p.PID, unix.SIGTERM) == nil {
			n++
			if p.State == 'T' {
				_ = unix.Kill(p.PID, unix.SIGCONT) // a stopped process must run to handle it
			}
		}
	}
	if n > 0 {
		s.log.Info("sent SIGTERM to remaining processes", "count", n)
	}
}

// others lists live processes tend is responsible for, zombies excluded.
func (s *Supervisor) others() []proc.Process {
	all, err := proc.List()
	if err != nil {
		s.log.Warn("cannot list processes", "err", err)
		return nil
	}
	mine := all
	if !s.pid1 {
		mine = proc.Descendants(all, s.self)
	}
	out := mine[:0]
	for _, p := range mine {
		if p.PID != s.self && p.State != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// onGraceExpired SIGKILLs everything left and says what it killed.
func (s *Supervisor) onGraceExpired() {
	s.phase = killing
	s.final = time.NewTimer(killWait)
	var killed []string
	if s.pid1 && !proc.OwnNamespace() {
		_ = unix.Kill(-1, unix.SIGKILL)
		killed = append(killed, "all")
	} else {
		// Repeat: a process may fork between our listing and its kill.
		for pass := 0; pass < 10; pass++ {
			left := s.others()
			if len(left) == 0 {
				break
			}
			for _, p := range left {
				what := ""
				if pass == 0 {
					// Read the command line first: once killed it is gone.
					if what = proc.Cmdline(p.PID); what == "" {
						what = "[" + p.Comm + "]"
					}
				}
				if unix.Kill(p.PID, unix.SIGKILL) == nil && pass == 0 {
					killed = append(killed, strconv.Itoa(p.PID)+" ("+what+")")
				}
			}
			if s.pid1 {
				_ = unix.Kill(-1, unix.SIGKILL)
				break
			}
		}
	}
	if len(killed) > 0 {
		s.log.Warn("grace period " + s.cfg.Grace.String() + " expired; killed " + strconv.Itoa(len(killed)) + " process(es): " + strings.Join(killed, ", "))
	}
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
