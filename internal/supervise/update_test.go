package supervise

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
)

// firstSvc is a start-first service with a file ready probe that the
// test makes pass or not (missing file: never ready).
func firstSvc(name, readyPath string) *Service {
	v := &Service{Service: &config.Service{Name: name, Update: config.UpdateStartFirst}}
	if readyPath != "" {
		v.Ready = &config.Probe{Kind: config.ProbeFile, Path: readyPath, Timeout: 5 * time.Second, Interval: 100 * time.Millisecond}
	}
	return v
}

// replicaSvcs are n instances of name.
func replicaSvcs(name string, n int, update string) []*Service {
	var out []*Service
	for i := range n {
		out = append(out, &Service{Service: &config.Service{Name: config.InstanceName(name, i), ReplicaOf: name, Replica: i, Replicas: n, Update: update}})
	}
	return out
}

// restartNow runs a restart request and returns its outcome channel.
func (r *rig) restartNow(names ...string) <-chan error {
	r.t.Helper()
	var ch <-chan error
	if err := r.ctl(func() error { var err error; ch, err = r.s.restart(names); return err }); err != nil {
		r.t.Fatalf("restart %v: %v", names, err)
	}
	return ch
}

func outcome(t *testing.T, ch <-chan error) (error, bool) {
	t.Helper()
	if ch == nil {
		t.Fatal("no rollout")
	}
	select {
	case err := <-ch:
		return err, true
	default:
		return nil, false
	}
}

// start-first: the new process starts while the old one runs; the old one
// gets its stop signal only once the new one is ready; restart succeeds.
func TestStartFirstSuccess(t *testing.T) {
	ready := t.TempDir() + "/ready"
	r := newRig(t, Config{}, firstSvc("web", ""))
	r.s.byName["web"].Ready = nil
	old := r.pid("web")
	// From now on the definition has a ready probe: a reload would do
	// this; here the same definition gets one.
	r.svc("web").Ready = &config.Probe{Kind: config.ProbeFile, Path: ready, Timeout: 5 * time.Second, Interval: 100 * time.Millisecond}
	ch := r.restartNow("web")
	if len(r.fs.alive) != 2 {
		t.Fatalf("want old and new alive, got %v", r.fs.alive)
	}
	r.advance(time.Second)
	if got := r.sent(old); got != nil {
		t.Fatalf("old got %v before the new one was ready", got)
	}
	if r.pid("web") != old {
		t.Fatalf("web's pid changed before the new one was ready")
	}
	r.wantStates("web=running")
	touch(t, ready)
	r.advance(200 * time.Millisecond)
	newPID := r.pid("web")
	if newPID == old {
		t.Fatal("web still has the old pid once the new one is ready")
	}
	r.wantStates("web=ready")
	if got := r.sent(old); !slices.Equal(got, []unix.Signal{unix.SIGTERM}) {
		t.Fatalf("old got %v, want SIGTERM", got)
	}
	if _, ok := outcome(t, ch); ok {
		t.Fatal("restart answered before the old process exited")
	}
	r.exitPID(old, 0, unix.SIGTERM)
	if err, ok := outcome(t, ch); !ok || err != nil {
		t.Fatalf("restart outcome %v %v, want nil", err, ok)
	}
	r.wantStates("web=ready")
	if r.svc("web").restarts != 1 || r.svc("web").lastExit != nil {
		t.Errorf("restarts %d lastExit %v", r.svc("web").restarts, r.svc("web").lastExit)
	}
}

