package supervise

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/spawn"
	"github.com/tend-sh/tend/internal/status"
)

// Service is one service as the supervisor runs it: its definition, as
// config validated it, and what tend derives from it to start it.
// Single-command mode is one Main service.
type Service struct {
	// Service is the definition: every key of [service.NAME], with
	// defaults filled in (config.Service documents each). A key is added
	// there, once; the supervisor reads it through this field.
	*config.Service
	// Spec is how to start it: Argv (command), Env (tend's environment
	// under the service's), Dir (workdir), Cred (user). Files and
	// Foreground are set per start.
	Spec spawn.Spec
	// Main marks the main process: the container's exit code is its code,
	// signals tend receives are forwarded to its group, and it is stopped
	// with the (rewritten) signal that started the shutdown.
	Main bool
	// Job, when set, makes the service a scheduled job (job.go): its
	// parsed schedule.
	Job *Job
}

// inherit reports whether the service gets tend's own stdin, stdout and
// stderr (and the terminal, when tend has one) instead of prefixed log
// lines.
func (d *Service) inherit() bool { return d.Log == config.LogInherit }

// same reports whether d and o define the same service: a reload leaves it
// alone. Where the definition is written (file, line) does not count.
func (d *Service) same(o *Service) bool {
	return d.Service.SameAs(o.Service) && d.Main == o.Main &&
		reflect.DeepEqual(d.Spec, o.Spec) && reflect.DeepEqual(d.Job, o.Job)
}

// State is a service's state; the names are internal/status's.
type State = status.State

// The states of a service (status.States).
const (
	Starting  = status.Starting
	Ready     = status.Ready
	Running   = status.Running
	Backoff   = status.Backoff
	Failed    = status.Failed
	Stopping  = status.Stopping
	Stopped   = status.Stopped
	Done      = status.Done
	Scheduled = status.Scheduled
)

// svc is the runtime state of one service. Only the event loop touches it.
type svc struct {
	*Service
	clock    func() time.Time // the supervisor's (the system seam's)
	state    State
	pid      int
	started  time.Time // start of the current (or last) run
	since    time.Time // when the current state began
	restarts int
	recent   []time.Time // restart times, for max_restarts
	streak   int         // consecutive failed runs, for the backoff
	lastExit *int
	health   string // "", "healthy", "unhealthy"
	fails    int    // consecutive failed health checks

	depsTo    int  // after[:depsTo] were satisfied when last checked (depsSatisfied)
	gen       int  // bumped at every start: stale timers and probes are ignored
	stopAsked bool // stopped on purpose (control, shutdown, reload): do not restart
	again     bool // start again once it has exited (restart, reload)
	unhealthy bool // stopped because of its health check: the exit is a failure
	next      *Service
	removed   bool // removed by a reload: forget it once it has exited

	// The shutdown's stop order (stoporder.go).
	blockers int  // services with v in after that are not yet cleared
	cleared  bool // no process, and nothing that depends on it has one

	stopTimer  timer
	stopBy     time.Time // when stopTimer fires
	readyTimer timer
	probeTimer timer
	readyFD    *os.File // read end of the fd readiness pipe

	job *jobState // scheduled jobs only (job.go)

	// Start-first replacement (update.go): shadow is v's other process
	// (a candidate starting, or the old one retiring), owner the service a
	// shadow belongs to; ro the rollout replacing v.
	shadow, owner *svc
	retiring      bool // a shadow holding the old process, being stopped
	aborted       bool // a candidate being stopped: its exit is no failure
	spawning      bool // a candidate inside its start
	ro            *rollout
	waiting       []*rollout // rollouts whose turn for v comes once its shadow is gone

	zd zdState // listen, notify, watchdog, reason (listen.go, notifyservice.go)

	// The start order (startorder.go): seq is v's place in file order,
	// queued that it is among the candidates, forgotten that a reload
	// removed it; onState is the supervisor's stateChanged.
	seq       int
	queued    bool
	forgotten bool
	onState   func(from State)
}

func (v *svc) setState(s State) {
	from := v.state
	if v.state != s {
		v.state, v.since = s, v.clock()
	}
	if v.onState != nil {
		v.onState(from)
	}
}

// alive reports whether the service has a process.
func (v *svc) alive() bool { return v.pid != 0 }

