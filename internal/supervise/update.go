package supervise

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tend-sh/tend/internal/config"
)

// Replicas and start-first replacement (update = "start-first").
//
// Instances of replicas are services of their own (config expands them:
// web-0, web-1, ...); an after, a control command or a status request
// naming the replicated service itself ("web") stands for all of them
// (group).
//
// A start-first replacement of a running service v starts the new process
// beside the old one, in a shadow svc: the candidate (owner v). Until it is
// ready, v is still the old process, with its state, health checks and
// status. When the candidate becomes ready (its ready probe, or at once
// without one) the two swap: v takes the candidate's process and the new
// definition, and the old process moves into a retiring shadow that gets
// its stop_signal (SIGKILL after its stop_timeout). When the candidate does
// not get ready (its ready timeout, an exit), it is stopped and v keeps the
// old process: the failure is reported and counts toward max_restarts.
// Shadows are in byPID (their exits come back to onServiceExit, and tend
// waits for them), not in order or byName: status shows v alone. Anything
// that stops v (tend stop, the shutdown, a failed health check, a reload
// removing it) stops its candidate too. A rollout replaces its services
// one at a time, each once the previous one's old process has exited, and
// stops at the first failure: the rest keep running the old definition.

// rollouts holds the supervisor's replicated-service index.
type rollouts struct {
	// groups: the instances of each replicated service, by its name.
	groups map[string][]*svc
}

// rollout is one `tend restart` or reload's start-first replacements.
type rollout struct {
	queue    []step
	cur      *svc // being replaced now
	errs     []string
	stepping bool
	ended    bool
	done     chan error // gets the outcome, if not nil
}

type step struct {
	v   *svc
	def *Service // the new definition (nil: v's own when its turn comes, for a restart)
}

// startFirst reports whether v is replaced start-first.
func startFirst(d *Service) bool {
	return d.Update == config.UpdateStartFirst && !d.Main && d.Job == nil && !d.Oneshot
}

// canOverlap reports whether v serves now and nothing else is under way
// for it: only then is there an old process to keep.
func (v *svc) canOverlap() bool { return v.mayReplace() && v.shadow == nil }

// mayReplace reports whether v serves now and no stop or plain restart is
// under way for it: it may be replaced start-first now, or once the
// replacement under way (its shadow) is done.
func (v *svc) mayReplace() bool {
	return v.alive() && v.owner == nil && v.serving() &&
		!v.stopAsked && !v.again && v.next == nil && !v.unhealthy && !v.forgotten
}

// group is every instance of the replicated service name.
func (s *Supervisor) group(name string) []*svc { return s.groups[name] }

// named calls f for each service an after entry (or a control request)
// naming name stands for: that service, or every instance of it.
func (s *Supervisor) named(name string, f func(*svc)) {
	if v := s.byName[name]; v != nil {
		f(v)
		return
	}
	for _, v := range s.groups[name] {
		f(v)
	}
}

// indexGroups rebuilds groups from order.
func (s *Supervisor) indexGroups() {
	s.groups = nil
	for _, v := range s.order {
		s.addToGroup(v)
	}
}

func (s *Supervisor) addToGroup(v *svc) {
	if v.ReplicaOf == "" {
		return
	}
	if s.groups == nil {
		s.groups = map[string][]*svc{}
	}
	s.groups[v.ReplicaOf] = append(s.groups[v.ReplicaOf], v)
}

func (s *Supervisor) dropFromGroup(v *svc) {
	if g := s.groups[v.ReplicaOf]; g != nil {
		s.groups[v.ReplicaOf] = slices.DeleteFunc(g, func(x *svc) bool { return x == v })
		if len(s.groups[v.ReplicaOf]) == 0 {
			delete(s.groups, v.ReplicaOf)
		}
	}
}

// waitsFor reports whether d's after names v (or the service v is an
// instance of).
func waitsFor(d, v *svc) bool {
	return slices.Contains(d.After, v.Name) || v.ReplicaOf != "" && slices.Contains(d.After, v.ReplicaOf)
}

// startRollout replaces steps start-first, one at a time; done, when not
// nil, gets nil or the failures.
func (s *Supervisor) startRollout(steps []step, done chan error) {
	ro := &rollout{queue: steps, done: done}
	s.advanceRollout(ro)
}

