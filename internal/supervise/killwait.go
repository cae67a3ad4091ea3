package supervise

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/safe"
)

// afterKillWait runs when KillWait has passed since the grace's SIGKILL
// and tend is still not finished. It first handles the exits the reaper
// has already delivered (they may be queued behind the timer: under load
// a whole shutdown's worth of reaps can still be in the channel), then
// says what /proc shows is really left, and tend exits.
func (s *Supervisor) afterKillWait() {
	for drained := false; !drained; {
		select {
		case b := <-s.events:
			safe.Run("event loop", func() { s.onBatch(b) })
		default:
			drained = true
		}
	}
	if s.finished() {
		s.log.Info("all processes exited", "code", s.code())
		return
	}
	if s.pid1 && !proc.OwnNamespace() {
		s.log.Warn("cannot tell whether processes are left after SIGKILL (no /proc of this namespace); exiting anyway", "waited", KillWait)
		return
	}
	procs := s.mine()
	if s.cfg.SingleChild {
		// Only what tend started was killed; the rest is left alone.
		procs = slices.DeleteFunc(procs, func(p proc.Process) bool {
			return p.PID != s.mainPID() && p.PID != s.preStopPID
		})
	}
	if msg, left := leftAfterKill(procs, KillWait.String()); left {
		s.log.Warn(msg)
	} else {
		s.log.Info(msg)
	}
}

// leftMax bounds the processes leftAfterKill names.
const leftMax = 10

// leftAfterKill describes what the listing procs (every process tend is
// responsible for, zombies included) says is left waited after the
// grace's SIGKILL, and whether anything is: processes alive (still
// exiting, in uninterruptible sleep, or forked after the last kill), named
// with their state,
// and dead ones tend has not reaped yet (zombies), counted. A zombie holds
// no memory, file or port any more; when tend exits, the kernel reaps
// its zombies (as PID 1, together with its namespace) or hands them to
// the next subreaper or init, which does.
func leftAfterKill(procs []proc.Process, waited string) (msg string, left bool) {
	var live []proc.Process
	zombies := 0
	for _, p := range procs {
		if p.State == 'Z' {
			zombies++
		} else {
			live = append(live, p)
		}
	}
	switch {
	case len(live) == 0 && zombies == 0:
		return "all processes killed at the grace have exited; exiting anyway, " + waited + " after SIGKILL, before every reap was reported", false
	case len(live) == 0:
		return fmt.Sprintf("%d process(es) killed at the grace are dead but not yet reaped (zombies) %s after SIGKILL; exiting anyway: they are reaped when tend exits", zombies, waited), true
	}
	names := make([]string, 0, min(len(live), leftMax))
	for i, p := range live {
		if i == leftMax {
			names = append(names, "... "+strconv.Itoa(len(live)-leftMax)+" more")
			break
		}
		names = append(names, fmt.Sprintf("%d [%s] state %c", p.PID, p.Comm, p.State))
	}
	return fmt.Sprintf("%d process(es) still alive %s after SIGKILL (exiting, in uninterruptible sleep: state D, or forked after the last kill) and %d dead but not yet reaped (zombies); exiting anyway: %s",
		len(live), waited, zombies, strings.Join(names, ", ")), true
}