// probing reports whether v's ready checks (health false) or health checks
// are still wanted: its process runs, nobody asked it to stop, and it is
// still in the state the check is for ("starting" for ready checks, ready
// or running for health checks).
func (v *svc) probing(health bool) bool {
	if !v.alive() || v.stopAsked || v.again || v.next != nil || v.unhealthy {
		return false
	}
	if health {
		return v.Health != nil && v.serving()
	}
	return v.Ready != nil && v.state == Starting
}

// serving reports whether v's state is a long-running service's ready
// (status.Satisfied: running, or ready once its probe passed): its health
// checks run then, and a start-first replacement keeps its process.
func (v *svc) serving() bool { return status.Satisfied(status.LongRunning, v.state) }

// satisfied reports whether services listing v in `after` may start.
// It is status.Satisfied: the one decision of "ready", which wait-ready
// and /readyz ask too.
func (v *svc) satisfied() bool { return status.Satisfied(v.kind(), v.state) }

// kind is what v is, as far as readiness goes.
func (v *svc) kind() status.Kind {
	switch {
	case v.Job != nil:
		return status.Job
	case v.Oneshot:
		return status.Oneshot
	}
	return status.LongRunning
}

// settled reports whether the service reached where startup wants it.
func (v *svc) settled() bool {
	return v.satisfied() || v.state == Failed || v.state == Stopped
}

// invalidate makes the current run's timers and probe results stale.
func (v *svc) invalidate() {
	v.gen++
	v.cancelTimers()
}

// rearm puts a service that has no process back to waiting for schedule
// to start it (once its dependencies are ready).
func (v *svc) rearm() {
	v.invalidate()
	v.stopAsked = false
	v.setState(Starting)
}

// fresh rearms with the restart limit and backoff started afresh (a start
// asked for by a person).
func (v *svc) fresh() {
	v.recent, v.streak = nil, 0
	v.rearm()
}

func (v *svc) cancelTimers() {
	for _, t := range []timer{v.stopTimer, v.readyTimer, v.probeTimer, v.zd.watchdog} {
		if t != nil {
			t.Stop()
		}
	}
	v.stopTimer, v.readyTimer, v.probeTimer, v.zd.watchdog = nil, nil, nil, nil
	if v.readyFD != nil {
		v.readyFD.Close()
		v.readyFD = nil
	}
}

// timer kinds, delivered to the loop as timerEvents.
type timerKind int

const (
	tBackoff timerKind = iota
	tStopKill
	tReadyTimeout
	tReadyProbe  // the next ready check, while starting
	tHealthProbe // the next health check, once ready or running
	tGroupKill   // stop_timeout of a group whose leader has exited: pgid
)

type timerEvent struct {
	v    *svc
	gen  int
	kind timerKind
	pgid int // tGroupKill
}

// after arms a timer of kind for v's current process, whose firing the
// loop receives on s.timers.
func (s *Supervisor) after(d time.Duration, v *svc, kind timerKind) timer {
	return s.afterEvent(d, timerEvent{v: v, gen: v.gen, kind: kind})
}

// afterEvent arms a timer that delivers ev to the loop on s.timers.
func (s *Supervisor) afterEvent(d time.Duration, ev timerEvent) timer {
	return s.sys.afterFunc(d, func() {
		select {
		case s.timers <- ev:
		case <-s.done:
		}
	})
}

func (s *Supervisor) onTimer(ev timerEvent) {
	if s.onJobTimer(ev) || s.onZDTimer(ev) {
		return
	}
	v := ev.v
	if ev.kind == tGroupKill { // outlives the run that armed it
		s.killGroup(v.Name, ev.pgid)
		return
	}
	if ev.gen != v.gen {
		return // from an earlier run
	}
	switch ev.kind {
	case tBackoff:
		if v.state == Backoff && s.phase == running {
			s.start(v)
		}
	case tStopKill:
		if v.alive() {
			s.log.Warn("service did not stop in time; sending SIGKILL", "service", v.Name, "pid", v.pid, "stop_timeout", v.StopTimeout)
			_ = s.sys.kill(v.sigTarget(), unix.SIGKILL)
			v.stopTimer = nil // spent: its exit arms no second kill
		}
	case tReadyTimeout:
		if v.owner != nil && v.alive() && !v.aborted {
			s.candidateFailed(v, "was not ready within "+v.Ready.Timeout.String())
			return
		}
		if v.alive() && v.state == Starting {
			s.log.Error("service not ready in time", "service", v.Name, "timeout", v.Ready.Timeout)
			s.fail(v, 1, "not ready within "+v.Ready.Timeout.String())
			s.stop(v, v.StopSignal)
		}
	case tReadyProbe, tHealthProbe:
		// A probe's timer is bound to the state it was armed in: the
		// service may have left "starting" (ready timeout, stop, restart,
		// reload) or "ready" since, without a new run.
		if health := ev.kind == tHealthProbe; v.probing(health) {
			s.probe(v, health)
		}
	}
}

