package supervise

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/proc"
)

// forkStorm is the fake system with a fork storm running: every listing
// of /proc shows one process no listing showed before (as a storm forking
// between tend's listing and its kills would).
type forkStorm struct {
	*fakeSystem
	next int
}

func (f *forkStorm) processes() ([]proc.Process, error) {
	f.next++
	pid := fakePIDBase - 1000 - f.next
	f.alive[pid] = true // signalable
	f.procs = append(f.procs, proc.Process{PID: pid, PPID: f.parent, PGID: pid, SID: pid, State: 'R', Comm: "forker"})
	return f.fakeSystem.processes()
}

// README, shutdown step 5: should processes still appear after 10
// listings, tend as PID 1 kills the rest of the namespace at once and says
// "..., and the rest of the namespace (still forking)"; a storm that ends
// within the listings (or tend not PID 1) gets no such words.
func TestShutdownStillForking(t *testing.T) {
	const grace = 5 * time.Second
	for _, tt := range []struct {
		name  string
		storm bool
		pid1  bool
		want  bool
	}{
		{"PID 1, processes still appearing", true, true, true},
		{"PID 1, every process listed", false, true, false},
		{"subreaper, processes still appearing", true, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, logb := shutdownRig(t, Config{Grace: grace}, Main([]string{"app"}, nil, nil, nil))
			r.s.pid1 = tt.pid1
			r.signal(unix.SIGTERM)
			var storm *forkStorm
			if tt.storm {
				storm = &forkStorm{fakeSystem: r.fs}
				r.s.sys = storm
			}
			n := len(r.fs.kills)
			r.advance(grace)
			line := ""
			for l := range strings.Lines(logb.String()) {
				if strings.Contains(l, "grace period 5s expired") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no grace line in the log:\n%s", logb)
			}
			if got := strings.Contains(line, ", and the rest of the namespace (still forking)"); got != tt.want {
				t.Errorf("grace line %q: says still forking %v, want %v", line, got, tt.want)
			}
			killedAll := false
			for _, k := range r.killsSince(n) {
				killedAll = killedAll || (k.pid == -1 && k.sig == unix.SIGKILL)
			}
			if killedAll != tt.pid1 {
				t.Errorf("kill(-1, SIGKILL) sent %v, want %v (PID 1)", killedAll, tt.pid1)
			}
			if tt.storm && storm.next < killPasses {
				t.Errorf("%d listings before giving up, want %d", storm.next, killPasses)
			}
		})
	}
}
