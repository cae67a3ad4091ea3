package supervise

// Per-service usage: what each service's processes cost (CPU seconds,
// resident memory), read from /proc when someone asks ("tend status",
// GET /status, GET /metrics), never on a timer.
//
// The event loop only hands out who belongs to whom (members: the live
// main and probe pids, the process groups and sessions each service led);
// the walk over /proc, one read of /proc/PID/stat per process, runs on
// the asking goroutine, bounded by usageBudget, so a slow /proc never
// holds the loop. A process belongs to a service when, first that holds:
//
//  1. it is the service's main process, a probe of it, or (for the main
//     service) the pre-stop command;
//  2. its process group or session is one the service's process led (a
//     current or one of the last pastGroups leaders; a group number whose
//     pid a newer, unrelated process now holds no longer counts);
//  3. its parent belongs to the service (so a daemon that called setsid
//     still counts while its parent lives);
//  4. an earlier reading found it in the service (same pid and start
//     time): a daemon that double-forked counts as its service's once a
//     reading saw it before its parent exited.
//
// Everything else tend is responsible for (every other process of the
// namespace as PID 1; its descendants as a subreaper) is an orphan whose
// service cannot be told, counted in status.Totals.Orphans.

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tend-sh/tend/internal/cgroup"
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/status"
)

// containerUsage returns the container's own usage and limit, from cg,
// the cgroup tend found at start (initOOM; nil: none): cgroup.Usage, v2
// memory.current, memory.max, cpu.stat; v1 memory.usage_in_bytes,
// memory.limit_in_bytes, cpuacct.usage. nil when nothing is readable. It
// is called on the asking goroutine with every usage reading, never on a
// timer. The cgroup is the one found before tend may have moved itself
// into tend.init (v2 limits), so the figures stay the container's.
func containerUsage(cg *cgroup.Cgroup) *status.Container {
	if cg == nil {
		return nil
	}
	u, err := cg.Usage()
	if err != nil {
		return nil
	}
	var c status.Container
	if u.HasMemory {
		mem := uint64(u.MemoryBytes)
		c.MemoryBytes = &mem
		if u.MemoryLimit != cgroup.Unlimited && u.MemoryLimit > 0 {
			limit := uint64(u.MemoryLimit)
			c.MemoryLimitBytes = &limit
		}
	}
	if u.HasCPU {
		cpu := u.CPUSeconds
		c.CPUSeconds = &cpu
	}
	return &c
}

// usageBudget bounds one walk over /proc: past it the reading is returned
// as it stands, marked incomplete. A walk over 1000 processes takes a few
// milliseconds.
const usageBudget = 2 * time.Second

// pastGroups is how many process groups (or sessions) a service's earlier
// processes led are remembered, for the processes they left behind.
const pastGroups = 4

// usageState is the usage part of the Supervisor. groups is the loop's
// (written at every start); walkMu and seen belong to the asking
// goroutines: one walk at a time, and what the last one attributed.
type usageState struct {
	groups map[*svc][]int // the group/session ids a service's processes led, newest last

	walkMu sync.Mutex
	seen   map[procKey]string // (pid, start time) -> service, from the last walk
	warned atomic.Bool        // the failure to read /proc was logged
}

// procKey names a process across PID reuse.
type procKey struct {
	pid   int
	start uint64
}

// noteGroup records that v's new process pid leads its own process group
// (and, unless it shares tend's, its session). Called on the loop.
func (s *Supervisor) noteGroup(v *svc, pid int, own bool) {
	if !own {
		return
	}
	if s.usage.groups == nil {
		s.usage.groups = map[*svc][]int{}
	}
	g := append(s.usage.groups[v], pid)
	if len(g) > pastGroups {
		g = append(g[:0], g[len(g)-pastGroups:]...)
	}
	s.usage.groups[v] = g
}

// members is the loop's snapshot of who belongs to which service: indexes
// into names.
type members struct {
	names  []string
	pids   map[int]int // main, probe and pre-stop pids
	groups map[int]int // process group / session ids the services led
	self   int
	pid1   bool
	cg     *cgroup.Cgroup // tend's cgroup, found at start: the container's figures
}

// members takes the snapshot; on the loop.
func (s *Supervisor) members() members {
	m := members{pids: map[int]int{}, groups: map[int]int{}, self: s.self, pid1: s.pid1, cg: s.oom.cg}
	idx := make(map[*svc]int, len(s.order))
	for i, v := range s.order {
		idx[v] = i
		m.names = append(m.names, v.Name)
		if v.pid != 0 {
			m.pids[v.pid] = i
		}
	}
	for v, gs := range s.usage.groups {
		i, ok := idx[v]
		if !ok {
			delete(s.usage.groups, v) // removed by a reload
			continue
		}
		for _, g := range gs {
			m.groups[g] = i
		}
	}
	for pid, ref := range s.probePIDs {
		if i, ok := idx[ref.v]; ok {
			m.pids[pid] = i
		}
	}
	if s.preStopPID != 0 && s.main != nil {
		if i, ok := idx[s.main]; ok {
			m.pids[s.preStopPID] = i
		}
	}
	return m
}

