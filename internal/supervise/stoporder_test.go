package supervise

import (
	"strconv"
	"testing"
	"time"

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

// Issue 17 item 3: starting a chain of n services that become satisfied
// one at a time (oneshots, each after the one before) costs O(services +
// edges) of start-order work: schedule used to scan every service at
// every exit, n² in all.
// TestStartOrderFanInLinear: one service after n oneshots that finish one
// at a time is looked at after each of them; checking all n of its
// dependencies every time would cost n² steps, the cursor costs n.
func TestStartOrderFanInLinear(t *testing.T) {
	for _, n := range []int{10, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var svcs []*Service
			var after []string
			for i := range n {
				name := "o" + strconv.Itoa(i)
				svcs = append(svcs, &Service{Service: &config.Service{Name: name, Oneshot: true}})
				after = append(after, name)
			}
			svcs = append(svcs, &Service{Service: &config.Service{Name: "app", After: after}})
			r := newRig(t, Config{Hold: true}, svcs...)
			app := r.svc("app")
			for i := range n {
				if app.alive() {
					t.Fatalf("app started before o%d finished", i)
				}
				r.exitPID(r.svc("o"+strconv.Itoa(i)).pid, 0, 0)
			}
			if !app.alive() {
				t.Fatalf("app not started after every oneshot finished (state %s)", app.state)
			}
			t.Logf("%d oneshots: %d steps of start-order work", n, r.s.startWork)
			if limit := 10 * (n + 1 + n); r.s.startWork > limit {
				t.Errorf("starting a service after %d oneshots took %d steps of start-order work, want at most %d (linear)", n, r.s.startWork, limit)
			}
		})
	}
}

// TestFailCascadeLinear: when the head of a chain of n cannot start, the
// failure reaches every service after it, each found through the
// dependents index: linear steps, not a scan of every service per failure.
func TestFailCascadeLinear(t *testing.T) {
	for _, n := range []int{10, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			fs := newFakeSystem()
			fs.fail["s0"] = errNotFound
			svcs := []*Service{{Service: &config.Service{Name: "s0", MaxRestarts: 1}}}
			for i := 1; i < n; i++ {
				svcs = append(svcs, &Service{Service: &config.Service{Name: "s" + strconv.Itoa(i), After: []string{"s" + strconv.Itoa(i-1)}}})
			}
			r := newRigWith(t, fs, Config{Hold: true}, svcs...)
			r.advance(time.Minute)
			for i := range n {
				if v := r.svc("s" + strconv.Itoa(i)); v.state != Failed {
					t.Fatalf("s%d: state %s, want failed", i, v.state)
				}
			}
			t.Logf("%d services: %d steps of start-order work", n, r.s.startWork)
			if limit := 10 * (n + n - 1); r.s.startWork > limit {
				t.Errorf("failing a chain of %d took %d steps of start-order work, want at most %d (linear)", n, r.s.startWork, limit)
			}
		})
	}
}

func TestStartOrderLinear(t *testing.T) {
	for _, n := range []int{10, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			svcs := []*Service{{Service: &config.Service{Name: "s0", Oneshot: true}}}
			for i := 1; i < n; i++ {
				svcs = append(svcs, &Service{Service: &config.Service{Name: "s" + strconv.Itoa(i), Oneshot: true, After: []string{"s" + strconv.Itoa(i-1)}}})
			}
			r := newRig(t, Config{Hold: true}, svcs...)
			for i := range n {
				v := r.svc("s" + strconv.Itoa(i))
				if !v.alive() {
					t.Fatalf("%s not started after s%d finished (state %s)", v.Name, i-1, v.state)
				}
				if i+1 < n {
					if next := r.svc("s" + strconv.Itoa(i+1)); next.alive() {
						t.Fatalf("s%d started before s%d finished", i+1, i)
					}
				}
				r.exitPID(v.pid, 0, 0)
			}
			if !r.s.startupDone {
				t.Errorf("startup not done after every oneshot finished")
			}
			t.Logf("%d services: %d steps of start-order work", n, r.s.startWork)
			if limit := 10 * (n + n - 1); r.s.startWork > limit {
				t.Errorf("starting a chain of %d took %d steps of start-order work, want at most %d (linear)", n, r.s.startWork, limit)
			}
		})
	}
}