// The new process never gets ready: it is stopped at its ready timeout,
// the old one keeps running untouched, the attempt counts toward
// max_restarts and the restart fails naming the service.
func TestStartFirstNeverReady(t *testing.T) {
	r := newRig(t, Config{}, firstSvc("web", ""))
	old := r.pid("web")
	r.svc("web").Ready = &config.Probe{Kind: config.ProbeFile, Path: t.TempDir() + "/never", Timeout: 5 * time.Second, Interval: 100 * time.Millisecond}
	ch := r.restartNow("web")
	r.advance(6 * time.Second)
	var cand int
	for pid := range r.fs.alive {
		if pid != old {
			cand = pid
		}
	}
	if cand == 0 {
		t.Fatal("no new process")
	}
	if got := r.sent(cand); !slices.Equal(got, []unix.Signal{unix.SIGTERM}) {
		t.Fatalf("new got %v, want SIGTERM at its ready timeout", got)
	}
	if got := r.sent(old); got != nil {
		t.Fatalf("old got %v", got)
	}
	r.exitPID(cand, 0, unix.SIGTERM)
	err, ok := outcome(t, ch)
	if !ok || err == nil || !strings.Contains(err.Error(), "web: the new process was not ready within 5s; the old one keeps running") {
		t.Fatalf("restart outcome %v %v", err, ok)
	}
	if r.pid("web") != old {
		t.Fatal("web lost its old process")
	}
	r.wantStates("web=running")
	if n := len(r.svc("web").recent); n != 1 {
		t.Errorf("failures counted toward max_restarts: %d, want 1", n)
	}
	// The new process exiting before it is ready fails the same way.
	ch = r.restartNow("web")
	for pid := range r.fs.alive {
		if pid != old {
			cand = pid
		}
	}
	r.exitPID(cand, 3, 0)
	if err, ok := outcome(t, ch); !ok || err == nil || !strings.Contains(err.Error(), "exited with code 3 before it was ready") {
		t.Fatalf("restart outcome %v %v", err, ok)
	}
	if r.pid("web") != old || len(r.svc("web").recent) != 2 {
		t.Fatalf("old pid %d (want %d), failures %d", r.pid("web"), old, len(r.svc("web").recent))
	}
}

// A shutdown during the overlap stops both processes, and tend waits for
// both.
func TestStartFirstShutdownStopsBoth(t *testing.T) {
	r := newRig(t, Config{}, firstSvc("web", ""))
	old := r.pid("web")
	r.svc("web").Ready = &config.Probe{Kind: config.ProbeFile, Path: t.TempDir() + "/never", Timeout: time.Minute, Interval: 100 * time.Millisecond}
	ch := r.restartNow("web")
	var cand int
	for pid := range r.fs.alive {
		if pid != old {
			cand = pid
		}
	}
	r.signal(unix.SIGTERM)
	if !slices.Contains(r.sent(old), unix.SIGTERM) || !slices.Contains(r.sent(cand), unix.SIGTERM) {
		t.Fatalf("old got %v, new got %v: want SIGTERM to both", r.sent(old), r.sent(cand))
	}
	r.exitPID(old, 0, unix.SIGTERM)
	if done, _ := r.finished(); done {
		t.Fatal("tend would exit with the new process still running")
	}
	r.exitPID(cand, 0, unix.SIGTERM)
	r.drainStops()
	r.wantExit(0)
	if err, ok := outcome(t, ch); !ok || err == nil {
		t.Fatalf("restart outcome %v %v, want a failure", err, ok)
	}
}

// tend restart NAME of replicas replaces them one at a time: the next
// instance's new process starts only once the previous old one exited.
func TestStartFirstReplicasOneAtATime(t *testing.T) {
	r := newRig(t, Config{}, replicaSvcs("web", 3, config.UpdateStartFirst)...)
	olds := []int{r.pid("web-0"), r.pid("web-1"), r.pid("web-2")}
	ch := r.restartNow("web")
	// No ready probe: the new web-0 is ready at once, its old one stopped.
	if len(r.fs.alive) != 4 {
		t.Fatalf("alive %v, want 3 old + 1 new", r.fs.alive)
	}
	for i, old := range olds {
		if got := r.sent(old); !slices.Equal(got, []unix.Signal{unix.SIGTERM}) {
			t.Fatalf("step %d: old web-%d got %v", i, i, got)
		}
		for _, later := range olds[i+1:] {
			if r.sent(later) != nil {
				t.Fatalf("step %d: a later instance was stopped already", i)
			}
		}
		if len(r.fs.alive) != 4 {
			t.Fatalf("step %d: alive %v, want one overlap at a time", i, r.fs.alive)
		}
		r.exitPID(old, 0, unix.SIGTERM)
	}
	if err, ok := outcome(t, ch); !ok || err != nil {
		t.Fatalf("restart outcome %v %v", err, ok)
	}
	for i, old := range olds {
		if p := r.pid(config.InstanceName("web", i)); p == old {
			t.Errorf("web-%d still has its old pid", i)
		}
	}
	// One instance by its own name.
	before0, before2 := r.pid("web-0"), r.pid("web-2")
	ch = r.restartNow("web-1")
	r.exitPID(r.s.byName["web-1"].shadow.pid, 0, unix.SIGTERM)
	if err, ok := outcome(t, ch); !ok || err != nil {
		t.Fatalf("restart web-1 outcome %v %v", err, ok)
	}
	if r.pid("web-0") != before0 || r.pid("web-2") != before2 {
		t.Error("restart web-1 touched other instances")
	}
}

