package supervise

// A fake system (processes and clock) and a rig that drives the event
// loop's handlers with it, so the state machine runs in unit tests without
// a process and without waiting.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/spawn"
)

// fakePIDBase is above the kernel's PID_MAX_LIMIT (2^22): a fake pid that
// reached a real kill by mistake could never signal a real process.
const fakePIDBase = 5_000_000

type fakeTimer struct {
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	return was
}

type killRec struct {
	pid int
	sig syscall.Signal
}

// fakeSystem records starts and kills; time moves only when the test
// advances it.
type fakeSystem struct {
	clock   time.Time
	nextPID int
	seq     int
	timers  []*fakeTimer
	argv    map[int][]string // every pid started, its argv
	alive   map[int]bool
	kills   []killRec
	// conts are the SIGCONTs that followed a stop signal to the same
	// target (a stop signal to a stopped target is followed by one, so
	// that it can act on it); kept apart so that kills reads as the
	// decisions.
	conts []killRec
	// procs is what processes() lists (/proc): none unless a test puts
	// some there, e.g. a stopped process (state T).
	procs []proc.Process
	// stats is what processStats() lists (/proc with usage, for tend
	// status): none unless a test puts some there.
	stats []proc.Stat
	// statsCut: the walk ran out of its budget (complete false).
	statsCut bool
	// fail makes a start of this argv[0] fail with the error.
	fail map[string]error
	// listAlive: processes() also lists every live fake process, as
	// tend's child (PPID parent) leading its own group, as /proc would.
	listAlive bool
	parent    int
	// during, when set, runs inside start, as if while the child were
	// between its fork and its exec.
	during func()
	// specs: every pid started, the spec it was started with.
	specs map[int]spawn.Spec
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{
		clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nextPID: fakePIDBase,
		argv: map[int][]string{}, alive: map[int]bool{}, fail: map[string]error{},
	}
}

func (f *fakeSystem) start(spec *spawn.Spec) (int, error) {
	if err := f.fail[spec.Argv[0]]; err != nil {
		return 0, err
	}
	if f.during != nil {
		f.during()
	}
	f.nextPID++
	f.argv[f.nextPID] = spec.Argv
	f.alive[f.nextPID] = true
	if f.specs == nil {
		f.specs = map[int]spawn.Spec{}
	}
	f.specs[f.nextPID] = *spec
	return f.nextPID, nil
}

func (f *fakeSystem) kill(pid int, sig syscall.Signal) error {
	if pid == -1 { // every process tend may signal
		f.kills = append(f.kills, killRec{pid, sig})
		return nil
	}
	target := pid
	if target < 0 {
		target = -target
	}
	if !f.alive[target] {
		return unix.ESRCH
	}
	if n := len(f.kills); sig == unix.SIGCONT && n > 0 && f.kills[n-1].pid == pid && signals.NeedsCont(f.kills[n-1].sig) {
		f.conts = append(f.conts, killRec{pid, sig})
		return nil
	}
	f.kills = append(f.kills, killRec{pid, sig})
	return nil
}

func (f *fakeSystem) now() time.Time { return f.clock }

func (f *fakeSystem) processes() ([]proc.Process, error) {
	out := slices.Clone(f.procs)
	if f.listAlive {
		for _, pid := range slices.Sorted(maps.Keys(f.alive)) {
			if f.argv[pid] == nil {
				continue // not started by tend: listed in procs if at all
			}
			out = append(out, proc.Process{PID: pid, PPID: f.parent, PGID: pid, SID: pid, State: 'S', Comm: f.argv[pid][0]})
		}
	}
	return out, nil
}

func (f *fakeSystem) processStats(time.Duration) ([]proc.Stat, bool, error) {
	return slices.Clone(f.stats), !f.statsCut, nil
}

func (f *fakeSystem) afterFunc(d time.Duration, fn func()) timer {
	f.seq++
	t := &fakeTimer{at: f.clock.Add(d), seq: f.seq, f: fn}
	f.timers = append(f.timers, t)
	return t
}

