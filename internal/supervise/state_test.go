package supervise

// The state machine without processes: restart policy, dependency gating,
// readiness, stop order and the exit-code decision, driven through the rig
// (fake_test.go).

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
)

const ms = time.Millisecond

// execReady is an exec ready probe: the test decides each attempt's
// outcome by exiting its pid (probePID).
func execReady(timeout time.Duration) *config.Probe {
	return &config.Probe{Kind: config.ProbeExec, Exec: []string{"ready-check"}, Timeout: timeout, Interval: 100 * ms}
}

// probePID is the pid of the named service's running exec probe, 0 if none.
func (r *rig) probePID(name string) int {
	for pid, ref := range r.s.probePIDs {
		if ref.v.Name == name {
			return pid
		}
	}
	return 0
}

// probeResult ends the named service's running exec probe (ok: exit 0).
func (r *rig) probe(name string, ok bool) {
	r.t.Helper()
	pid := r.probePID(name)
	if pid == 0 {
		r.t.Fatalf("%s has no probe running (%s)", name, r.states())
	}
	code := 0
	if !ok {
		code = 1
	}
	r.exitPID(pid, code, 0)
}

func TestRestartPolicy(t *testing.T) {
	tests := []struct {
		restart string
		success []int
		code    int
		sig     syscall.Signal
		want    State // right after the exit
	}{
		{RestartOnFailure, nil, 0, 0, Stopped},
		{RestartOnFailure, nil, 3, 0, Backoff},
		{RestartOnFailure, nil, 0, unix.SIGKILL, Backoff},
		{RestartOnFailure, []int{0, 3}, 3, 0, Stopped},
		{RestartOnFailure, []int{0, 143}, 0, unix.SIGTERM, Stopped}, // 128+15 listed
		{RestartAlways, nil, 0, 0, Backoff},
		{RestartAlways, nil, 3, 0, Backoff},
		{RestartNever, nil, 0, 0, Stopped},
		{RestartNever, nil, 3, 0, Failed},
		{RestartNever, nil, 0, unix.SIGSEGV, Failed},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v/code%d/sig%d", tt.restart, tt.success, tt.code, tt.sig), func(t *testing.T) {
			r := newRig(t, Config{}, &Service{Name: "a", Restart: tt.restart, SuccessCodes: tt.success}, &Service{Name: "other"})
			first := r.pid("a")
			r.exitPID(first, tt.code, tt.sig)
			r.wantStates("a=" + string(tt.want) + " other=running")
			if r.s.phase != running {
				t.Fatalf("a non-critical service's exit changed tend's phase to %d", r.s.phase)
			}
			r.advance(time.Second) // past the first backoff (100ms less jitter)
			if tt.want == Backoff {
				if v := r.svc("a"); !v.alive() || v.pid == first || v.restarts != 1 {
					t.Errorf("not restarted after the backoff: state %s pid %d restarts %d", v.state, v.pid, v.restarts)
				}
			} else if r.svc("a").alive() {
				t.Errorf("restarted although the policy says %s", tt.want)
			}
		})
	}
}

// max_restarts: more restarts than count within the window and the
// service has failed; restarts that have left the window do not count.
func TestMaxRestarts(t *testing.T) {
	tests := []struct {
		name    string
		gap     time.Duration // between a restart and the next crash
		crashes int
		want    State
	}{
		{"burst", 0, 4, Backoff},
		{"burst over the limit", 0, 4 + 1, Failed},
		{"spread beyond the window", 30 * time.Second, 12, Backoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, Config{}, &Service{Name: "a", MaxRestarts: 4, MaxRestartsWithin: time.Minute, BackoffInitial: 10 * ms, BackoffMax: 40 * ms})
			for i := 0; i < tt.crashes; i++ {
				r.advance(tt.gap)
				r.exit("a", 1)
				if i < tt.crashes-1 {
					r.advance(time.Second) // the backoff
				}
			}
			r.wantStates("a=" + string(tt.want))
		})
	}
}