// advanceRollout starts the next replacement of ro once none is under
// way, or ends ro.
func (s *Supervisor) advanceRollout(ro *rollout) {
	if ro.stepping || ro.ended {
		return
	}
	ro.stepping = true
	defer func() { ro.stepping = false }()
	for ro.cur == nil && len(ro.queue) > 0 {
		st := ro.queue[0]
		ro.queue = ro.queue[1:]
		v, def := st.v, st.def
		if def == nil {
			def = v.Service
		}
		switch {
		case len(ro.errs) > 0:
			s.log.Warn("start-first: not replaced after the failure above; it keeps running", "service", v.Name)
			continue
		case s.phase != running:
			ro.errs = append(ro.errs, v.Name+": not replaced, tend is shutting down")
			continue
		case v.forgotten:
			continue
		case st.def != nil && v.same(st.def):
			continue // a reload's definition that the replacement before it gave v
		case v.shadow != nil && v.mayReplace():
			// Another replacement of v is under way (its new process
			// starting, or its old one draining): this one's turn comes
			// when it is done (wakeWaiting), start-first again; stopping
			// the process that serves now would be a gap.
			ro.queue = append([]step{st}, ro.queue...)
			ro.cur = v
			v.waiting = append(v.waiting, ro)
			s.log.Info("start-first: a replacement is under way; this one follows it", "service", v.Name)
			continue
		case v.stopAsked:
			// tend stop (or a stop under way) since it was asked for: a
			// restart would undo it.
			ro.errs = append(ro.errs, v.Name+": not restarted: it was stopped meanwhile")
			continue
		case !v.canOverlap():
			s.plainRestart(v, def) // nothing to keep serving: stop, then start
			continue
		}
		ro.cur, v.ro = v, ro
		s.replace(v, def)
	}
	if ro.cur == nil {
		ro.ended = true
		if ro.done != nil {
			if len(ro.errs) > 0 {
				ro.done <- errors.New(strings.Join(ro.errs, "; "))
			} else {
				ro.done <- nil
			}
		}
	}
}

// plainRestart restarts v stop-first with def, as Restart and a reload do
// for a stop-first service.
func (s *Supervisor) plainRestart(v *svc, def *Service) {
	if def != v.Service && !v.alive() {
		v.Service = def
		s.rescan = true
		v.rearm()
		return
	}
	if !v.alive() {
		v.fresh()
		return
	}
	if def != v.Service {
		v.next = def
	} else {
		v.again = true
	}
	s.signalStop(v, v.StopSignal)
}

// replace starts def's process beside v's (the candidate).
func (s *Supervisor) replace(v *svc, def *Service) {
	c := &svc{Service: def, state: Starting, since: s.sys.now(), clock: v.clock, owner: v}
	v.shadow = c
	s.log.Info("start-first: starting the new process beside the old one", "service", v.Name, "old", v.pid)
	c.spawning = true
	s.start(c)
	c.spawning = false
}

// promote: the candidate c is ready. v takes its process and definition;
// the old process retires.
func (s *Supervisor) promote(c *svc) {
	v := c.owner
	old := &svc{Service: v.Service, clock: v.clock, owner: v, retiring: true,
		pid: v.pid, started: v.started, state: v.state, since: v.since}
	s.byPID[old.pid] = old
	v.invalidate() // the old process's health checks
	v.pid, v.started = c.pid, c.started
	s.byPID[v.pid] = v
	if v.Service != c.Service {
		v.Service = c.Service
		s.rescan = true // its after may have changed (startorder.go)
	}
	v.readyFD, c.readyFD = c.readyFD, nil
	c.cancelTimers()
	c.pid, c.owner = 0, nil
	v.shadow = old
	s.promoteZD(v, c, old) // notify sockets follow their processes (notifyservice.go)
	v.health, v.fails, v.unhealthy = "", 0, false
	v.restarts++
	st := Running
	if v.Ready != nil {
		st = Ready
	}
	s.log.Info("start-first: the new process is ready; stopping the old one", "service", v.Name, "pid", v.pid, "old", old.pid)
	s.becameReady(v, st)
	s.signalStop(old, old.StopSignal)
}