// after = ["web"] waits for every instance; status names each instance
// with replica_of and replica.
func TestReplicasAfterAndStatus(t *testing.T) {
	svcs := replicaSvcs("web", 2, config.UpdateStopFirst)
	for _, v := range svcs {
		v.Ready = &config.Probe{Kind: config.ProbeFile, Path: t.TempDir() + "/r", Timeout: time.Minute, Interval: 100 * time.Millisecond}
	}
	front := &Service{Service: &config.Service{Name: "front", After: []string{"web"}}}
	r := newRig(t, Config{}, append(svcs, front)...)
	r.wantStates("web-0=starting web-1=starting front=starting")
	r.do(func() { r.s.becameReady(r.svc("web-0"), Ready) })
	if r.svc("front").alive() {
		t.Fatal("front started with only web-0 ready")
	}
	r.do(func() { r.s.becameReady(r.svc("web-1"), Ready) })
	if !r.svc("front").alive() {
		t.Fatal("front not started once every instance is ready")
	}
	st, err := r.s.Status([]string{"web"})
	if err != nil || len(st) != 2 || st[1].Name != "web-1" || st[1].ReplicaOf != "web" || st[1].Replica == nil || *st[1].Replica != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	// Stop order: web's instances wait for front.
	r.signal(unix.SIGTERM)
	if r.sent(r.pid("web-0")) != nil || r.sent(r.pid("web-1")) != nil {
		t.Fatal("an instance of web was stopped before front, which is after web")
	}
}

