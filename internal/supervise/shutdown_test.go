package supervise

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/spawn"
	"github.com/tend-sh/tend/internal/tendlog"
)

// shutdownRig is a rig whose fake /proc lists every live fake process as
// tend's child, so that the shutdown's sweep and the grace's SIGKILL find
// them, and whose log is kept.
func shutdownRig(t *testing.T, cfg Config, svcs ...*Service) (*rig, *bytes.Buffer) {
	t.Helper()
	var logb bytes.Buffer
	cfg.Log = tendlog.New(&logb, slog.LevelDebug)
	fs := newFakeSystem()
	fs.listAlive = true
	r := newRigWith(t, fs, cfg, svcs...)
	fs.parent = r.s.self
	return r, &logb
}

// killsSince are the kills sent since the first n.
func (r *rig) killsSince(n int) []killRec { return slices.Clone(r.fs.kills[n:]) }

// The main ignores SIGTERM: tend SIGKILLs it at the grace, not a moment
// before, and the container's code is 137 — observed as tend's kill
// through the seam, on the fake clock.
func TestShutdownMainKilledAtTheGrace(t *testing.T) {
	const grace = 5 * time.Second // before the rig's stop_timeout (10 s)
	r, logb := shutdownRig(t, Config{Grace: grace}, Main([]string{"app"}, nil, nil, nil))
	m := r.pid(MainName)
	r.signal(unix.SIGTERM)
	if got := r.killsSince(0); !slices.Equal(got, []killRec{{-m, unix.SIGTERM}}) {
		t.Fatalf("at SIGTERM tend sent %v, want SIGTERM to the main's group", got)
	}
	if end := r.s.GraceEnd(); !end.Equal(r.fs.clock.Add(grace)) {
		t.Errorf("GraceEnd %v, want the fake clock + %v", end, grace)
	}
	r.advance(grace - time.Millisecond)
	if got := r.killsSince(1); len(got) != 0 {
		t.Fatalf("before the grace ended tend sent %v", got)
	}
	r.advance(time.Millisecond)
	if got := r.killsSince(1); !slices.Equal(got, []killRec{{m, unix.SIGKILL}}) {
		t.Fatalf("at the grace tend sent %v, want SIGKILL to the main %d", got, m)
	}
	if r.s.phase != killing {
		t.Errorf("phase %v after the grace, want killing", r.s.phase)
	}
	if !strings.Contains(logb.String(), "grace period 5s expired; killed 1 process(es): ") {
		t.Errorf("log lacks the grace line:\n%s", logb)
	}
	r.exitPID(m, 0, unix.SIGKILL) // the kernel carries the kill out
	r.wantExit(137)
}

// What the grace's SIGKILL reaches, and what tend does after it.
func TestShutdownGraceExpiry(t *testing.T) {
	const grace = 5 * time.Second
	orphan := proc.Process{PID: fakePIDBase - 10, PGID: fakePIDBase - 10, State: 'S', Comm: "orphan"}
	tests := []struct {
		name   string
		cfg    Config
		procs  []proc.Process // besides the services: what else /proc lists
		pid1   bool
		killed func(main int) []killRec // SIGKILLs at the grace, in order
	}{
		{"a left-over orphan is killed too", Config{}, []proc.Process{orphan},
			false, func(m int) []killRec { return []killRec{{orphan.PID, unix.SIGKILL}, {m, unix.SIGKILL}} }},
		{"single-child: only the main", Config{SingleChild: true}, []proc.Process{orphan},
			false, func(m int) []killRec { return []killRec{{m, unix.SIGKILL}} }},
		{"PID 1: kill(-1) after the listing", Config{}, nil,
			true, func(m int) []killRec { return []killRec{{m, unix.SIGKILL}, {-1, unix.SIGKILL}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Grace = grace
			r, _ := shutdownRig(t, tt.cfg, Main([]string{"app"}, nil, nil, nil))
			r.s.pid1 = tt.pid1
			for _, p := range tt.procs {
				p.PPID = r.s.self
				r.fs.procs = append(r.fs.procs, p)
				r.fs.alive[p.PID] = true // signalable
			}
			m := r.pid(MainName)
			r.signal(unix.SIGTERM)
			n := len(r.fs.kills)
			r.advance(grace)
			var kills []killRec
			for _, k := range r.killsSince(n) {
				if k.sig == unix.SIGKILL {
					kills = append(kills, k)
				}
			}
			if want := tt.killed(m); !slices.Equal(kills, want) {
				t.Errorf("at the grace tend sent %v, want %v", kills, want)
			}
		})
	}
}

// A main that survives its SIGKILL (uninterruptible sleep) does not keep
// tend forever: KillWait after the kill tend gives up and says what is
// left, on the fake clock.
func TestShutdownKillWait(t *testing.T) {
	r, logb := shutdownRig(t, Config{Grace: time.Second}, Main([]string{"app"}, nil, nil, nil))
	m := r.pid(MainName)
	r.signal(unix.SIGTERM)
	r.advance(time.Second)
	if r.gaveUp {
		t.Fatal("gave up at the grace itself")
	}
	r.advance(KillWait - time.Millisecond)
	if r.gaveUp {
		t.Fatal("gave up before KillWait")
	}
	r.advance(time.Millisecond)
	if !r.gaveUp {
		t.Fatalf("still waiting KillWait after the SIGKILL")
	}
	if want := "1 process(es) still alive 3s after SIGKILL"; !strings.Contains(logb.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logb)
	}
	if _, code := r.finished(); code != 137 {
		t.Errorf("exit code %d after giving up on the main %d, want 137", code, m)
	}
}