// due pops the earliest pending timer due at or before until.
func (f *fakeSystem) due(until time.Time) *fakeTimer {
	f.timers = slices.DeleteFunc(f.timers, func(t *fakeTimer) bool { return t.stopped })
	sort.SliceStable(f.timers, func(i, j int) bool {
		a, b := f.timers[i], f.timers[j]
		return a.at.Before(b.at) || a.at.Equal(b.at) && a.seq < b.seq
	})
	if len(f.timers) == 0 || f.timers[0].at.After(until) {
		return nil
	}
	t := f.timers[0]
	f.timers = f.timers[1:]
	t.stopped = true
	return t
}

// rig is a Supervisor on a fakeSystem, its loop driven by the test.
type rig struct {
	t  *testing.T
	s  *Supervisor
	fs *fakeSystem
	// gaveUp: KillWait passed after the grace's SIGKILL; the loop would
	// have returned.
	gaveUp bool
}

func newRig(t *testing.T, cfg Config, svcs ...*Service) *rig {
	t.Helper()
	return newRigWith(t, newFakeSystem(), cfg, svcs...)
}

// newRigWith is newRig on a prepared fake system.
func newRigWith(t *testing.T, fs *fakeSystem, cfg Config, svcs ...*Service) *rig {
	t.Helper()
	for _, v := range svcs {
		defaults(v)
	}
	cfg.Services = svcs
	if cfg.Grace == 0 {
		cfg.Grace = time.Hour // a fake timer: fires only when a test advances the clock that far
	}
	r := &rig{t: t, fs: fs}
	r.s = New(cfg)
	r.s.sys, r.s.inline, r.s.childless = fs, true, true
	t.Cleanup(func() {
		if r.s.grace != nil {
			r.s.grace.Stop()
		}
		close(r.s.done)
	})
	r.do(r.s.schedule)
	return r
}

// defaults fills in what config gives every service.
func defaults(v *Service) {
	if len(v.Spec.Argv) == 0 {
		v.Spec.Argv = []string{v.Name}
	}
	if v.Restart == "" {
		v.Restart = config.RestartOnFailure
	}
	if v.SuccessCodes == nil {
		v.SuccessCodes = []int{0}
	}
	if v.BackoffMax == 0 {
		v.BackoffInitial, v.BackoffMax = 100*time.Millisecond, 30*time.Second
	}
	if v.MaxRestarts == 0 {
		v.MaxRestarts = 5
	}
	if v.MaxRestartsWithin == 0 {
		v.MaxRestartsWithin = time.Minute
	}
	if v.StopSignal == 0 {
		v.StopSignal = unix.SIGTERM
	}
	if v.StopTimeout == 0 {
		v.StopTimeout = 10 * time.Second
	}
	v.Log = config.LogInherit // no output pipes
}

// do runs f as the loop runs a handler (advance after it), then delivers
// whatever it queued for the loop (timer firings, probe results).
func (r *rig) do(f func()) {
	r.t.Helper()
	r.s.newTurn()
	f()
	r.s.advance()
	for {
		select {
		case ev := <-r.s.timers:
			r.s.onTimer(ev)
		case res := <-r.s.probes:
			r.s.onProbe(res)
		case to := <-r.s.timeouts:
			if to == killWaitOver {
				r.s.afterKillWait()
				r.gaveUp = true // the loop would return now
				return
			}
			r.s.onGraceExpired()
		case where := <-r.s.faults:
			r.t.Fatalf("fault queued: %s", where)
		default:
			return
		}
		r.s.advance()
	}
}

// svc is the named service's state.
func (r *rig) svc(name string) *svc {
	r.t.Helper()
	v := r.s.byName[name]
	if v == nil {
		r.t.Fatalf("no service %q", name)
	}
	return v
}

// pid is the named service's running pid; fails if it has none.
func (r *rig) pid(name string) int {
	r.t.Helper()
	v := r.svc(name)
	if !v.alive() {
		r.t.Fatalf("%s has no process (state %s)", name, v.state)
	}
	return v.pid
}

// exitPID reports pid's exit with status (exit code, or a signal when
// sig is set), as the reaper would.
func (r *rig) exitPID(pid int, code int, sig syscall.Signal) {
	r.t.Helper()
	if !r.fs.alive[pid] {
		r.t.Fatalf("pid %d is not running", pid)
	}
	delete(r.fs.alive, pid)
	status := unix.WaitStatus(code << 8)
	if sig != 0 {
		status = unix.WaitStatus(sig)
	}
	b := reap.Batch{Exits: []reap.Exit{{PID: pid, Status: status}}, NoChildren: len(r.fs.alive) == 0}
	r.do(func() { r.s.onBatch(b) })
}