// candidateFailed: c did not get ready (why); it is stopped and its owner
// keeps the old process.
func (s *Supervisor) candidateFailed(c *svc, why string) {
	v := c.owner
	c.aborted = true
	s.replaceFailed(v, why)
	if c.alive() {
		s.signalStop(c, c.StopSignal)
	}
}

// replaceFailed reports a failed replacement of v and counts it toward
// its max_restarts.
func (s *Supervisor) replaceFailed(v *svc, why string) {
	msg := v.Name + ": the new process " + why + "; the old one keeps running"
	if v.alive() {
		msg += " (pid " + strconv.Itoa(v.pid) + ")"
	}
	s.log.Error("start-first: replacement failed", "service", v.Name, "reason", msg)
	if v.ro != nil {
		v.ro.errs = append(v.ro.errs, msg)
	}
	now := s.sys.now()
	v.recent = slices.DeleteFunc(v.recent, func(t time.Time) bool { return now.Sub(t) > v.MaxRestartsWithin })
	v.recent = append(v.recent, now)
}

// abortCandidate stops v's candidate, if it has one, because v is being
// stopped or has exited.
func (s *Supervisor) abortCandidate(v *svc, why string) {
	c := v.shadow
	if c == nil || c.retiring || c.aborted {
		return
	}
	c.aborted = true
	if v.ro != nil {
		v.ro.errs = append(v.ro.errs, v.Name+": replacement abandoned: "+why)
	}
	s.log.Warn("start-first: stopping the new process", "service", v.Name, "pid", c.pid, "reason", why)
	if c.alive() {
		s.signalStop(c, c.StopSignal)
	}
}

// ownerExited: v's old process ended on its own while its candidate was
// starting. The candidate is stopped and v restarts at once with the new
// definition, stop-first: there is nothing left to overlap.
func (s *Supervisor) ownerExited(v *svc) {
	c := v.shadow
	if c == nil || c.retiring || c.aborted {
		return
	}
	s.abortCandidate(v, "the old process exited during the replacement")
	if s.phase == running && !v.stopAsked {
		if c.Service != v.Service {
			v.next = c.Service
		} else {
			v.again = true
		}
	}
}

// shadowExited handles the exit of a shadow's process (or a candidate
// that could not be started).
func (s *Supervisor) shadowExited(x *svc, code int) {
	v := x.owner
	if v == nil {
		return
	}
	if v.shadow == x {
		v.shadow = nil
	}
	x.releaseNotify() // notifyservice.go
	switch {
	case x.retiring:
		s.log.Info("start-first: the old process exited", "service", v.Name, "code", code)
	case !x.aborted:
		why := "exited with code " + strconv.Itoa(code) + " before it was ready"
		if x.spawning {
			why = "could not be started (code " + strconv.Itoa(code) + ")"
		}
		s.replaceFailed(v, why)
	}
	if ro := v.ro; ro != nil {
		v.ro, ro.cur = nil, nil
		s.advanceRollout(ro)
	}
	s.wakeWaiting(v)
}

// wakeWaiting resumes the rollouts waiting for v's replacement to end,
// one at a time: each that starts a replacement of v makes the rest wait
// for that one.
func (s *Supervisor) wakeWaiting(v *svc) {
	for v.shadow == nil && len(v.waiting) > 0 {
		ro := v.waiting[0]
		v.waiting = v.waiting[1:]
		ro.cur = nil
		s.advanceRollout(ro)
	}
}

// restart is Restart on the loop: start-first services that serve are
// replaced by a rollout whose outcome done gets; nil done when there is
// none.
func (s *Supervisor) restart(names []string) (<-chan error, error) {
	var steps []step
	err := s.each(names, func(v *svc) {
		v.zd.reason = "restarted by user" // status reason (notifyservice.go)
		if startFirst(v.Service) && v.mayReplace() {
			steps = append(steps, step{v, nil})
			return
		}
		s.plainRestart(v, v.Service)
	})
	if err != nil || steps == nil {
		return nil, err
	}
	done := make(chan error, 1)
	err = s.call(func() error {
		s.startRollout(steps, done)
		s.schedule()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}