// The backoff doubles for crashes in a row and starts afresh after a run
// longer than its max.
func TestBackoffStreak(t *testing.T) {
	r := newRig(t, Config{}, &Service{Name: "a", BackoffInitial: 100 * ms, BackoffMax: 800 * ms, MaxRestarts: 100})
	delays := func(runFor time.Duration) time.Duration {
		r.advance(runFor)
		r.exit("a", 1)
		t0 := r.fs.clock
		for i := 0; i < 100 && !r.svc("a").alive(); i++ {
			r.advance(10 * ms)
		}
		return r.fs.clock.Sub(t0)
	}
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, delays(0))
	}
	got = append(got, delays(time.Second)) // a healthy run resets the streak
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 800 * ms, 100 * ms}
	for i := range want {
		// 20% jitter off, 10ms steps
		if got[i] > want[i]+10*ms || got[i] < want[i]*8/10 {
			t.Errorf("restart %d after %v, want about %v (all: %v)", i+1, got[i], want[i], got)
		}
	}
}

// A service starts once everything in its after is ready (oneshots: done);
// services waiting for one that failed for good fail too.
func TestDependencyGating(t *testing.T) {
	r := newRig(t, Config{},
		&Service{Name: "db", Ready: execReady(time.Minute)},
		&Service{Name: "migrate", Oneshot: true, After: []string{"db"}},
		&Service{Name: "web", After: []string{"migrate"}},
		&Service{Name: "cron"},
	)
	r.wantStates("db=starting migrate=starting web=starting cron=running")
	if r.svc("migrate").alive() || r.svc("web").alive() {
		t.Fatal("started before db was ready")
	}
	r.probe("db", false)
	r.advance(100 * ms)
	r.probe("db", true)
	r.wantStates("db=ready migrate=starting")
	r.pid("migrate")
	if r.svc("web").alive() {
		t.Fatal("web started before migrate was done")
	}
	r.exit("migrate", 0)
	r.wantStates("migrate=done web=running")
	if !r.s.startupDone {
		t.Error("startup not done with every service settled")
	}
}

func TestDependencyFailureCascades(t *testing.T) {
	r := newRig(t, Config{},
		&Service{Name: "db", Restart: RestartNever, Ready: execReady(time.Minute)},
		&Service{Name: "api", After: []string{"db"}},
		&Service{Name: "web", After: []string{"api"}},
		&Service{Name: "cron"},
	)
	r.exit("db", 3)
	r.wantStates("db=failed api=failed web=failed cron=running")
	if r.s.phase != running {
		t.Errorf("non-critical failures stopped the container (phase %d)", r.s.phase)
	}
}

// Item 1: a ready probe's timer pending when the service leaves
// "starting" (ready timeout, stop, restart, reload) must not run the
// probe as a health check (the service has none: a nil dereference) or at
// all; the container keeps running.
func TestReadyProbeAfterLeavingStarting(t *testing.T) {
	file := func() *config.Probe {
		return &config.Probe{Kind: config.ProbeFile, Path: "/nonexistent/tend-test", Timeout: time.Second, Interval: 100 * ms}
	}
	reloaded := func(r *rig) *Reloaded {
		def := *r.svc("slow").Service
		def.Spec.Env = []string{"CHANGED=1"}
		return &Reloaded{Services: []*Service{&def, r.svc("keeper").Service}, Grace: time.Hour}
	}
	tests := []struct {
		name  string
		probe func() *config.Probe
		act   func(r *rig)
		want  State
	}{
		{"ready timeout", file, func(r *rig) { r.advance(time.Second) }, Failed},
		{"stop", file, func(r *rig) { _ = r.ctl(func() error { return r.s.Stop([]string{"slow"}) }) }, Stopping},
		{"restart", file, func(r *rig) { _ = r.ctl(func() error { return r.s.Restart([]string{"slow"}) }) }, Stopping},
		{"reload", file, func(r *rig) {
			rl := reloaded(r)
			r.s.cfg.Reload = func() (*Reloaded, error) { return rl, nil }
			r.signal(unix.SIGHUP)
		}, Stopping},
		{"ready timeout, exec probe", func() *config.Probe { return execReady(time.Second) }, func(r *rig) {
			r.probe("slow", false)
			r.advance(time.Second)
		}, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, Config{}, &Service{Name: "slow", Ready: tt.probe()}, &Service{Name: "keeper"})
			r.advance(250 * ms) // a few attempts: the next one is pending
			pid := r.pid("slow")
			tt.act(r)
			r.wantStates("slow=" + string(tt.want) + " keeper=running")
			probes := len(r.fs.argv)
			r.advance(5 * time.Second) // every pending probe timer fires
			if r.s.phase != running {
				t.Fatalf("the container is stopping (phase %d)", r.s.phase)
			}
			if n := len(r.fs.argv) - probes; tt.probe().Kind == config.ProbeExec && n > 0 {
				t.Errorf("%d probe(s) started after the service left starting", n)
			}
			if r.fs.alive[pid] {
				r.exitPID(pid, 0, unix.SIGTERM)
			}
			r.wantStates("keeper=running")
		})
	}
}

