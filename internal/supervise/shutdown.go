package supervise

// The container's shutdown, from the signal to the last exit: its state
// (the shutdown type, part of the Supervisor) and its steps. Follow
// `docker stop` here: SIGTERM arrives on the stop channel → onStopSignal →
// containerStop (pre-stop first, grace timer armed) → advance stops the
// services in reverse dependency order (stoporder.go), the main with the
// signal tend received → their exits come back from the reaper (onBatch,
// supervise.go) → once no service is left, advance sweeps every other live
// process once with SIGTERM → the reaper reports no children → finished →
// Run returns the exit code. If the grace timer fires first,
// onGraceExpired SIGKILLs what is left, and KillWait later tend exits
// whatever is left (afterKillWait, killwait.go).
//
// Every signal sent and every clock read or timer here goes through the
// system seam (sys.go), so that the unit tests drive a whole shutdown on
// the fake, grace expiry included, and observe each kill.

import (
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/signals"
)

// phase is how far the container's life went.
type phase int

const (
	running  phase = iota
	holding        // a failure would stop the container, --hold: keep the scene
	stopping       // shutdown under way, within the grace
	killing        // grace expired, everything SIGKILLed
)

// shutdown is the state of the container's shutdown. Only the event loop
// touches it.
type shutdown struct {
	phase   phase
	trigger syscall.Signal // signal that started shutdown; 0 = a process exit
	// The --pre-stop command: its pid while it runs; done once it exited
	// (or there is none).
	preStopPID  int
	preStopDone bool
	swept       bool // the sweep's SIGTERM went out (or was not needed)
	// signalledPGIDs: the service groups that got their stop signal in
	// this shutdown; the sweep skips their members.
	signalledPGIDs map[int]bool

	// grace fires at the end of the grace (onGraceExpired); final at
	// KillWait after its SIGKILL (afterKillWait). Both post on timeouts.
	grace, final timer
	timeouts     chan shutdownTimeout
	graceEnd     time.Time // when the grace of the shutdown under way ends

	// stopNext: services the shutdown may stop now (stoporder.go);
	// stopOrderWork counts the steps spent deciding that order (a test
	// checks it stays linear in services + edges).
	stopNext      []*svc
	stopOrderWork int
}

// shutdownTimeout is a shutdown timer's firing, as the loop receives it.
type shutdownTimeout int

const (
	graceOver    shutdownTimeout = iota // the grace ended: SIGKILL what is left
	killWaitOver                        // KillWait after that: exit whatever is left
)

// afterShutdown arms a shutdown timer that posts to to the loop after d.
func (s *Supervisor) afterShutdown(d time.Duration, to shutdownTimeout) timer {
	return s.sys.afterFunc(d, func() {
		select {
		case s.timeouts <- to:
		case <-s.done:
		}
	})
}

// KillWait bounds how long tend waits for SIGKILLed processes to be
// reaped (a process in uninterruptible sleep may take a while) before
// exiting. A variable only so that tests can shorten it.
var KillWait = 3 * time.Second

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
	s.notifyUp("STOPPING=1")
	s.planStops()
	s.trigger = trigger
	// "Already signalled" is about this shutdown only: a group signalled
	// by an earlier `tend stop` is long gone, and its number may now be
	// another group's (PID reuse).
	clear(s.signalledPGIDs)
	var grace any = s.cfg.Grace
	if s.cfg.PlatformGrace && trigger != 0 {
		// The sender of the stop signal owns the deadline (its SIGKILL).
		grace = "platform's"
	} else {
		s.grace = s.afterShutdown(s.cfg.Grace, graceOver)
		s.graceEnd = s.sys.now().Add(s.cfg.Grace)
	}
	if failure && (s.main == nil || s.main.started.IsZero()) {
		// Said at the default level: why the container stops, with which
		// code (a main that ran decides the code, and says why itself).
		s.log.Error("shutting down", "reason", why, "code", s.code(), "grace", grace)
	} else {
		s.log.Info("shutting down", "reason", why, "grace", grace)
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

// sweep sends SIGTERM (and SIGCONT to a stopped one) once to every live
// process other than tend that did not already receive a stop signal
// through its service's process group in this shutdown: the whole
// namespace when tend is PID 1, every descendant otherwise.
func (s *Supervisor) sweep() {
	if s.pid1 && !proc.OwnNamespace() {
		// /proc shows another namespace: we cannot tell who is ours, but
		// kill(-1) from PID 1 reaches exactly our namespace.
		s.log.Info("no /proc for this namespace; sending SIGTERM to all")
		_ = s.sys.kill(-1, unix.SIGTERM)
		return
	}
	n := 0
	for _, p := range sweepTargets(s.mine(), s.signalledPGIDs) {
		if s.sys.kill(p.PID, unix.SIGTERM) == nil {
			n++
			if p.State == 'T' { // stopped: it acts on SIGTERM once it runs (killCont)
				_ = s.sys.kill(p.PID, unix.SIGCONT)
			}
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
	if s.phase != stopping {
		return
	}
	s.phase = killing
	s.final = s.afterShutdown(KillWait, killWaitOver)
	var killed []string
	rest := ""
	if s.cfg.SingleChild {
		// Only what tend started is tend's to kill.
		for _, pid := range []int{s.preStopPID, s.mainPID()} {
			if pid == 0 {
				continue
			}
			what := proc.Cmdline(pid) // read first: once killed it is gone
			if s.sys.kill(pid, unix.SIGKILL) == nil {
				killed = append(killed, strconv.Itoa(pid)+" ("+what+")")
			}
		}
	} else if s.pid1 && !proc.OwnNamespace() {
		_ = s.sys.kill(-1, unix.SIGKILL)
		killed = append(killed, "all")
	} else {
		var all bool
		killed, all = s.killLeft()
		// As PID 1, kill(-1) also reaches what no listing could show (a
		// process whose main thread exited reads as a zombie) and, if
		// processes were still appearing after killPasses listings, the
		// rest of a fork storm at once (uncounted: said so).
		if s.pid1 && s.sys.kill(-1, unix.SIGKILL) == nil && !all {
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
			if s.sys.kill(p.PID, unix.SIGKILL) == nil {
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
