package supervise

import (
	"fmt"
	"slices"
	"time"

	"github.com/tend-sh/tend/internal/safe"
)

// ReloadTimeout bounds how long a reload may take to read its files (the
// config file, env_files, /etc/passwd and /etc/group). A read that takes
// longer (a file on a hung network or FUSE file system) is reported, the
// running configuration kept, and its result discarded when it comes.
const ReloadTimeout = 10 * time.Second

// reloader is the state of SIGHUP reloads. The files are read by
// cfg.Reload in a goroutine, never on the event loop, which a blocked read
// would stop (reaping, control, /healthz, even SIGTERM); the result comes
// back to the loop as an event (on s.reqs). At most one read runs at a
// time: a SIGHUP while one is running is coalesced into one more reload
// after it, so an edit made during a read is not missed, and a read that
// never returns holds at most one goroutine.
type reloader struct {
	timeout  time.Duration // ReloadTimeout; shorter in tests
	running  bool          // a cfg.Reload call has not returned yet
	gen      int           // which call: results of an earlier one are ignored
	late     bool          // the running call passed its deadline: discard its result
	pending  bool          // a SIGHUP arrived while running: reload again after it
	started  time.Time
	deadline timer
}

// reload handles SIGHUP: it starts reading the configuration in a
// goroutine (applyReload applies it), or, when a read is already under
// way, notes that another reload is wanted once it is done.
func (s *Supervisor) reload() {
	if s.phase != running {
		s.rl.pending = false
		s.log.Info("reload ignored during shutdown")
		return
	}
	if s.rl.running {
		s.rl.pending = true
		if s.rl.late {
			s.log.Warn("reload: the previous reload is still blocked reading its files; reloading once it returns", "since", s.sys.now().Sub(s.rl.started).Round(time.Millisecond))
		} else {
			s.log.Info("reload already in progress; reloading again once it is done")
		}
		return
	}
	if s.rl.timeout == 0 {
		s.rl.timeout = ReloadTimeout
	}
	s.rl.gen++
	gen, load := s.rl.gen, s.cfg.Reload
	s.rl.running, s.rl.late, s.rl.pending, s.rl.started = true, false, false, s.sys.now()
	s.rl.deadline = s.sys.afterFunc(s.rl.timeout, func() { s.post(func() { s.onReloadDeadline(gen) }) })
	safe.Go("reload", func() {
		r, err := load()
		s.post(func() { s.onReloaded(gen, r, err) })
	})
}

// post delivers f to the event loop (until it has ended).
func (s *Supervisor) post(f func()) {
	select {
	case s.reqs <- f:
	case <-s.done:
	}
}

// onReloadDeadline: the read started by reload generation gen has not
// returned within the timeout.
func (s *Supervisor) onReloadDeadline(gen int) {
	if gen != s.rl.gen || !s.rl.running {
		return
	}
	s.rl.late = true
	s.log.Error("reload failed; keeping the running configuration", "err",
		fmt.Sprintf("reading the configuration files did not finish within %v (a file on a hung file system?); its result will be discarded", s.rl.timeout))
}

// onReloaded receives the result of reload generation gen.
func (s *Supervisor) onReloaded(gen int, r *Reloaded, err error) {
	if gen != s.rl.gen {
		return
	}
	s.rl.running = false
	s.rl.deadline.Stop()
	switch {
	case s.rl.late:
		s.log.Warn("reload: the late read returned after all; its result is discarded", "took", s.sys.now().Sub(s.rl.started).Round(time.Millisecond))
	case err != nil:
		s.log.Error("reload failed; keeping the running configuration", "err", err)
	default:
		s.applyReload(r)
	}
	if s.rl.pending {
		s.reload()
	}
}

// applyReload applies a re-read configuration: services added are started
// (once their dependencies are ready), services removed are stopped and
// forgotten, services whose definition changed are stopped and started
// again with the new one; unchanged ones are not touched. An invalid new
// configuration never gets here: it is reported and the running one kept
// whole.
func (s *Supervisor) applyReload(r *Reloaded) {
	if s.phase != running {
		s.log.Info("reload ignored during shutdown")
		return
	}
	s.cfg.Grace = r.Grace
	seen := map[string]bool{}
	var steps []step // start-first replacements (update.go)
	for _, def := range r.Services {
		seen[def.Name] = true
		v := s.byName[def.Name]
		if v == nil {
			s.add(def)
			s.log.Info("reload: added", "service", def.Name)
			continue
		}
		v.removed = false
		if v.Main || v.same(def) {
			continue
		}
		s.log.Info("reload: changed; restarting", "service", def.Name)
		if startFirst(def) && v.mayReplace() {
			steps = append(steps, step{v, def})
			continue
		}
		if v.alive() {
			v.next = def
			if v.Job == nil { // a job's run finishes; the new definition applies after it
				s.signalStop(v, v.StopSignal)
			}
			continue
		}
		v.Service = def
		v.rearm()
	}
	for _, v := range slices.Clone(s.order) {
		if seen[v.Name] || v.Main {
			continue
		}
		s.log.Info("reload: removed; stopping", "service", v.Name)
		if v.alive() {
			v.removed = true
			s.stop(v, v.StopSignal)
			continue
		}
		v.invalidate()
		s.forget(v)
	}
	if s.cfg.Logs != nil {
		defs := make([]*Service, len(s.order))
		for i, v := range s.order {
			defs[i] = v.Service
		}
		s.cfg.Logs.SetWidth(NameWidth(defs))
	}
	s.rescan, s.settledTo = true, 0 // any after or kind may have changed
	if steps != nil {
		s.startRollout(steps, nil)
	}
	s.schedule()
}

// NameWidth is the width service names in log prefixes are aligned to:
// the longest name.
func NameWidth(svcs []*Service) int {
	w := 0
	for _, s := range svcs {
		w = max(w, len(s.Name))
	}
	return w
}
