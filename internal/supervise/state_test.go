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
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/spawn"
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
		{config.RestartOnFailure, nil, 0, 0, Stopped},
		{config.RestartOnFailure, nil, 3, 0, Backoff},
		{config.RestartOnFailure, nil, 0, unix.SIGKILL, Backoff},
		{config.RestartOnFailure, []int{0, 3}, 3, 0, Stopped},
		{config.RestartOnFailure, []int{0, 143}, 0, unix.SIGTERM, Stopped}, // 128+15 listed
		{config.RestartAlways, nil, 0, 0, Backoff},
		{config.RestartAlways, nil, 3, 0, Backoff},
		{config.RestartNever, nil, 0, 0, Stopped},
		{config.RestartNever, nil, 3, 0, Failed},
		{config.RestartNever, nil, 0, unix.SIGSEGV, Failed},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v/code%d/sig%d", tt.restart, tt.success, tt.code, tt.sig), func(t *testing.T) {
			r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "a", Restart: tt.restart, SuccessCodes: tt.success}}, &Service{Service: &config.Service{Name: "other"}})
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
			r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "a", MaxRestarts: 4, MaxRestartsWithin: time.Minute, BackoffInitial: 10 * ms, BackoffMax: 40 * ms}})
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
	r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "a", BackoffInitial: 100 * ms, BackoffMax: 800 * ms, MaxRestarts: 100}})
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
		&Service{Service: &config.Service{Name: "db", Ready: execReady(time.Minute)}},
		&Service{Service: &config.Service{Name: "migrate", Oneshot: true, After: []string{"db"}}},
		&Service{Service: &config.Service{Name: "web", After: []string{"migrate"}}},
		&Service{Service: &config.Service{Name: "cron"}},
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
		&Service{Service: &config.Service{Name: "db", Restart: config.RestartNever, Ready: execReady(time.Minute)}},
		&Service{Service: &config.Service{Name: "api", After: []string{"db"}}},
		&Service{Service: &config.Service{Name: "web", After: []string{"api"}}},
		&Service{Service: &config.Service{Name: "cron"}},
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
			r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "slow", Ready: tt.probe()}}, &Service{Service: &config.Service{Name: "keeper"}})
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
		{"chain", []*Service{{Service: &config.Service{Name: "db"}}, {Service: &config.Service{Name: "api", After: []string{"db"}}}, {Service: &config.Service{Name: "web", After: []string{"api"}}}},
			nil, []string{"web", "api", "db"}},
		{"independent together", []*Service{{Service: &config.Service{Name: "a"}}, {Service: &config.Service{Name: "b"}}, {Service: &config.Service{Name: "c"}}}, nil, []string{"a b c"}},
		{"diamond", []*Service{{Service: &config.Service{Name: "db"}}, {Service: &config.Service{Name: "l", After: []string{"db"}}}, {Service: &config.Service{Name: "r", After: []string{"db"}}}, {Service: &config.Service{Name: "top", After: []string{"l", "r"}}}},
			nil, []string{"top", "l r", "db"}},
		{"through a finished oneshot", []*Service{{Service: &config.Service{Name: "db"}}, {Service: &config.Service{Name: "migrate", Oneshot: true, After: []string{"db"}}}, {Service: &config.Service{Name: "web", After: []string{"migrate"}}}},
			[]string{"migrate"}, []string{"web", "db"}},
		{"dead middle", []*Service{{Service: &config.Service{Name: "db"}}, {Service: &config.Service{Name: "api", After: []string{"db"}, Restart: config.RestartNever}}, {Service: &config.Service{Name: "web", After: []string{"api"}}}},
			[]string{"api"}, []string{"web", "db"}},
		{"main first", []*Service{{Service: &config.Service{Name: "db"}}, {Service: &config.Service{Name: "cache"}}, Main([]string{"app"}, nil, nil, []string{"db", "cache"})},
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
	r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "a"}}, Main([]string{"app"}, nil, nil, nil))
	first := r.pid("a")
	if err := r.ctl(func() error { return r.s.Stop([]string{"a"}) }); err != nil {
		t.Fatal(err)
	}
	r.wantStates("a=stopping")
	if got := r.sent(first); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Errorf("stop sent %v, want [SIGTERM]", got)
	}
	// Nothing of it is stopped (/proc): no SIGCONT follows (TestStopCont).
	if len(r.fs.conts) != 0 {
		t.Errorf("SIGCONTs after the stop signal to a running group: %v, want none", r.fs.conts)
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
	r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "a", Health: h}})
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
		{"service gone", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "a"}}, &Service{Service: &config.Service{Name: "crit", Critical: true}}, Main([]string{"app"}, nil, nil, nil))
			r.do(func() { r.s.onFault(tt.where) })
			if got := r.s.phase != running; got != tt.stops {
				t.Fatalf("container stopping = %v, want %v", got, tt.stops)
			}
			if tt.stops {
				r.drainStops()
				r.wantExit(128 + int(unix.SIGTERM)) // the main's code
				return
			}
			if tt.victim == "" {
				r.wantStates("a=running crit=running main=running")
				return
			}
			r.wantStates(tt.victim + "=failed crit=running main=running")
			if got := r.sent(r.pid(tt.victim)); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
				t.Errorf("%s got %v, want [SIGTERM]", tt.victim, got)
			}
		})
	}
}

