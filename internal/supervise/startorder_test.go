package supervise

import (
	"strconv"
	"testing"
)

// Issue 17 item 3: starting a chain of n services (each after the one
// before) costs O(services + edges) of scheduling work, not a pass over
// every service for each one that becomes ready (n²). The chain is of
// oneshots, so each link is its own event: the one before exits 0.
func TestStartOrderLinear(t *testing.T) {
	for _, n := range []int{10, 1000, 4000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			svcs := []*Service{{Name: "s0", Oneshot: true}}
			for i := 1; i < n; i++ {
				svcs = append(svcs, &Service{Name: "s" + strconv.Itoa(i), Oneshot: true, After: []string{"s" + strconv.Itoa(i-1)}})
			}
			svcs = append(svcs, &Service{Name: "app", After: []string{"s" + strconv.Itoa(n-1)}})
			r := newRig(t, Config{}, svcs...)
			for i := 0; i < n; i++ {
				v := r.svc("s" + strconv.Itoa(i))
				if !v.alive() {
					t.Fatalf("%s not started after the one before it finished: state %v", v.Name, v.state)
				}
				if i+1 < n && r.svc("s"+strconv.Itoa(i+1)).alive() {
					t.Fatalf("s%d started before %s finished", i+1, v.Name)
				}
				r.exit(v.Name, 0)
			}
			if v := r.svc("app"); !v.alive() || v.state != Running {
				t.Fatalf("app: state %v, pid %d; want running", v.state, v.pid)
			}
			if !r.s.startupDone {
				t.Error("startup not done with every service running")
			}
			t.Logf("%d services: %d steps of start scheduling", n, r.s.scheduleWork)
			// services + edges, with a constant factor's room
			if limit := 10 * (n + 1 + n); r.s.scheduleWork > limit {
				t.Errorf("starting a chain of %d took %d steps of start scheduling, want at most %d (linear)", n, r.s.scheduleWork, limit)
			}
		})
	}
}
