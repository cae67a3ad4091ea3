package supervise

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/cgroup"
	"github.com/tend-sh/tend/internal/quantity"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/status"
)

// OOM kills, named (issue 21). When a batch of exits holds processes that
// died of a SIGKILL tend did not send, the OOM kill counters of the memory
// cgroups they ran in are read (tend's own cgroup's, and the child cgroup
// of a service with limits, cgroup.go): nothing is read at any other time,
// so an idle tend still never wakes up. If a counter rose by k since it
// was last read and m such deaths are counted against it:
//
//   - k >= m: each death is an OOM kill, certain: logged as one, the
//     service's reason becomes "oom-killed" and its oom_kills count grows;
//   - 0 < k < m: each is "possibly OOM (k kills for m deaths)": a warning
//     and the reason "possibly-oom-killed", never counted as certain;
//   - k = 0: a plain SIGKILL (someone's kill -9).
//
// A process that is no service's (an orphan) is reported without a name.
// The counter is incremented before the victim gets its SIGKILL, so a kill
// is always counted by the time its death is reaped; a rise beyond the
// deaths of the batch (a victim not yet reaped) is kept for the next batch
// for surplusWindow, then written off.

// surplusWindow is how long kills counted but not matched with a death
// stay available to later deaths.
const surplusWindow = time.Second

// oomCounter is one cgroup's oom_kill counter as tend consumed it.
type oomCounter struct {
	read   func() (uint64, error)
	limit  func() (int64, error)
	used   uint64 // kills matched with deaths, or written off
	seen   uint64 // value at the last read
	seenAt time.Time
}

func newCounter(read func() (uint64, error), limit func() (int64, error), now time.Time) (*oomCounter, error) {
	v, err := read()
	if err != nil {
		return nil, err
	}
	return &oomCounter{read: read, limit: limit, used: v, seen: v, seenAt: now}, nil
}

// rise reads the counter and returns the kills not yet matched.
func (c *oomCounter) rise(now time.Time) (uint64, error) {
	v, err := c.read()
	if err != nil {
		return 0, err
	}
	if c.seen > c.used && now.Sub(c.seenAt) > surplusWindow {
		c.used = c.seen // kills no death claimed in time
	}
	c.seen, c.seenAt = v, now
	if v < c.used {
		c.used = v // a cgroup made anew
	}
	return v - c.used, nil
}

// oomState is the supervisor's part for OOM kills and limits.
type oomState struct {
	cg        *cgroup.Cgroup // tend's own cgroup (nil: not found)
	container *oomCounter    // nil: no readable memory controller
	children  map[string]*child
	retired   []*cgroup.Child   // former child cgroups not removed yet (reloads)
	reasons   map[string]string // service -> status.Reason* of its last exit
	kills     map[string]uint64 // service -> certain OOM kills

	// tend's own SIGKILLs (a probe's timeout sends one from a timer
	// goroutine: hence the lock).
	mu          sync.Mutex
	killedPIDs  map[int]time.Time
	killedPGIDs map[int]time.Time
	groupKillAt time.Time // the last SIGKILL to a group
	killedAll   bool      // kill(-1, SIGKILL): every death after is tend's doing
}

// killMemory is how long a SIGKILL tend sent explains a death by SIGKILL.
const killMemory = 30 * time.Second

// sentKill notes a SIGKILL tend sends to pid (kill(2)'s meaning of pid).
func (o *oomState) sentKill(pid int, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case pid == -1:
		o.killedAll = true
	case pid < 0:
		if o.killedPGIDs == nil {
			o.killedPGIDs = map[int]time.Time{}
		}
		o.killedPGIDs[-pid] = now
		o.groupKillAt = now
	case pid > 0:
		if o.killedPIDs == nil {
			o.killedPIDs = map[int]time.Time{}
		}
		o.killedPIDs[pid] = now
	}
}

// tendKilled reports whether a death by SIGKILL may be tend's own doing:
// tend SIGKILLed the pid, or the group pgid (a service's: its pid), or
// everything; an orphan's group is not known once it is reaped, so any
// group SIGKILL within killMemory explains an orphan's (pgid 0).
func (o *oomState) tendKilled(pid, pgid int, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	recent := func(t time.Time, ok bool) bool { return ok && now.Sub(t) < killMemory }
	if o.killedAll {
		return true
	}
	if t, ok := o.killedPIDs[pid]; recent(t, ok) {
		return true
	}
	if pgid == 0 {
		return recent(o.groupKillAt, !o.groupKillAt.IsZero())
	}
	t, ok := o.killedPGIDs[pgid]
	return recent(t, ok)
}

// prune forgets SIGKILLs older than killMemory.
func (o *oomState) prune(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range []map[int]time.Time{o.killedPIDs, o.killedPGIDs} {
		for k, t := range m {
			if now.Sub(t) >= killMemory {
				delete(m, k)
			}
		}
	}
}

// killRecorder is the system seam with tend's SIGKILLs noted (Run puts it
// around s.sys).
type killRecorder struct {
	system
	o *oomState
}

func (k killRecorder) kill(pid int, sig syscall.Signal) error {
	if sig == unix.SIGKILL {
		k.o.sentKill(pid, k.system.now())
	}
	return k.system.kill(pid, sig)
}