// A crash of a start-first service is a plain restart (nothing to overlap).
func TestStartFirstCrashIsPlain(t *testing.T) {
	r := newRig(t, Config{}, firstSvc("web", ""))
	r.exit("web", 1)
	r.wantStates("web=backoff")
	if len(r.fs.alive) != 0 {
		t.Fatalf("alive %v", r.fs.alive)
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// newPID is the one alive pid other than those given (a start-first
// candidate), 0 for none.
func (r *rig) newPID(not ...int) int {
	for pid := range r.fs.alive {
		if !slices.Contains(not, pid) {
			return pid
		}
	}
	return 0
}

// A start-first restart asked for while a replacement of the service is
// under way (its new process still starting, or its old one still
// draining) waits its turn and is start-first in its turn: the process
// that serves is never stopped before its successor is ready. (It was a
// plain restart: the serving process got its stop_signal at once, a gap
// as with stop-first; two deploy scripts, or a restart while the old
// process drains its requests, were enough.)
func TestStartFirstRestartDuringReplacement(t *testing.T) {
	for _, during := range []string{"starting", "draining"} {
		t.Run(during, func(t *testing.T) {
			ready := t.TempDir() + "/ready"
			touch(t, ready)
			r := newRig(t, Config{}, firstSvc("web", ready))
			r.advance(200 * time.Millisecond)
			r.wantStates("web=ready")
			old := r.pid("web")
			if during == "starting" {
				os.Remove(ready)
			}
			ch1 := r.restartNow("web")
			cand := r.newPID(old)
			if during == "draining" {
				r.advance(200 * time.Millisecond)
				if r.pid("web") != cand {
					t.Fatalf("not promoted")
				}
			}
			// The serving process now: the old one while the new one
			// starts, the new one while the old one drains.
			serving := map[string]int{"starting": old, "draining": cand}[during]
			ch2 := r.restartNow("web")
			r.advance(200 * time.Millisecond)
			if got := r.sent(serving); during == "starting" && got != nil {
				t.Fatalf("the serving process got %v while its successor was not ready", got)
			} else if during == "draining" && got != nil {
				t.Fatalf("the new process got %v while the old one drained: a gap", got)
			}
			if during == "starting" {
				touch(t, ready)
				r.advance(200 * time.Millisecond)
				if r.pid("web") != cand {
					t.Fatalf("the first replacement was not promoted: pid %d, want %d", r.pid("web"), cand)
				}
			}
			os.Remove(ready) // the next new process gets ready when the test says
			r.exitPID(old, 0, unix.SIGTERM)
			if err, ok := outcome(t, ch1); !ok || err != nil {
				t.Fatalf("first restart: %v %v, want done", err, ok)
			}
			// Now the second replacement, start-first.
			third := r.newPID(cand)
			if third == 0 {
				t.Fatalf("the second restart started no new process (alive %v)", r.fs.alive)
			}
			r.advance(time.Second)
			if got := r.sent(cand); got != nil {
				t.Fatalf("%d got %v before its successor was ready", cand, got)
			}
			touch(t, ready)
			r.advance(200 * time.Millisecond)
			if r.pid("web") != third || !slices.Equal(r.sent(cand), []unix.Signal{unix.SIGTERM}) {
				t.Fatalf("pid %d (want %d), %d got %v (want SIGTERM)", r.pid("web"), third, cand, r.sent(cand))
			}
			r.exitPID(cand, 0, unix.SIGTERM)
			if err, ok := outcome(t, ch2); !ok || err != nil {
				t.Fatalf("second restart: %v %v, want done", err, ok)
			}
			r.wantStates("web=ready")
		})
	}
}

// Two reloads that both bring the same changed definition (a SIGHUP per
// file written) while the first one's new process starts: the second has
// nothing left to do; the old process is stopped only once its
// successor is ready, and only one new process is started. (The second
// reload made it a plain restart: the old, serving process was stopped
// at once and the new one abandoned.)
func TestStartFirstReloadTwice(t *testing.T) {
	ready := t.TempDir() + "/ready"
	touch(t, ready)
	r := newRig(t, Config{}, firstSvc("web", ready))
	r.advance(200 * time.Millisecond)
	old := r.pid("web")
	os.Remove(ready)
	def := *r.svc("web").Service
	def.Spec.Env = []string{"CHANGED=1"}
	r.s.cfg.Reload = func() (*Reloaded, error) {
		d := def
		return &Reloaded{Services: []*Service{&d}, Grace: time.Hour}, nil
	}
	r.signal(unix.SIGHUP)
	r.advance(200 * time.Millisecond)
	cand := r.newPID(old)
	if cand == 0 {
		t.Fatal("the reload started no new process")
	}
	r.signal(unix.SIGHUP)
	r.advance(time.Second)
	if got := r.sent(old); got != nil {
		t.Fatalf("the old process got %v before its successor was ready", got)
	}
	touch(t, ready)
	r.advance(200 * time.Millisecond)
	if r.pid("web") != cand || !slices.Equal(r.sent(old), []unix.Signal{unix.SIGTERM}) {
		t.Fatalf("pid %d (want %d), old got %v", r.pid("web"), cand, r.sent(old))
	}
	r.exitPID(old, 0, unix.SIGTERM)
	r.advance(time.Second)
	if len(r.fs.alive) != 1 || r.sent(cand) != nil {
		t.Errorf("alive %v, new process got %v: want it alone and untouched", r.fs.alive, r.sent(cand))
	}
	r.wantStates("web=ready")
}
