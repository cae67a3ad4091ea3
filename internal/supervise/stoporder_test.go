package supervise

import (
	"strconv"
	"testing"

	"github.com/tend-sh/tend/internal/config"
	"golang.org/x/sys/unix"
)

// Item 14: stopping a chain of n services costs O(services + edges) of
// stop-order work, not n² or n³.
func TestStopOrderLinear(t *testing.T) {
	for _, n := range []int{10, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			svcs := []*Service{{Service: &config.Service{Name: "s0"}}}
			for i := 1; i < n; i++ {
				svcs = append(svcs, &Service{Service: &config.Service{Name: "s" + strconv.Itoa(i), After: []string{"s" + strconv.Itoa(i-1)}}})
			}
			r := newRig(t, Config{}, svcs...)
			r.s.stopOrderWork = 0
			r.signal(unix.SIGTERM)
			seen := 0 // kills checked so far
			for i := n - 1; i >= 0; i-- {
				v := r.svc("s" + strconv.Itoa(i))
				if got := r.fs.kills[seen:]; len(got) != 1 || got[0] != (killRec{-v.pid, unix.SIGTERM}) {
					t.Fatalf("stopping %s: sent %v, want only SIGTERM to its group %d", v.Name, got, -v.pid)
				}
				seen = len(r.fs.kills)
				r.exitPID(v.pid, 0, unix.SIGTERM)
			}
			r.wantExit(0)
			t.Logf("%d services: %d steps of stop-order work", n, r.s.stopOrderWork)
			// services + edges, with a constant factor's room
			if limit := 10 * (n + n - 1); r.s.stopOrderWork > limit {
				t.Errorf("stopping a chain of %d took %d steps of stop-order work, want at most %d (linear)", n, r.s.stopOrderWork, limit)
			}
		})
	}
}
