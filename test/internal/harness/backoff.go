package harness

import (
	"fmt"
	"strings"
	"time"
)

// CheckBackoff checks the gaps between a service's start records against
// its backoff: initial, doubling up to max while it keeps failing (initial
// each time when it exits 0), up to 20% jitter taken off. tend starts the
// doubling afresh after a run that lasted at least max (a healthy run),
// and on a loaded machine a slow start makes a crash-looping run that
// long: at a load average of ~35, run 2 of a failing service lasted over
// 1 s (gaps 2.107s 817ms 175ms 392ms 687ms), tend rightly restarted the
// doubling, and a check without resets reported restarts 3 to 5 as too
// early. So a reset is accepted at restart i only when the records allow
// run i to have lasted max: it began after the previous restart's backoff
// and ended before this one's, so it lasted at most
// starts[i] - floor(initial) - (starts[i-2] + floor(previous backoff)).
// Every sequence of resets the records allow is followed; the gaps are
// wrong when none fits.
func CheckBackoff(starts []time.Time, failing bool, initial, max time.Duration) []string {
	floor := func(d time.Duration) time.Duration { return d*8/10 - 10*time.Millisecond }
	type state struct {
		streak int           // failed runs in a row, as tend counts them
		prev   time.Duration // the backoff before the current run
	}
	states := map[state]bool{{0, 0}: true}
	for i := 1; i < len(starts); i++ {
		gap := starts[i].Sub(starts[i-1])
		next := map[state]bool{}
		var wants []string
		for st := range states {
			want := initial
			if failing {
				want = min(initial<<st.streak, max)
			}
			wants = append(wants, want.String())
			if gap >= floor(want) {
				next[state{st.streak + 1, want}] = true
			}
			if failing && i >= 2 && st.streak > 0 && gap >= floor(initial) {
				ranAtMost := starts[i].Add(-floor(initial)).Sub(starts[i-2].Add(floor(st.prev)))
				if ranAtMost >= max {
					next[state{1, initial}] = true // a healthy run: the backoff started afresh
				}
			}
		}
		if len(next) == 0 {
			return []string{fmt.Sprintf("restart %d came %v after the previous start; the backoff is %s (at least 80%%, less 10ms, with jitter; no run before it can have lasted the %v that restarts the doubling)",
				i, gap.Round(time.Millisecond), strings.Join(wants, " or "), max)}
		}
		states = next
	}
	return nil
}