// start starts a service's process now.
func (s *Supervisor) start(v *svc) {
	v.gen++
	v.cancelTimers()
	v.stopAsked, v.unhealthy, v.health, v.fails = false, false, "", 0
	spec := v.Spec            // a copy: Files differ per start
	cg, err := s.cgroupFor(v) // limits (cgroup.go)
	if err != nil {
		s.startFailed(v, err)
		return
	}
	if cg != nil {
		spec.CgroupFD = cg.cg.FD()
	}
	var closeAfter []*os.File
	if v.inherit() {
		spec.Files = []uintptr{0, 1, 2}
		spec.Foreground = v.Main && s.cfg.Terminal
		spec.SameGroup = v.Main && s.cfg.SingleChild
		spec.TakeTerminal = v.Main && s.handedTerminal
	} else {
		outR, outW, err1 := os.Pipe()
		errR, errW, err2 := os.Pipe()
		if err := firstErr(err1, err2); err != nil {
			for _, f := range []*os.File{outR, outW, errR, errW} {
				if f != nil {
					f.Close()
				}
			}
			s.startFailed(v, &spawn.Error{Name: v.Spec.Argv[0], Err: fmt.Errorf("output pipes: %w", err), Code: spawn.CodeOther})
			return
		}
		s.cfg.Logs.Attach(v.Name, logs.Stdout, outR)
		s.cfg.Logs.Attach(v.Name, logs.Stderr, errR)
		spec.Files = []uintptr{s.devNull(), outW.Fd(), errW.Fd()}
		closeAfter = append(closeAfter, outW, errW)
	}
	if err := s.prepareStart(v, &spec); err != nil {
		for _, f := range closeAfter {
			f.Close()
		}
		s.startFailed(v, err)
		return
	}
	if v.Ready != nil && v.Ready.Kind == config.ProbeFD {
		r, w, err := os.Pipe()
		if err == nil {
			for len(spec.Files) <= v.Ready.FD {
				spec.Files = append(spec.Files, ^uintptr(0)) // closed in the child
			}
			spec.Files[v.Ready.FD] = w.Fd()
			v.readyFD = r
			closeAfter = append(closeAfter, w)
		}
	}
	spec.ClearMask = s.cfg.ResetSignals
	s.guard.begin()
	pid, err := s.sys.start(&spec)
	s.guard.end()
	var placeErr error
	if err == nil {
		placeErr = s.placeInCgroup(v, cg, pid)
	}
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		s.startFailed(v, err)
		return
	}
	s.childless = false
	v.pid, v.started = pid, s.sys.now()
	s.byPID[pid] = v
	s.noteGroup(v, pid, !spec.SameGroup)
	if v.Main && !spec.SameGroup {
		s.mainPGID = pid
	}
	s.log.Info("started", "service", v.Name, "pid", pid, "cmd", strings.Join(v.Spec.Argv, " "))
	s.startedZD(v)
	if v.Ready != nil {
		v.setState(Starting)
		v.readyTimer = s.after(v.Ready.Timeout, v, tReadyTimeout)
		s.startReadyProbe(v)
	} else if v.Oneshot {
		v.setState(Starting)
	} else {
		s.becameReady(v, Running)
	}
	if placeErr != nil { // SIGKILLed already: it must not run without its limits
		v.stopAsked = true
		s.fail(v, 1, placeErr.Error())
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// devNull is the stdin of services that do not inherit tend's.
func (s *Supervisor) devNull() uintptr {
	if s.null == nil {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return 0
		}
		s.null = f
	}
	return s.null.Fd()
}

