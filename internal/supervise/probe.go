package supervise

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/httpget"

	"github.com/tend-sh/tend/internal/safe"
)

// A probe is a ready check (while the service is starting) or a health
// check (once it runs). tcp and http checks run in a goroutine of their
// own; exec checks are processes started by the loop and reaped by the
// reaper like any other; file checks are a stat. Results come back to the
// loop as probeResults; a result for an earlier run (gen) is ignored.
// Nothing polls between checks: each check arms one timer for the next.

type probeRef struct {
	v      *svc
	gen    int
	health bool
	kill   timer
}

type probeResult struct {
	v      *svc
	gen    int
	health bool
	ok     bool
	err    string
}

// attemptTimeout bounds one ready check (the probe's Timeout is the total
// time allowed to become ready).
const attemptTimeout = time.Second

// startReadyProbe begins checking whether v is ready.
func (s *Supervisor) startReadyProbe(v *svc) {
	if v.Ready.Kind == config.ProbeNotify {
		return // READY=1 comes over its NOTIFY_SOCKET (onNotify)
	}
	if v.Ready.Kind == config.ProbeFD {
		r, gen := v.readyFD, v.gen
		if r == nil {
			return // the pipe could not be made: the ready timeout decides
		}
		safe.Go("ready fd "+v.Name, func() {
			_, err := bufio.NewReader(r).ReadString('\n')
			res := probeResult{v: v, gen: gen, ok: err == nil}
			if err != nil {
				res.err = "fd " + err.Error()
			}
			select {
			case s.probes <- res:
			case <-s.done:
			}
		})
		return
	}
	s.probe(v, false)
}

// probe runs one check of v: its ready probe, or its health check when
// health is set. The caller checked v.probing(health).
func (s *Supervisor) probe(v *svc, health bool) {
	v.probeTimer = nil
	p, timeout := v.Ready, attemptTimeout
	if health {
		p, timeout = v.Health, v.Health.Timeout
	}
	res := probeResult{v: v, gen: v.gen, health: health}
	switch p.Kind {
	case config.ProbeFile:
		_, err := os.Stat(p.Path)
		res.ok = err == nil
		s.onProbe(res)
	case config.ProbeExec:
		spec := v.Spec
		spec.Argv = p.Exec
		spec.Files = []uintptr{s.devNull(), s.devNull(), s.devNull()}
		pid, err := s.sys.start(&spec)
		if err != nil {
			res.err = err.Error()
			s.onProbe(res)
			return
		}
		s.childless = false
		ref := probeRef{v: v, gen: v.gen, health: health}
		ref.kill = s.sys.afterFunc(timeout, func() { _ = s.sys.kill(-pid, unix.SIGKILL) })
		s.probePIDs[pid] = ref
	default:
		safe.Go("probe "+v.Name, func() {
			res.ok, res.err = check(p, timeout)
			select {
			case s.probes <- res:
			case <-s.done:
			}
		})
	}
}

// check runs one tcp or http check.
func check(p *config.Probe, timeout time.Duration) (bool, string) {
	switch p.Kind {
	case config.ProbeTCP:
		c, err := net.DialTimeout("tcp", p.Address, timeout)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	case config.ProbeHTTP:
		// 2xx is success; redirects are not followed (3xx fails).
		code, err := httpget.Get(timeout, p.URL)
		if err != nil {
			return false, err.Error()
		}
		if code < 200 || code > 299 {
			return false, "HTTP status " + strconv.Itoa(code)
		}
		return true, ""
	}
	return false, "unsupported probe " + p.Kind
}

func (s *Supervisor) onProbeExit(pid int, status unix.WaitStatus) {
	ref := s.probePIDs[pid]
	delete(s.probePIDs, pid)
	ref.kill.Stop()
	res := probeResult{v: ref.v, gen: ref.gen, health: ref.health, ok: status.Exited() && status.ExitStatus() == 0}
	if !res.ok {
		res.err = "exit status " + strconv.Itoa(status.ExitStatus())
	}
	s.onProbe(res)
}

// onProbe acts on one check's result.
func (s *Supervisor) onProbe(r probeResult) {
	v := r.v
	if r.gen != v.gen || !v.probing(r.health) {
		return // from an earlier run, or the service left the state it was for
	}
	if !r.health {
		if r.ok {
			s.becameReady(v, Ready)
			return
		}
		s.log.Debug("not ready yet", "service", v.Name, "err", r.err)
		if v.Ready.Kind != config.ProbeFD {
			v.probeTimer = s.after(v.Ready.Interval, v, tReadyProbe)
		}
		return
	}
	if r.ok {
		if v.health != "healthy" && v.fails > 0 {
			s.log.Info("healthy again", "service", v.Name)
		}
		v.health, v.fails = "healthy", 0
	} else {
		v.fails++
		s.log.Warn("health check failed", "service", v.Name, "failures", v.fails, "of", v.Health.Failures, "err", r.err)
		if v.fails >= v.Health.Failures {
			v.health, v.unhealthy = "unhealthy", true
			s.log.Error("service unhealthy; restarting", "service", v.Name)
			s.signalStop(v, v.StopSignal)
			return
		}
	}
	v.probeTimer = s.after(v.Health.Interval, v, tHealthProbe)
}