// exit ends the named service's process with code.
func (r *rig) exit(name string, code int) { r.t.Helper(); r.exitPID(r.pid(name), code, 0) }

// killed ends the named service's process by signal sig.
func (r *rig) killed(name string, sig syscall.Signal) {
	r.t.Helper()
	r.exitPID(r.pid(name), 0, sig)
}

// advance moves the clock by d, firing every timer due on the way, in
// order, each handled as the loop would.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	until := r.fs.clock.Add(d)
	for {
		t := r.fs.due(until)
		if t == nil {
			break
		}
		r.fs.clock = t.at
		r.do(t.f)
	}
	r.fs.clock = until
}

// signal delivers SIGTERM/SIGINT (stop signals) or another signal to tend.
func (r *rig) signal(sig syscall.Signal) {
	r.t.Helper()
	if signals.IsShutdown(sig) { // the stop channel's (signals.Stops)
		r.do(func() { r.s.onStopSignal(sig) })
		return
	}
	r.do(func() { r.s.onSignal(sig) })
	if sig == unix.SIGHUP && r.s.cfg.Reload != nil {
		// The reload reads its files off the loop (reload.go) and posts
		// the result back: wait for it and handle it as the loop would.
		select {
		case f := <-r.s.reqs:
			r.do(f)
		case <-time.After(10 * time.Second):
			r.t.Fatal("the reload posted no result within 10s")
		}
	}
}

// ctl runs a control request (Start, Stop, ...) as the socket would.
func (r *rig) ctl(f func() error) error {
	var err error
	r.do(func() { err = f() })
	return err
}

// states is "name=state ..." for every service, in order.
func (r *rig) states() string {
	var b []string
	for _, v := range r.s.order {
		b = append(b, v.Name+"="+string(v.state))
	}
	return strings.Join(b, " ")
}

// wantStates checks the services' states ("name=state ...", any order of
// a subset).
func (r *rig) wantStates(want string) {
	r.t.Helper()
	for _, kv := range strings.Fields(want) {
		name, st, _ := strings.Cut(kv, "=")
		if got := r.svc(name).state; string(got) != st {
			r.t.Errorf("%s is %s, want %s (all: %s)", name, got, st, r.states())
		}
	}
}

// sent lists the signals sent to pid or its group.
func (r *rig) sent(pid int) []syscall.Signal {
	var out []syscall.Signal
	for _, k := range r.fs.kills {
		if k.pid == pid || k.pid == -pid {
			out = append(out, k.sig)
		}
	}
	return out
}

// finished reports whether tend would exit now, and with which code.
func (r *rig) finished() (bool, int) { return r.s.finished(), r.s.code() }

// wantExit checks that tend would exit now with code.
func (r *rig) wantExit(code int) {
	r.t.Helper()
	done, got := r.finished()
	if !done {
		r.t.Fatalf("tend would not exit yet (phase %d; %s)", r.s.phase, r.states())
	}
	if got != code {
		r.t.Errorf("exit code %d, want %d (%s)", got, code, r.states())
	}
}

// drainStops exits every service process that got a stop signal, with
// 128+signal, until nothing is left (the shutdown's course).
func (r *rig) drainStops() {
	r.t.Helper()
	for i := 0; i < 10000; i++ {
		var pid int
		var sig syscall.Signal
		for _, k := range r.fs.kills {
			p := k.pid
			if p < 0 {
				p = -p
			}
			if r.fs.alive[p] {
				pid, sig = p, k.sig
				break
			}
		}
		if pid == 0 && !r.s.anyAlive() {
			// The sweep's SIGTERM ends what is left (exec probes).
			for p := range r.fs.alive {
				pid, sig = p, unix.SIGTERM
				break
			}
		}
		if pid == 0 {
			return
		}
		r.exitPID(pid, 0, sig)
	}
	r.t.Fatal("drainStops: no end")
}

var errNotFound = &spawn.Error{Name: "x", Err: errors.New("not found"), Code: spawn.CodeNotFound}

func (k killRec) String() string { return fmt.Sprintf("kill(%d, %d)", k.pid, k.sig) }