// startFailed handles a process that could not be started at all: as an
// exit with the shell's code for it (127 not found, 126 not executable).
func (s *Supervisor) startFailed(v *svc, err error) {
	v.cancelTimers() // closes the ready pipe, if one was made
	code := spawn.CodeOther
	if se, ok := err.(*spawn.Error); ok {
		code = se.Code
	}
	v.started = s.sys.now()
	if v.Main {
		// As a shell would: say why and exit with 127/126/125 at once,
		// without holding or restarting (or as the peer tend stands in
		// for would: MainStartError).
		if s.cfg.MainStartError != nil {
			code = s.cfg.MainStartError(err)
		} else {
			s.log.Error(err.Error())
		}
		v.lastExit = &code
		v.setState(Failed)
		s.mainCode, s.mainDone, s.mainStartFailed = code, true, true
		s.containerStop(0, code, false, "main process could not be started")
		return
	}
	s.log.Error(err.Error(), "service", v.Name)
	s.exited(v, code, false)
}

// becameReady marks v ready (or running, without a ready probe), starts
// its health checks and lets its dependents start.
func (s *Supervisor) becameReady(v *svc, st State) {
	if v.readyTimer != nil {
		v.readyTimer.Stop()
		v.readyTimer = nil
	}
	if v.owner != nil { // a start-first candidate (update.go)
		switch {
		case v.aborted:
		case s.phase != running:
			s.candidateFailed(v, "got ready after the shutdown began")
		default:
			s.promote(v)
		}
		return
	}
	v.setState(st)
	if st == Ready {
		s.log.Info("ready", "service", v.Name)
	}
	if v.Health != nil {
		v.probeTimer = s.after(v.Health.Interval, v, tHealthProbe)
	}
	s.schedule()
}

// onServiceExit handles the exit of a service's process.
func (s *Supervisor) onServiceExit(v *svc, status unix.WaitStatus) {
	if s.handOver(v) { // MAINPID= (notifyservice.go)
		return
	}
	pid := v.pid
	delete(s.byPID, pid)
	v.pid = 0
	if v.stopTimer != nil && s.sys.kill(-pid, 0) == nil {
		// Stopped, and its group outlives the leader: the stop_timeout
		// still applies to what is left of the group.
		s.afterEvent(v.stopBy.Sub(s.sys.now()), timerEvent{v: v, kind: tGroupKill, pgid: pid})
	}
	v.cancelTimers()
	code := reap.Code(status)
	if v.owner != nil { // a start-first shadow (update.go)
		s.shadowExited(v, code)
		return
	}
	s.ownerExited(v)
	if s.phase >= stopping && v.blockers == 0 {
		s.clear(v)
	}
	if v.Main {
		raw := code
		if to, ok := s.cfg.RemapExit[raw]; ok {
			code = to
		}
		s.log.Info("main process exited", append([]any{"pid", pid, "code", raw, "exit", code}, s.oomAttrs(v)...)...)
	}
	s.exited(v, code, v.unhealthy)
}

