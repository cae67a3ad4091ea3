package supervise

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/cgroup"
	"github.com/tend-sh/tend/internal/config"
)

// Limits (memory_max, cpu_max, pids_max): each service with any runs in a
// child cgroup of its own, tend.NAME beside tend's cgroup's other
// children, with those limits. How a process gets there:
//   - cgroup v2: clone3 with CLONE_INTO_CGROUP (SysProcAttr.UseCgroupFD):
//     the child is in its cgroup from its first instruction;
//   - cgroup v1 (no such flag): its pid is written into the child's
//     cgroup.procs right after the fork returns, before the loop does
//     anything else. What the program does in those microseconds stays
//     charged to tend's cgroup; its own children, forked after, are in
//     the service's. (The listen trampoline could write it before the
//     exec, but it runs as the service's user, who may not write there.)
//
// A service asking for a limit where none can be enforced is an error at
// start (tend exits 2): never run unenforced. The child cgroups are
// removed when tend exits (rmdir; the kernel refuses while a process is
// still in one).

// CodeLimits is tend's exit code when a service's limits cannot be
// enforced: a configuration that cannot run here, as a usage error.
const CodeLimits = 2

// child is a service's child cgroup and its OOM kill counter.
type child struct {
	cg      *cgroup.Child
	limits  cgroup.Limits
	counter *oomCounter
}

// limitsOf is the cgroup limits a service's definition asks for: the one
// translation of its limit keys, for starts and for tend check.
func limitsOf(cs *config.Service) cgroup.Limits {
	return cgroup.Limits{MemoryMax: cs.MemoryMax, CPUMax: cs.CPUMax, PidsMax: cs.PidsMax}
}

// LimitsError is a service's limit that cannot be enforced here.
type LimitsError struct {
	Service string
	Keys    []string
	Why     string
}

func (e *LimitsError) Error() string {
	return fmt.Sprintf("service %s: %s: cannot be enforced here: %s; tend does not run a service without the limits it asks for", e.Service, strings.Join(e.Keys, ", "), e.Why)
}

// CanLimit reports, for `tend check` and the start, whether the limits of
// a service with keys could be enforced where tend runs now: nil if yes.
func CanLimit(l cgroup.Limits) error {
	cg, err := cgroup.Self()
	if err != nil {
		return fmt.Errorf("cannot find tend's cgroup: %v", err)
	}
	return cg.CanLimit(l)
}

// setupLimits creates the child cgroups of the services with limits,
// before any starts. It reports false, having said why, when one cannot.
func (s *Supervisor) setupLimits() bool {
	for _, v := range s.order {
		if !v.HasLimits() {
			continue
		}
		if _, err := s.cgroupFor(v); err != nil {
			s.log.Error(err.Error())
			return false
		}
	}
	return true
}

// cgroupFor returns v's child cgroup with its current limits, creating it
// (or rewriting its limits after a reload changed them); nil for a
// service without limits.
func (s *Supervisor) cgroupFor(v *svc) (*child, error) {
	if !v.HasLimits() {
		// A reload took its limits away: its deaths are no longer
		// judged by that cgroup's counter, and the cgroup goes.
		s.dropCgroup(v.Name)
		return nil, nil
	}
	l := limitsOf(v.Service.Service)
	if ch := s.oom.children[v.Name]; ch != nil && ch.limits == l {
		return ch, nil
	}
	fail := func(why string) (*child, error) {
		return nil, &LimitsError{Service: v.Name, Keys: v.LimitKeys(), Why: why}
	}
	if s.oom.cg == nil {
		return fail("tend's cgroup was not found (/proc/self/cgroup, /proc/self/mountinfo)")
	}
	if err := s.oom.cg.CanLimit(l); err != nil {
		return fail(err.Error())
	}
	cg, err := s.oom.cg.NewChild(v.Name, l)
	if err != nil {
		return fail(err.Error())
	}
	ch := &child{cg: cg, limits: l}
	if l.MemoryMax > 0 {
		if ch.counter, err = newCounter(cg.OOMKills, cg.MemoryLimit, s.sys.now()); err != nil {
			s.log.Warn("cannot read the OOM kill counter of a service's cgroup", "service", v.Name, "err", err)
		}
	}
	if old := s.oom.children[v.Name]; old != nil {
		// The limits changed: the directories no longer used (a v1
		// hierarchy whose limit was dropped) go now or at exit.
		s.retire(old.cg, cg.Dirs)
	}
	s.oom.children[v.Name] = ch
	s.log.Debug("service cgroup", "service", v.Name, "dirs", strings.Join(cg.Dirs, " "))
	return ch, nil
}

// placeInCgroup puts a just-started process into its cgroup where the
// fork could not (v1). A process that cannot be placed is SIGKILLed: it
// must not run without its limits.
func (s *Supervisor) placeInCgroup(v *svc, ch *child, pid int) error {
	if ch == nil || ch.cg.FD() > 0 {
		return nil
	}
	if err := ch.cg.Add(pid); err != nil {
		_ = s.sys.kill(pid, unix.SIGKILL)
		return &LimitsError{Service: v.Name, Keys: v.LimitKeys(), Why: "its process could not be placed in its cgroup: " + err.Error()}
	}
	return nil
}

// dropCgroup removes the child cgroup of a service that no longer has one
// (a reload removed the service or its limits).
func (s *Supervisor) dropCgroup(name string) {
	if ch := s.oom.children[name]; ch != nil {
		delete(s.oom.children, name)
		s.retire(ch.cg, nil)
	}
}

// retire removes the directories of old that are not in keep now; those
// the kernel refuses to remove yet (a process of the service still in
// one) are removed when tend exits.
func (s *Supervisor) retire(old *cgroup.Child, keep []string) {
	old.Close()
	old.Dirs = slices.DeleteFunc(old.Dirs, func(d string) bool { return slices.Contains(keep, d) })
	if len(old.Dirs) == 0 {
		return
	}
	if err := old.Remove(); err != nil {
		s.log.Debug("a service's former cgroup is removed at exit", "dirs", strings.Join(old.Dirs, " "), "err", err)
		s.oom.retired = append(s.oom.retired, old)
	}
}

// removeCgroups removes the child cgroups tend made, once everything has
// exited.
func (s *Supervisor) removeCgroups() {
	for name, ch := range s.oom.children {
		if err := ch.cg.Remove(); err != nil {
			s.log.Warn("cannot remove a service's cgroup", "service", name, "err", err)
		}
	}
	for _, old := range s.oom.retired {
		if err := old.Remove(); err != nil {
			s.log.Warn("cannot remove a service's former cgroup", "err", err)
		}
	}
}

// LimitWarnings says, for `tend check`, which services' limits could not
// be enforced where tend runs now (a warning only: an image may be
// checked where it will not run), or that they could.
func LimitWarnings(services []*config.Service) []string {
	var out []string
	for _, cs := range services {
		if !cs.HasLimits() {
			continue
		}
		if err := CanLimit(limitsOf(cs)); err != nil {
			out = append(out, "warning: "+(&LimitsError{Service: cs.Name, Keys: cs.LimitKeys(), Why: err.Error()}).Error())
		} else {
			out = append(out, "note: service "+cs.Name+": "+strings.Join(cs.LimitKeys(), ", ")+": can be enforced here (child cgroup)")
		}
	}
	return out
}
