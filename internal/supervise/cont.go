package supervise

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/signals"
)

// stoppedSet is what one /proc listing says about stopped processes: the
// pids in state T (stopped by a signal) and the process groups with at
// least one such member. all means /proc could not tell (another
// namespace's, or unreadable): treat every target as possibly stopped.
type stoppedSet struct {
	pids, groups map[int]bool
	all          bool
}

// has reports whether target (a pid, or -pgid) is stopped, or has a
// stopped member.
func (st *stoppedSet) has(target int) bool {
	if st.all {
		return true
	}
	if target < 0 {
		return st.groups[-target]
	}
	return st.pids[target]
}

// stopped returns the stopped processes of this turn of the event loop:
// one listing of /proc, taken the first time a turn asks (after the
// signal it follows was sent) and reused for the rest of it, so that a
// shutdown stopping a thousand services in one turn reads /proc once. The
// loop drops it at the start of every turn (newTurn).
func (s *Supervisor) stopped() *stoppedSet {
	if s.stoppedNow != nil {
		return s.stoppedNow
	}
	st := &stoppedSet{pids: map[int]bool{}, groups: map[int]bool{}}
	s.stoppedNow = st
	if !proc.OwnNamespace() {
		st.all = true // the pids /proc shows are not ours
		return st
	}
	all, err := s.sys.processes()
	if err != nil {
		s.log.Debug("cannot list processes; sending SIGCONT anyway", "err", err)
		st.all = true
		return st
	}
	for _, p := range all {
		if p.State == 'T' {
			st.pids[p.PID], st.groups[p.PGID] = true, true
		}
	}
	return st
}

// newTurn forgets what the previous turn of the loop read from /proc.
func (s *Supervisor) newTurn() { s.stoppedNow = nil }

// killCont sends sig to target (a pid, or -pgid) and then SIGCONT when
// the target is stopped (for a group: when any member is), as a careful
// init does: a stopped process acts on sig only once it runs again (until
// then it would just wait for the grace's SIGKILL). A running process gets
// exactly sig. SIGCONT never follows a signal that itself stops
// (signals.NeedsCont).
func (s *Supervisor) killCont(target int, sig syscall.Signal) error {
	err := s.sys.kill(target, sig)
	if err == nil && signals.NeedsCont(sig) && s.stopped().has(target) {
		_ = s.sys.kill(target, unix.SIGCONT)
	}
	return err
}