// SIGHUP: added services start, removed ones stop and are forgotten,
// changed ones restart with the new definition, unchanged ones are not
// touched.
func TestReload(t *testing.T) {
	r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "same"}}, &Service{Service: &config.Service{Name: "changed"}}, &Service{Service: &config.Service{Name: "removed"}})
	same, changed, removed := r.pid("same"), r.pid("changed"), r.pid("removed")
	defs := []*Service{{Service: &config.Service{Name: "same"}}, {Service: &config.Service{Name: "changed"}, Spec: spawnArgv("changed", "--new")}, {Service: &config.Service{Name: "added"}}}
	for _, d := range defs {
		defaults(d)
	}
	r.s.cfg.Reload = func() (*Reloaded, error) { return &Reloaded{Services: defs, Grace: time.Minute}, nil }
	r.signal(unix.SIGHUP)
	r.wantStates("same=running changed=stopping removed=stopping added=running")
	if len(r.sent(same)) != 0 {
		t.Errorf("unchanged service signalled: %v", r.sent(same))
	}
	r.exitPID(changed, 0, unix.SIGTERM)
	r.exitPID(removed, 0, unix.SIGTERM)
	if r.s.byName["removed"] != nil {
		t.Error("removed service not forgotten after its exit")
	}
	if v := r.svc("changed"); !v.alive() || !slices.Equal(r.fs.argv[v.pid], []string{"changed", "--new"}) {
		t.Errorf("changed service not restarted with its new argv: %v", r.fs.argv[v.pid])
	}
	if r.s.cfg.Grace != time.Minute {
		t.Errorf("grace %v after reload, want 1m", r.s.cfg.Grace)
	}
	// An invalid file keeps everything.
	r.s.cfg.Reload = func() (*Reloaded, error) { return nil, fmt.Errorf("tend.toml:3: bad") }
	before := r.states()
	r.signal(unix.SIGHUP)
	if got := r.states(); got != before {
		t.Errorf("a failed reload changed %q to %q", before, got)
	}
}

func spawnArgv(argv ...string) spawn.Spec { return spawn.Spec{Argv: argv} }

// --hold: the main failing keeps tend (and the other services) running
// until SIGTERM; the code is still the main's.
func TestHold(t *testing.T) {
	r := newRig(t, Config{Hold: true}, &Service{Service: &config.Service{Name: "side"}}, Main([]string{"app"}, nil, nil, nil))
	r.exit("main", 3)
	if r.s.phase != holding {
		t.Fatalf("phase %d, want holding", r.s.phase)
	}
	if done, _ := r.finished(); done || len(r.sent(r.pid("side"))) != 0 {
		t.Fatal("holding, yet finishing or stopping the other services")
	}
	r.signal(unix.SIGTERM)
	r.drainStops()
	r.wantExit(3)
}

// --pre-stop runs first; the services are stopped once it has exited.
func TestPreStopFirst(t *testing.T) {
	r := newRig(t, Config{PreStop: &spawn.Spec{Argv: []string{"pre-stop"}}}, Main([]string{"app"}, nil, nil, nil))
	r.signal(unix.SIGTERM)
	var pre int
	for pid, argv := range r.fs.argv {
		if argv[0] == "pre-stop" {
			pre = pid
		}
	}
	if pre == 0 {
		t.Fatal("pre-stop not started")
	}
	if got := r.sent(r.pid("main")); len(got) != 0 {
		t.Fatalf("main signalled %v before the pre-stop ended", got)
	}
	r.exitPID(pre, 0, 0)
	if got := r.sent(r.pid("main")); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Fatalf("after the pre-stop: main got %v, want [SIGTERM]", got)
	}
	r.killed("main", unix.SIGTERM)
	r.wantExit(143)
}

// A service that cannot be started (not found) exits as 127 would and
// follows its restart policy; tend goes on.
func TestServiceStartFails(t *testing.T) {
	fs := newFakeSystem()
	fs.fail["missing"] = errNotFound
	r := newRigWith(t, fs, Config{}, &Service{Service: &config.Service{Name: "missing", MaxRestarts: 2}}, &Service{Service: &config.Service{Name: "ok"}})
	r.wantStates("missing=backoff ok=running")
	r.advance(time.Minute)
	r.wantStates("missing=failed ok=running")
	if v := r.svc("missing"); v.lastExit == nil || *v.lastExit != 127 {
		t.Errorf("last exit %v, want 127", v.lastExit)
	}
	if r.s.phase != running {
		t.Error("a non-critical service that cannot start stopped the container")
	}
}