// A second SIGTERM is forwarded again and does not extend the grace.
func TestShutdownSecondSignalKeepsTheGrace(t *testing.T) {
	// (8 s: before the rig's stop_timeout of 10 s)
	r, _ := shutdownRig(t, Config{Grace: 8 * time.Second}, Main([]string{"app"}, nil, nil, nil))
	m := r.pid(MainName)
	r.signal(unix.SIGTERM)
	r.advance(5 * time.Second)
	r.signal(unix.SIGTERM)
	r.advance(3 * time.Second)
	want := []killRec{{-m, unix.SIGTERM}, {-m, unix.SIGTERM}, {m, unix.SIGKILL}}
	if got := r.killsSince(0); !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v (SIGKILL at the first signal's grace)", got, want)
	}
}

// The pre-stop runs first and the grace clock runs meanwhile: the main is
// stopped only once the pre-stop exited; a pre-stop still running at the
// grace is killed with the main.
func TestShutdownPreStop(t *testing.T) {
	pre := &spawn.Spec{Argv: []string{"pre-stop"}}
	t.Run("main stopped after the pre-stop", func(t *testing.T) {
		r, _ := shutdownRig(t, Config{Grace: 10 * time.Second, PreStop: pre}, Main([]string{"app"}, nil, nil, nil))
		m := r.pid(MainName)
		r.signal(unix.SIGTERM)
		if r.s.preStopPID == 0 || r.fs.argv[r.s.preStopPID][0] != "pre-stop" {
			t.Fatalf("pre-stop not started (pid %d)", r.s.preStopPID)
		}
		if got := r.killsSince(0); len(got) != 0 {
			t.Fatalf("sent %v while the pre-stop runs, want nothing", got)
		}
		r.advance(3 * time.Second)
		r.exitPID(r.s.preStopPID, 0, 0)
		if got := r.killsSince(0); !slices.Equal(got, []killRec{{-m, unix.SIGTERM}}) {
			t.Fatalf("after the pre-stop: sent %v, want SIGTERM to the main's group", got)
		}
		r.exitPID(m, 0, unix.SIGTERM)
		r.wantExit(143)
	})
	t.Run("pre-stop still running at the grace", func(t *testing.T) {
		r, _ := shutdownRig(t, Config{Grace: 2 * time.Second, PreStop: pre}, Main([]string{"app"}, nil, nil, nil))
		m := r.pid(MainName)
		r.signal(unix.SIGTERM)
		p := r.s.preStopPID
		r.advance(2 * time.Second)
		got := r.killsSince(0)
		for _, want := range []killRec{{p, unix.SIGKILL}, {m, unix.SIGKILL}} {
			if !slices.Contains(got, want) {
				t.Errorf("at the grace: sent %v, want %v among them", got, want)
			}
		}
	})
}

// Once no service is left, one SIGTERM to every other process still
// alive (a stopped one also gets SIGCONT); nothing to members of a group
// already signalled in this shutdown.
func TestShutdownSweep(t *testing.T) {
	r, _ := shutdownRig(t, Config{Grace: time.Minute}, &Service{Service: &config.Service{Name: "web"}})
	w := r.pid("web")
	daemon := proc.Process{PID: fakePIDBase - 20, PGID: fakePIDBase - 20, PPID: r.s.self, State: 'S', Comm: "daemon"}
	stopped := proc.Process{PID: fakePIDBase - 21, PGID: fakePIDBase - 21, PPID: r.s.self, State: 'T', Comm: "stopped"}
	member := proc.Process{PID: fakePIDBase - 22, PGID: w, PPID: r.s.self, State: 'S', Comm: "member"}
	r.fs.procs = []proc.Process{daemon, stopped, member}
	for _, p := range r.fs.procs {
		r.fs.alive[p.PID] = true // signalable
	}
	r.fs.listAlive = false // the listing is exactly fs.procs
	r.signal(unix.SIGTERM)
	r.s.childless = false
	r.exitPID(w, 0, unix.SIGTERM) // web leaves; its member and the others stay
	want := []killRec{{-w, unix.SIGTERM}, {daemon.PID, unix.SIGTERM}, {stopped.PID, unix.SIGTERM}, {stopped.PID, unix.SIGCONT}}
	got := append(r.killsSince(0), r.fs.conts...)
	slices.SortStableFunc(got[1:], func(a, b killRec) int { return b.pid - a.pid })
	if !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	n := len(r.fs.kills)
	r.exitPID(daemon.PID, 0, unix.SIGTERM)
	if got := r.killsSince(n); len(got) != 0 {
		t.Errorf("swept again: %v", got)
	}
}