// StatusUsage is Status with each service's Usage set, and the orphans'
// (when names is empty) and the container's usage. The loop hands out the
// status and the membership; /proc is read here, on the caller's
// goroutine.
func (s *Supervisor) StatusUsage(names []string) ([]status.ServiceStatus, status.Totals, error) {
	var tot status.Totals
	var m members
	if err := s.call(func() error { m = s.members(); return nil }); err != nil {
		return nil, tot, err
	}
	ss, err := s.Status(names)
	if err != nil {
		return nil, tot, err
	}
	per, orphans, complete, err := s.readUsage(m)
	if err != nil {
		// Said once: every later status request would say it again.
		if !s.usage.warned.Swap(true) {
			s.log.Warn("cannot read the services' usage from /proc; tend status shows none", "err", err)
		}
	} else {
		byName := make(map[string]status.Usage, len(per))
		for i, u := range per {
			byName[m.names[i]] = u
		}
		for i := range ss {
			u := byName[ss[i].Name]
			ss[i].Usage = &u
		}
		if len(names) == 0 {
			tot.Orphans = &orphans
		}
		tot.UsageIncomplete = !complete
	}
	tot.Container = containerUsage(m.cg)
	return ss, tot, nil
}

// errForeignProc: /proc shows another PID namespace's processes.
var errForeignProc = errors.New("/proc belongs to another PID namespace")

// readUsage walks /proc once and sums each process into its service's
// usage (per, indexed like m.names) or the orphans'.
func (s *Supervisor) readUsage(m members) (per []status.Usage, orphans status.Usage, complete bool, err error) {
	if m.pid1 && !proc.OwnNamespace() {
		return nil, orphans, false, errForeignProc
	}
	s.usage.walkMu.Lock()
	defer s.usage.walkMu.Unlock()
	stats, complete, err := s.sys.processStats(usageBudget)
	if err != nil {
		return nil, orphans, false, err
	}
	owner, seen := attribute(m, stats, s.usage.seen)
	s.usage.seen = seen
	per = make([]status.Usage, len(m.names))
	for i, st := range stats {
		if st.PID == m.self || st.State == 'Z' || st.State == 'X' {
			continue
		}
		u := status.Usage{CPUSeconds: st.CPUSeconds(), MemoryBytes: st.MemoryBytes(), Processes: 1}
		switch o := owner[i]; {
		case o >= 0:
			per[o].Add(u)
		case o == orphan:
			orphans.Add(u)
		}
	}
	return per, orphans, complete, nil
}

// Owners attribute gives besides a service's index.
const (
	orphan  = -1 // tend's, service unknown
	notMine = -2 // not tend's (outside its descendants, when not PID 1), or tend itself
)

// attribute decides whose each process of stats is (an index into
// m.names, orphan or notMine), by the rules at the top of this file, and
// returns what it attributed to a service, for the next reading's rule 4.
func attribute(m members, stats []proc.Stat, prev map[procKey]string) ([]int, map[procKey]string) {
	at := make(map[int]int, len(stats)) // pid -> index in stats
	for i, st := range stats {
		at[st.PID] = i
	}
	byName := make(map[string]int, len(m.names))
	for i, n := range m.names {
		byName[n] = i
	}
	// groupOf: whose group or session id g is, unless a process that is
	// not that service's main now holds the pid g (a reused number).
	groupOf := func(g int) (int, bool) {
		i, ok := m.groups[g]
		if !ok {
			return 0, false
		}
		if _, live := at[g]; live {
			if j, main := m.pids[g]; !main || j != i {
				return 0, false
			}
		}
		return i, true
	}
	const unknown, busy = -3, -4
	owner := make([]int, len(stats))
	for i := range owner {
		owner[i] = unknown
	}
	var decide func(i int) int
	decide = func(i int) int {
		switch owner[i] {
		case unknown:
		case busy:
			return orphan // a PPID cycle in a racy snapshot
		default:
			return owner[i]
		}
		owner[i] = busy
		st := stats[i]
		o := orphan
		if st.PID == m.self {
			o = notMine
		} else if j, ok := m.pids[st.PID]; ok {
			o = j
		} else if j, ok := groupOf(st.PGID); ok {
			o = j
		} else if j, ok := groupOf(st.SID); ok {
			o = j
		} else if p, ok := at[st.PPID]; ok && st.PPID != m.self && decide(p) >= 0 {
			o = owner[p]
		} else if j, ok := byName[prev[procKey{st.PID, st.StartTime}]]; ok {
			o = j
		} else if !m.pid1 && !descends(st, at, stats, m.self) {
			o = notMine
		}
		owner[i] = o
		return o
	}
	seen := make(map[procKey]string)
	for i, st := range stats {
		if o := decide(i); o >= 0 {
			seen[procKey{st.PID, st.StartTime}] = m.names[o]
		}
	}
	return owner, seen
}

// descends reports whether st is a descendant of self in stats (for a
// subreaper: only those are tend's).
func descends(st proc.Stat, at map[int]int, stats []proc.Stat, self int) bool {
	for range len(stats) {
		if st.PPID == self {
			return true
		}
		i, ok := at[st.PPID]
		if !ok {
			return false
		}
		st = stats[i]
	}
	return false
}