// A service stops once nothing that depends on it, directly or through
// others, still has a process.
func TestStopOrder(t *testing.T) {
	tests := []struct {
		name  string
		svcs  []*Service
		dead  []string // exited for good before the shutdown
		waves []string // who is signalled together, wave by wave
	}{
		{"chain", []*Service{{Name: "db"}, {Name: "api", After: []string{"db"}}, {Name: "web", After: []string{"api"}}},
			nil, []string{"web", "api", "db"}},
		{"independent together", []*Service{{Name: "a"}, {Name: "b"}, {Name: "c"}}, nil, []string{"a b c"}},
		{"diamond", []*Service{{Name: "db"}, {Name: "l", After: []string{"db"}}, {Name: "r", After: []string{"db"}}, {Name: "top", After: []string{"l", "r"}}},
			nil, []string{"top", "l r", "db"}},
		{"through a finished oneshot", []*Service{{Name: "db"}, {Name: "migrate", Oneshot: true, After: []string{"db"}}, {Name: "web", After: []string{"migrate"}}},
			[]string{"migrate"}, []string{"web", "db"}},
		{"dead middle", []*Service{{Name: "db"}, {Name: "api", After: []string{"db"}, Restart: RestartNever}, {Name: "web", After: []string{"api"}}},
			[]string{"api"}, []string{"web", "db"}},
		{"main first", []*Service{{Name: "db"}, {Name: "cache"}, Main([]string{"app"}, nil, nil, []string{"db", "cache"})},
			nil, []string{"main", "db cache"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, Config{}, tt.svcs...)
			for _, name := range tt.dead {
				r.exit(name, 0)
			}
			r.signal(unix.SIGTERM)
			for i, wave := range tt.waves {
				got := r.signalled()
				if want := fmt.Sprint(splitSorted(wave)); fmt.Sprint(got) != want {
					t.Fatalf("wave %d: signalled %v, want %v", i+1, got, want)
				}
				for _, name := range got {
					r.killed(name, unix.SIGTERM)
				}
			}
			if got := r.signalled(); len(got) > 0 {
				t.Fatalf("signalled %v after the last wave", got)
			}
			r.wantExit(r.s.code())
		})
	}
}