// exited applies the restart policy to a service whose process ended (or
// never started) with code. forceFail counts the exit as a failure
// whatever the code (a failed health check).
func (s *Supervisor) exited(v *svc, code int, forceFail bool) {
	if v.owner != nil { // a start-first candidate that could not start
		s.shadowExited(v, code)
		return
	}
	v.lastExit = &code
	s.noteExit(v, code)
	success := !forceFail && slices.Contains(v.SuccessCodes, code)
	ran := s.sys.now().Sub(v.started)
	if v.Job != nil {
		s.jobRunEnded(v, success)
	}

	if v.Main {
		s.mainCode, s.mainDone = code, true
	}
	switch {
	case v.removed:
		s.forget(v)
		return
	case v.next != nil && s.phase == running:
		v.Service, v.next = v.next, nil
		s.rescan = true // its after may have changed (startorder.go)
		v.setState(Starting)
		s.schedule()
		return
	case v.again && s.phase == running:
		v.again = false
		s.start(v)
		return
	case s.phase != running || v.stopAsked:
		// A restart pending when the shutdown began is dropped with it.
		v.again, v.next = false, nil
		if v.Oneshot && success {
			v.setState(Done)
		} else if v.state != Failed {
			v.setState(Stopped)
		}
		s.schedule()
		return
	}

	// It ended on its own while tend is running.
	switch {
	case v.Job != nil:
		s.jobExited(v, code, success)
		return
	case v.Main:
		v.setState(Stopped)
		if code != 0 {
			v.setState(Failed)
		}
		s.containerStop(0, code, code != 0, "main process exited")
		return
	case s.cfg.AnyExitStops:
		v.setState(Stopped)
		s.log.Info("process exited; stopping all (Procfile)", "service", v.Name, "code", code)
		s.containerStop(0, code, code != 0, v.Name+" exited")
		return
	case v.Oneshot && success:
		v.setState(Done)
		s.log.Info("done", "service", v.Name)
		s.schedule()
		return
	}

	restart := v.Restart == config.RestartAlways || (v.Restart == config.RestartOnFailure && !success)
	if !restart {
		if success {
			v.setState(Stopped)
			s.log.Info("exited", "service", v.Name, "code", code)
		} else {
			s.fail(v, code, s.exitWhy(v, code))
			s.oomStateReason(v, "")
		}
		s.schedule()
		return
	}
	now := s.sys.now()
	v.recent = slices.DeleteFunc(v.recent, func(t time.Time) bool { return now.Sub(t) > v.MaxRestartsWithin })
	if len(v.recent) >= v.MaxRestarts {
		limit := "; restarted " + strconv.Itoa(len(v.recent)) + " times within " + v.MaxRestartsWithin.String()
		s.fail(v, code, s.exitWhy(v, code)+limit)
		s.oomStateReason(v, limit)
		s.schedule()
		return
	}
	// A run that lasted longer than the longest backoff was healthy: start
	// the backoff afresh.
	if success || ran >= v.BackoffMax {
		v.streak = 0
	}
	delay := backoff(v.BackoffInitial, v.BackoffMax, v.streak)
	if !success {
		v.streak++
	}
	v.recent = append(v.recent, now)
	v.restarts++
	s.log.Warn("service exited; restarting", append([]any{"service", v.Name, "code", code, "in", delay.Round(time.Millisecond)}, s.oomAttrs(v)...)...)
	// Even an immediate restart goes through the loop: started from here, a
	// start that fails at once (fork EAGAIN) would call back into exited and
	// loop without ever letting the loop see a signal.
	v.setState(Backoff)
	v.gen++
	v.probeTimer = s.after(delay, v, tBackoff)
}

// zeroBackoffFloor is where the backoff of a service with initial = 0
// starts after its first failure in a row: only that first restart is
// immediate, so a process that cannot start at all (fork EAGAIN, a
// missing binary) does not spin tend at 100% CPU.
const zeroBackoffFloor = 10 * time.Millisecond