// A critical service not ready in time stops the container with 1; a
// oneshot failing after startup does not stop it.
func TestCriticalAndLateOneshot(t *testing.T) {
	r := newRig(t, Config{}, &Service{Service: &config.Service{Name: "db", Critical: true, Ready: execReady(time.Second)}}, &Service{Service: &config.Service{Name: "x"}})
	r.advance(2 * time.Second)
	if r.s.phase != stopping {
		t.Fatalf("critical service not ready in time: phase %d, want stopping", r.s.phase)
	}
	r.drainStops()
	r.wantExit(1)

	r = newRig(t, Config{}, &Service{Service: &config.Service{Name: "x"}})
	r.do(func() {
		def := &Service{Service: &config.Service{Name: "job", Oneshot: true, Restart: config.RestartNever}}
		defaults(def)
		r.s.add(def)
		r.s.schedule()
	})
	r.exit("job", 4)
	r.wantStates("job=failed x=running")
	if r.s.phase != running {
		t.Error("a oneshot failing after startup stopped the container")
	}
}

// A second SIGTERM during the shutdown is forwarded again to the main's
// group; the grace is not extended.
func TestSecondStopSignal(t *testing.T) {
	r := newRig(t, Config{}, Main([]string{"app"}, nil, nil, nil))
	r.signal(unix.SIGTERM)
	grace := r.s.grace
	r.signal(unix.SIGTERM)
	if got := r.sent(r.pid("main")); !slices.Equal(got, []syscall.Signal{unix.SIGTERM, unix.SIGTERM}) {
		t.Errorf("main got %v, want [SIGTERM SIGTERM]", got)
	}
	if r.s.grace != grace {
		t.Error("the second SIGTERM re-armed the grace")
	}
}

// TestStopCont: a stop signal is followed by SIGCONT only when its target
// is stopped (state T in /proc): for a group, when any member is; for the
// main alone (--forward child), when it is. A running process sees
// exactly the signals sent.
func TestStopCont(t *testing.T) {
	for _, tt := range []struct {
		name    string
		toChild bool
		// stopped picks the processes /proc shows in state T, given the
		// main's pid; each entry is {pid, pgid}.
		stopped  func(main int) [][2]int
		wantCont bool
	}{
		{"group, none stopped", false, func(int) [][2]int { return nil }, false},
		{"group, the leader stopped", false, func(m int) [][2]int { return [][2]int{{m, m}} }, true},
		{"group, another member stopped", false, func(m int) [][2]int { return [][2]int{{m + 1000, m}} }, true},
		{"group, a stopped process of another group", false, func(m int) [][2]int { return [][2]int{{m + 1000, m + 1000}} }, false},
		{"child alone, running", true, func(m int) [][2]int { return [][2]int{{m + 1000, m}} }, false},
		{"child alone, stopped", true, func(m int) [][2]int { return [][2]int{{m, m}} }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, Config{ToChild: tt.toChild}, Main([]string{"app"}, nil, nil, nil))
			m := r.pid(MainName)
			target := -m
			if tt.toChild {
				target = m
			}
			r.fs.procs = []proc.Process{{PID: m, PGID: m, State: 'S'}}
			for _, p := range tt.stopped(m) {
				r.fs.procs = append(r.fs.procs, proc.Process{PID: p[0], PGID: p[1], State: 'T'})
			}
			r.signal(unix.SIGTERM)
			if got := r.sent(m); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
				t.Errorf("sent %v, want [SIGTERM]", got)
			}
			var want []killRec
			if tt.wantCont {
				want = []killRec{{target, unix.SIGCONT}}
			}
			if !slices.Equal(r.fs.conts, want) {
				t.Errorf("SIGCONTs %v, want %v", r.fs.conts, want)
			}
			// A second SIGTERM is forwarded again, and the same rule holds.
			r.fs.conts = nil
			r.signal(unix.SIGTERM)
			if !slices.Equal(r.fs.conts, want) {
				t.Errorf("after the second SIGTERM: SIGCONTs %v, want %v", r.fs.conts, want)
			}
		})
	}
}

// TestSweepCont: the shutdown's sweep sends SIGTERM to every process left
// and SIGCONT only to those stopped.
func TestSweepCont(t *testing.T) {
	r := newRig(t, Config{}, Main([]string{"app"}, nil, nil, nil))
	running, stopped := fakePIDBase+100, fakePIDBase+101
	for _, pid := range []int{running, stopped} {
		r.fs.alive[pid] = true // orphans tend adopted (setsid daemons)
	}
	self := r.s.self
	r.fs.procs = []proc.Process{
		{PID: running, PPID: self, PGID: running, State: 'S'},
		{PID: stopped, PPID: self, PGID: stopped, State: 'T'},
	}
	r.exit(MainName, 0)
	if got := r.sent(running); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Errorf("running process: sent %v, want [SIGTERM]", got)
	}
	if got := r.sent(stopped); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Errorf("stopped process: sent %v, want [SIGTERM]", got)
	}
	if want := []killRec{{stopped, unix.SIGCONT}}; !slices.Equal(r.fs.conts, want) {
		t.Errorf("SIGCONTs %v, want %v (the stopped process only)", r.fs.conts, want)
	}
}