// initOOM finds tend's cgroup and reads the baseline of its OOM kill
// counter, once, before any service starts.
func (s *Supervisor) initOOM() {
	s.oom.reasons, s.oom.kills, s.oom.children = map[string]string{}, map[string]uint64{}, map[string]*child{}
	s.sys = killRecorder{system: s.sys, o: &s.oom}
	cg, err := cgroup.Self()
	if err != nil {
		s.log.Debug("cannot find tend's cgroup: OOM kills will not be told from other SIGKILLs", "err", err)
		return
	}
	s.oom.cg = cg
	c, err := newCounter(cg.OOMKills, cg.MemoryLimit, s.sys.now())
	if err != nil {
		s.log.Debug("cannot read the OOM kill counter of tend's cgroup: OOM kills will not be told from other SIGKILLs", "err", err)
		return
	}
	s.oom.container = c
}

// death is one exit by a SIGKILL tend did not send.
type death struct {
	pid int
	v   *svc // nil: an orphan (or the pre-stop command)
}

// noteOOM runs first on each batch: it sets the reason of every service
// exit in it and, when some died of a SIGKILL tend did not send, reads
// the counters and reports the OOM kills.
func (s *Supervisor) noteOOM(b reap.Batch) {
	if s.oom.reasons == nil {
		return // not run through Run (unit tests of handlers)
	}
	now := s.sys.now()
	var deaths []death
	for _, e := range b.Exits {
		v := s.byPID[e.PID]
		if v != nil {
			delete(s.oom.reasons, v.Name)
		} else if s.probePIDs[e.PID].v != nil {
			continue
		}
		if !e.Status.Signaled() || e.Status.Signal() != unix.SIGKILL {
			continue
		}
		pgid := 0
		if v != nil {
			pgid = e.PID
		}
		if !s.oom.tendKilled(e.PID, pgid, now) {
			deaths = append(deaths, death{pid: e.PID, v: v})
		}
	}
	s.oom.prune(now)
	if len(deaths) == 0 || s.oom.container == nil {
		return
	}
	// Deaths of services with a child cgroup count against its counter;
	// the others against tend's cgroup's, whose rise includes the
	// children's kills matched here.
	byChild := map[*child][]death{}
	var rest []death
	for _, d := range deaths {
		if d.v != nil && s.oom.children[d.v.Name] != nil {
			ch := s.oom.children[d.v.Name]
			byChild[ch] = append(byChild[ch], d)
		} else {
			rest = append(rest, d)
		}
	}
	k0, err := s.oom.container.rise(now)
	if err != nil {
		s.log.Warn("cannot read the OOM kill counter", "err", err)
		return
	}
	var matchedInChildren uint64
	for ch, ds := range byChild {
		k, err := ch.counter.rise(now)
		if err != nil {
			s.log.Warn("cannot read the OOM kill counter of a service's cgroup", "service", ds[0].v.Name, "err", err)
			continue
		}
		matchedInChildren += s.judge(ch.counter, k, ds)
	}
	k0 -= min(k0, matchedInChildren)
	s.oom.container.used += matchedInChildren
	s.judge(s.oom.container, k0, rest)
}

// judge reports deaths against k kills of counter c and returns how many
// kills it matched.
func (s *Supervisor) judge(c *oomCounter, k uint64, ds []death) uint64 {
	m := uint64(len(ds))
	if k == 0 || m == 0 {
		return 0
	}
	limit := "none"
	if n, err := c.limit(); err == nil && n != cgroup.Unlimited {
		limit = quantity.Format(n)
	}
	certain := k >= m
	for _, d := range ds {
		args := []any{"pid", d.pid, "limit", limit}
		if d.v != nil {
			args = append([]any{"service", d.v.Name}, args...)
		}
		switch {
		case certain && d.v != nil:
			s.oom.reasons[d.v.Name] = status.ReasonOOMKilled
			s.oom.kills[d.v.Name]++
			s.log.Error("service killed by the kernel for lack of memory (OOM)", args...)
		case certain:
			s.log.Error("process killed by the kernel for lack of memory (OOM)", args...)
		default:
			what := "process"
			if d.v != nil {
				what = "service"
				s.oom.reasons[d.v.Name] = status.ReasonPossiblyOOMKilled
			}
			s.log.Warn(fmt.Sprintf("%s died of SIGKILL, possibly OOM (%d kills for %d deaths)", what, k, m), args...)
		}
	}
	used := min(k, m)
	c.used += used
	return used
}

// exitWhy explains a service's exit code: "exited with code 137", with
// what the kernel's OOM killer had to do with it.
func (s *Supervisor) exitWhy(v *svc, code int) string {
	why := fmt.Sprintf("exited with code %d", code)
	switch s.oom.reasons[v.Name] {
	case status.ReasonOOMKilled:
		why += " (killed by the kernel for lack of memory: OOM)"
	case status.ReasonPossiblyOOMKilled:
		why += " (SIGKILL, possibly by the kernel for lack of memory: OOM)"
	}
	return why
}

// oomStateReason, after a failure for good on an exit the OOM judgement
// explained, makes the state's reason that cause ("oom-killed", then
// suffix), as for an exit that is restarted (noteExit); the log line and
// exitWhy keep the long form.
func (s *Supervisor) oomStateReason(v *svc, suffix string) {
	if r := s.oom.reasons[v.Name]; r != "" {
		v.zd.reason = r + suffix
	}
}

// oomAttrs are the log attributes that explain an exit's code, if OOM.
func (s *Supervisor) oomAttrs(v *svc) []any {
	switch s.oom.reasons[v.Name] {
	case status.ReasonOOMKilled:
		return []any{"reason", "killed by the kernel for lack of memory (OOM)"}
	case status.ReasonPossiblyOOMKilled:
		return []any{"reason", "SIGKILL, possibly OOM"}
	}
	return nil
}