// signalled lists, sorted, the services that are alive and got a signal.
func (r *rig) signalled() []string {
	var out []string
	for _, v := range r.s.order {
		if v.alive() && len(r.sent(v.pid)) > 0 {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out
}

func splitSorted(s string) []string {
	out := strings.Fields(s)
	slices.Sort(out)
	return out
}

// The control API through backend.go: stop is for good, start starts
// afresh, restart comes back.
func TestControlStopStartRestart(t *testing.T) {
	r := newRig(t, Config{}, &Service{Name: "a"}, Main([]string{"app"}, nil, nil, nil))
	first := r.pid("a")
	if err := r.ctl(func() error { return r.s.Stop([]string{"a"}) }); err != nil {
		t.Fatal(err)
	}
	r.wantStates("a=stopping")
	if got := r.sent(first); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Errorf("stop sent %v, want [SIGTERM]", got)
	}
	r.killed("a", unix.SIGTERM)
	r.advance(time.Minute)
	r.wantStates("a=stopped")
	if err := r.ctl(func() error { return r.s.Start([]string{"a"}) }); err != nil {
		t.Fatal(err)
	}
	second := r.pid("a")
	if err := r.ctl(func() error { return r.s.Restart([]string{"a"}) }); err != nil {
		t.Fatal(err)
	}
	r.exitPID(second, 0, unix.SIGTERM)
	if v := r.svc("a"); !v.alive() || v.pid == second || v.state != Running {
		t.Errorf("after restart: state %s pid %d (was %d)", v.state, v.pid, second)
	}
	if err := r.ctl(func() error { return r.s.Stop([]string{"main"}) }); err == nil {
		t.Error("stopping the main was accepted")
	}
	if err := r.ctl(func() error { return r.s.Stop([]string{"nope"}) }); err == nil {
		t.Error("stopping an unknown service was accepted")
	}
	// stop_timeout: SIGKILL to the group.
	if err := r.ctl(func() error { return r.s.Stop([]string{"a"}) }); err != nil {
		t.Fatal(err)
	}
	pid := r.pid("a")
	r.advance(10 * time.Second)
	if got := r.sent(pid); !slices.Equal(got, []syscall.Signal{unix.SIGTERM, unix.SIGKILL}) {
		t.Errorf("after stop_timeout: sent %v, want [SIGTERM SIGKILL]", got)
	}
}

// Health checks: failures in a row restart the service (as a failure);
// a success in between resets the count.
func TestHealthCheck(t *testing.T) {
	h := &config.Probe{Kind: config.ProbeExec, Exec: []string{"health-check"}, Interval: 10 * time.Second, Timeout: 2 * time.Second, Failures: 3}
	r := newRig(t, Config{}, &Service{Name: "a", Health: h})
	pid := r.pid("a")
	for _, ok := range []bool{false, false, true, false, false} {
		r.advance(10 * time.Second)
		r.probe("a", ok)
	}
	if len(r.sent(pid)) != 0 {
		t.Fatalf("stopped after fewer than 3 failures in a row: %v", r.sent(pid))
	}
	r.advance(10 * time.Second)
	r.probe("a", false)
	if got := r.sent(pid); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Fatalf("after 3 failures in a row: sent %v, want [SIGTERM]", got)
	}
	r.exitPID(pid, 0, unix.SIGTERM)
	r.wantStates("a=backoff")
	r.advance(time.Second)
	if v := r.svc("a"); !v.alive() || v.health != "" {
		t.Errorf("not restarted with a fresh health: state %s health %q", v.state, v.health)
	}
}

// A panic concerning one non-critical service fails that service alone;
// one concerning the main, a critical service or the loop as a whole stops
// the container (with CodeInternal when no main decides the code).
func TestFaultContainment(t *testing.T) {
	tests := []struct {
		where  string
		stops  bool   // the container
		victim string // the service failed and stopped
	}{
		{"service a", false, "a"},
		{"probe a", false, "a"},
		{"ready fd a", false, "a"},
		{"log reader a", false, "a"},
		{"service crit", true, ""},
		{"service main", true, ""},
		{"event loop", true, ""},
		{"service gone", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			r := newRig(t, Config{}, &Service{Name: "a"}, &Service{Name: "crit", Critical: true}, Main([]string{"app"}, nil, nil, nil))
			r.do(func() { r.s.onFault(tt.where) })
			if got := r.s.phase != running; got != tt.stops {
				t.Fatalf("container stopping = %v, want %v", got, tt.stops)
			}
			if tt.stops {
				r.drainStops()
				r.wantExit(128 + int(unix.SIGTERM)) // the main's code
				return
			}
			r.wantStates(tt.victim + "=failed crit=running main=running")
			if got := r.sent(r.pid(tt.victim)); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
				t.Errorf("%s got %v, want [SIGTERM]", tt.victim, got)
			}
		})
	}
}