// backoff is initial·2^n capped at max, with up to 20% jitter taken off so
// that services that crashed together do not restart in lockstep.
func backoff(initial, max time.Duration, n int) time.Duration {
	if initial <= 0 {
		if n == 0 {
			return 0
		}
		initial, n = zeroBackoffFloor, n-1
	}
	d := initial
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// fail marks v failed for good. A critical service's failure, or a
// oneshot's during startup, stops the container with its code; services
// waiting for v can never start and fail too.
func (s *Supervisor) fail(v *svc, code int, why string) {
	v.setState(Failed)
	v.zd.reason = why
	s.log.Error("service failed", "service", v.Name, "reason", why)
	if code == 0 {
		code = 1
	}
	if v.Critical || (v.Oneshot && !s.startupDone) {
		s.containerStop(0, code, true, v.Name+" failed")
		return
	}
	// They fail with v's code: for a critical one, a startup oneshot or
	// the main, the container's exit code is that of what actually failed.
	for _, d := range s.waiting(v) {
		if d.state == Starting && !d.alive() {
			s.fail(d, code, "not started: its dependency "+v.Name+" failed")
		}
	}
}

// waiting lists, in file order, the services whose after names v (or the
// service v is a replica of): from the dependents index, so that a failure
// cascading down a chain of n costs O(n), not a scan of every service per
// failure (TestFailCascadeLinear). Until a reload's changes are indexed
// (rescan), every service is looked at.
func (s *Supervisor) waiting(v *svc) []*svc {
	var out []*svc
	if s.rescan || s.dependents == nil {
		for _, d := range s.order {
			s.startWork++
			if waitsFor(d, v) {
				out = append(out, d)
			}
		}
		return out
	}
	out = append(out, s.dependents[v.Name]...)
	if v.ReplicaOf != "" {
		out = append(out, s.dependents[v.ReplicaOf]...)
	}
	s.startWork += len(out)
	slices.SortFunc(out, func(a, b *svc) int { return a.seq - b.seq })
	return slices.Compact(out)
}

// schedule starts every waiting service whose dependencies are satisfied
// and notes when startup is complete (startorder.go).
func (s *Supervisor) schedule() {
	if s.phase != running {
		s.advance()
		return
	}
	s.startReady()
	s.checkStartup()
}

// depsSatisfied reports whether every service in v's after is satisfied.
// The dependencies before v.depsTo were satisfied when last looked at, so
// a check resumes there; once it reaches the end, one pass over all of
// them confirms (one may have become unsatisfied since), as checkStartup
// does. A service after n others that become satisfied one at a time thus
// costs O(n) steps in all, not n² (TestStartOrderFanInLinear). The cursor
// only saves work: the confirming pass decides.
func (s *Supervisor) depsSatisfied(v *svc) bool {
	sat := func(name string) bool {
		ok := true
		s.named(name, func(d *svc) {
			s.startWork++
			ok = ok && d.satisfied()
		})
		return ok
	}
	if v.depsTo > len(v.After) { // a reload shortened after
		v.depsTo = 0
	}
	for v.depsTo < len(v.After) {
		if !sat(v.After[v.depsTo]) {
			return false
		}
		v.depsTo++
	}
	for i, name := range v.After {
		if !sat(name) {
			v.depsTo = i
			return false
		}
	}
	return true
}

// stop asks one service to stop for good: sig to its process group,
// SIGKILL after its stop_timeout. sig 0 sends nothing (a rewrite dropped
// it) and only waits.
func (s *Supervisor) stop(v *svc, sig syscall.Signal) {
	v.stopAsked = true
	s.signalStop(v, sig)
}

// signalStop sends the stop signal and arms the stop timeout, without
// deciding what happens after the exit.
func (s *Supervisor) signalStop(v *svc, sig syscall.Signal) {
	s.abortCandidate(v, "the service is being stopped")
	if !v.alive() {
		if v.state == Backoff || v.state == Starting || v.state == Scheduled {
			v.invalidate()
			v.setState(Stopped)
		}
		return
	}
	if v.state != Failed {
		v.setState(Stopping)
	}
	if sig != 0 {
		target := v.sigTarget()
		if v.Main && s.cfg.ToChild {
			target = v.pid
		}
		if err := s.killCont(target, sig); err == nil {
			if target < 0 && s.phase >= stopping {
				s.signalledPGIDs[v.pid] = true // the sweep skips it
			}
			s.log.Info("stopping", "service", v.Name, "pid", v.pid, "signal", signals.Name(sig))
		}
	}
	if v.stopTimer == nil && v.StopTimeout > 0 {
		v.stopTimer = s.after(v.StopTimeout, v, tStopKill)
		v.stopBy = s.sys.now().Add(v.StopTimeout)
	}
}

// killGroup SIGKILLs what is left of a stopped service's process group
// pgid once its stop_timeout ran out after its leader had exited: members
// that ignored the stop signal must not outlive a stop or restart. The
// leader was reaped, so a process whose PID is pgid is a newer one that
// reused the number (possible only once the old group was empty): then
// nothing is killed. Without our own /proc (PID 1 seeing a parent
// namespace's) that check cannot be made, and the group is killed if it
// still exists.
func (s *Supervisor) killGroup(name string, pgid int) {
	n := 0
	if proc.OwnNamespace() {
		all, err := s.sys.processes()
		if err != nil {
			s.log.Warn("cannot list processes", "err", err)
			return
		}
		for _, p := range all {
			if p.PID == pgid {
				return // the number now belongs to another process
			}
			if p.PGID == pgid && p.State != 'Z' {
				n++
			}
		}
		if n == 0 {
			return
		}
	}
	if s.sys.kill(-pgid, unix.SIGKILL) == nil {
		s.log.Warn("service's process group did not stop in time; sending SIGKILL", "service", name, "pgid", pgid, "processes", n)
	}
}

// forget drops a service removed by a reload.
func (s *Supervisor) forget(v *svc) {
	delete(s.byName, v.Name)
	s.dropFromGroup(v)
	s.order = slices.DeleteFunc(s.order, func(x *svc) bool { return x == v })
	v.forgotten = true
	s.dropCgroup(v.Name)
	s.releaseZD(v)
	s.settledTo = 0
	s.rescan = true // its dependents may now start (a missing one counts as satisfied)
	s.log.Info("removed", "service", v.Name)
	s.schedule()
}
