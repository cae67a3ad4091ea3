package supervise

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/control"
	"github.com/tend-sh/tend/internal/status"
)

// The Supervisor is the control socket's and HTTP API's control.Backend.
// Every call runs on the event loop (posted on s.reqs), so the loop stays
// the only owner of the services' state.
var _ control.Backend = (*Supervisor)(nil)

// errExiting answers calls that arrive after the loop has ended.
var errExiting = errors.New("tend is exiting")

// call runs f on the event loop and returns its error.
func (s *Supervisor) call(f func() error) error {
	if s.inline {
		return f()
	}
	errc := make(chan error, 1)
	select {
	case s.reqs <- func() { errc <- f() }:
	case <-s.done:
		return errExiting
	}
	select {
	case err := <-errc:
		return err
	case <-s.done:
		return errExiting
	}
}

// lookup resolves names (all services when empty) or names the unknown.
func (s *Supervisor) lookup(names []string) ([]*svc, error) {
	if len(names) == 0 {
		return append([]*svc(nil), s.order...), nil
	}
	var out []*svc
	var unknown []string
	for _, n := range names {
		if v := s.byName[n]; v != nil {
			out = append(out, v)
		} else if g := s.group(n); g != nil { // every instance of replicas
			out = append(out, g...)
		} else {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, control.UnknownServiceError(unknown...)
	}
	return out, nil
}

// Status reports the named services (all when names is empty).
func (s *Supervisor) Status(names []string) ([]status.ServiceStatus, error) {
	var out []status.ServiceStatus
	err := s.call(func() error {
		vs, err := s.lookup(names)
		for _, v := range vs {
			out = append(out, status.ServiceStatus{
				Name: v.Name, State: v.state, PID: v.pid, Since: v.since, Started: v.started,
				Restarts: v.restarts, LastExit: v.lastExit, Ready: v.satisfied(),
				Health: v.health, Oneshot: v.Oneshot, Job: v.jobStatus(),
				ExitReason: s.oom.reasons[v.Name], OOMKills: s.oom.kills[v.Name],
				StatusText: v.zd.statusText, Reason: v.zd.reason, NotifyRejected: v.rejectedCount(),
			})
			if v.ReplicaOf != "" {
				i := v.Replica
				out[len(out)-1].ReplicaOf, out[len(out)-1].Replica = v.ReplicaOf, &i
			}
		}
		return err
	})
	return out, err
}

// Start starts stopped or failed services (their restart limit afresh),
// once their dependencies are ready.
func (s *Supervisor) Start(names []string) error {
	return s.each(names, func(v *svc) {
		if !v.alive() && v.state != Backoff {
			v.zd.reason = "started by user"
			v.fresh()
		}
	})
}

// Stop stops services for good (until started again).
func (s *Supervisor) Stop(names []string) error {
	return s.each(names, func(v *svc) { v.zd.reason = "stopped by user"; s.stop(v, v.StopSignal) })
}

// Restart stops running services and starts them again; others it starts.
// Running start-first services (update.go) are replaced one at a time,
// and Restart returns once they are, with an error naming each one whose
// new process did not get ready.
func (s *Supervisor) Restart(names []string) error {
	done, err := s.restart(names)
	if err != nil || done == nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-s.done:
		return errExiting
	}
}

// each applies f to the named services on the loop; the main service is
// the container's own and is not started or stopped this way.
func (s *Supervisor) each(names []string, f func(v *svc)) error {
	return s.call(func() error {
		if s.phase != running {
			return errors.New("tend is shutting down")
		}
		vs, err := s.lookup(names)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if v.Main {
				return errors.New("the main service is the container's own: use tend shutdown")
			}
		}
		for _, v := range vs {
			f(v)
		}
		s.schedule()
		return nil
	})
}

// Signal sends sig to a running service's process group.
func (s *Supervisor) Signal(name string, sig syscall.Signal) error {
	return s.call(func() error {
		vs, err := s.lookup([]string{name})
		if err != nil {
			return err
		}
		sent := false // to every running instance of replicas
		for _, v := range vs {
			if v.alive() {
				if err := s.sys.kill(v.sigTarget(), sig); err != nil {
					return err
				}
				sent = true
			}
		}
		if !sent {
			return errors.New(name + " is not running")
		}
		return nil
	})
}

// Shutdown starts the container's shutdown as SIGTERM to tend would.
func (s *Supervisor) Shutdown() error {
	return s.call(func() error {
		s.containerStop(unix.SIGTERM, 0, false, "tend shutdown")
		return nil
	})
}

// ShuttingDown reports whether the shutdown has begun (or tend is exiting).
func (s *Supervisor) ShuttingDown() bool {
	var yes bool
	if err := s.call(func() error { yes = s.phase >= stopping; return nil }); err != nil {
		return true
	}
	return yes
}

// Counters reports orphans reaped and signals forwarded so far.
func (s *Supervisor) Counters() (orphans, forwarded uint64) {
	_ = s.call(func() error {
		orphans, forwarded = s.stats.OrphansReaped, s.stats.SignalsForwarded
		return nil
	})
	return orphans, forwarded
}
