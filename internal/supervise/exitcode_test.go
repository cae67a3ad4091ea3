package supervise

import (
	"slices"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/config"
	"golang.org/x/sys/unix"
)

// Item 13 and the skipped oneshot: the container's exit code is that of
// what actually failed, or 128+N for the stop signal N, never 137 for a
// main that was never started.
func TestExitCode(t *testing.T) {
	main := func(after ...string) *Service { return Main([]string{"app"}, nil, nil, after) }
	tests := []struct {
		name string
		svcs []*Service
		cfg  Config
		act  func(r *rig)
		want int
	}{
		{"main exits 3", []*Service{main()}, Config{}, func(r *rig) { r.exit("main", 3) }, 3},
		{"main killed by SIGTERM", []*Service{main()}, Config{}, func(r *rig) { r.killed("main", unix.SIGTERM) }, 143},
		{"main exit remapped", []*Service{main()}, Config{RemapExit: map[int]int{143: 0}}, func(r *rig) { r.killed("main", unix.SIGTERM) }, 0},
		{"SIGTERM, main exits 0", []*Service{main()}, Config{}, func(r *rig) { r.signal(unix.SIGTERM); r.exit("main", 0) }, 0},
		{"main not found", []*Service{main()}, Config{}, nil, 127},
		{"startup oneshot fails with 9, main never started",
			[]*Service{{Service: &config.Service{Name: "init", Oneshot: true, Restart: config.RestartNever}}, main("init")}, Config{},
			func(r *rig) { r.exit("init", 9) }, 9},
		{"SIGTERM while the main waits to start",
			[]*Service{{Service: &config.Service{Name: "db", Ready: execReady(time.Minute)}}, main("db")}, Config{},
			func(r *rig) { r.signal(unix.SIGTERM); r.drainStops() }, 143},
		{"SIGINT while the main waits to start",
			[]*Service{{Service: &config.Service{Name: "db", Ready: execReady(time.Minute)}}, main("db")}, Config{},
			func(r *rig) { r.signal(unix.SIGINT); r.drainStops() }, 130},
		{"SIGTERM while the main waits to start, 143 remapped", []*Service{{Service: &config.Service{Name: "db", Ready: execReady(time.Minute)}}, main("db")},
			Config{RemapExit: map[int]int{143: 0}}, func(r *rig) { r.signal(unix.SIGTERM); r.drainStops() }, 0},
		{"SIGTERM, the main killed at the grace", []*Service{main()}, Config{Grace: 5 * time.Second},
			func(r *rig) {
				// tend's SIGKILL at the grace, observed through the seam;
				// then the kernel carries it out.
				r.fs.listAlive, r.fs.parent = true, r.s.self
				r.signal(unix.SIGTERM)
				r.advance(r.s.cfg.Grace)
				if m := r.pid("main"); !slices.Equal(r.fs.kills, []killRec{{-m, unix.SIGTERM}, {m, unix.SIGKILL}}) {
					r.t.Errorf("the main %d was not SIGKILLed at the grace: sent %v", m, r.fs.kills)
				}
				r.killed("main", unix.SIGKILL)
			}, 137},
		{"internal error, no main", []*Service{{Service: &config.Service{Name: "a"}}}, Config{},
			func(r *rig) { r.do(func() { r.s.onFault("event loop") }); r.drainStops() }, CodeInternal},
		{"dependency of the main fails for good",
			[]*Service{{Service: &config.Service{Name: "db", Restart: config.RestartNever, Ready: execReady(time.Minute)}}, main("db")}, Config{},
			func(r *rig) { r.exit("db", 4); r.drainStops() }, 4},
		{"dependency of the main not ready in time",
			[]*Service{{Service: &config.Service{Name: "db", Ready: execReady(time.Second)}}, main("db")}, Config{},
			func(r *rig) { r.advance(2 * time.Second); r.drainStops() }, 1},
		{"critical service fails", []*Service{{Service: &config.Service{Name: "db", Critical: true, Restart: config.RestartNever}}, {Service: &config.Service{Name: "x"}}}, Config{},
			func(r *rig) { r.exit("db", 5); r.drainStops() }, 5},
		{"non-critical service fails, then SIGTERM", []*Service{{Service: &config.Service{Name: "db", Restart: config.RestartNever}}, {Service: &config.Service{Name: "x"}}}, Config{},
			func(r *rig) { r.exit("db", 5); r.signal(unix.SIGTERM); r.drainStops() }, 0},
		{"startup oneshot fails", []*Service{{Service: &config.Service{Name: "init", Oneshot: true, Restart: config.RestartNever}}, {Service: &config.Service{Name: "x", After: []string{"init"}}}}, Config{},
			func(r *rig) { r.exit("init", 6); r.drainStops() }, 6},
		{"oneshot skipped: its dependency failed", []*Service{
			{Service: &config.Service{Name: "db", Restart: config.RestartNever, Ready: execReady(time.Minute)}},
			{Service: &config.Service{Name: "migrate", Oneshot: true, After: []string{"db"}}}, {Service: &config.Service{Name: "x"}}}, Config{},
			func(r *rig) { r.exit("db", 7); r.drainStops() }, 7},
		{"Procfile: first exit decides", []*Service{{Service: &config.Service{Name: "a"}}, {Service: &config.Service{Name: "b"}}}, Config{AnyExitStops: true},
			func(r *rig) { r.exit("b", 2); r.drainStops() }, 2},
		{"no main, SIGTERM", []*Service{{Service: &config.Service{Name: "a"}}}, Config{}, func(r *rig) { r.signal(unix.SIGTERM); r.drainStops() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *rig
			if tt.act == nil { // the main cannot be started
				fs := newFakeSystem()
				fs.fail["app"] = errNotFound
				r = newRigWith(t, fs, tt.cfg, tt.svcs...)
			} else {
				r = newRig(t, tt.cfg, tt.svcs...)
				tt.act(r)
			}
			r.wantExit(tt.want)
		})
	}
}

// TestPlatformGrace: with --grace=platform a stop signal arms no grace
// timer of tend's own (the sender's SIGKILL ends the stop), while a
// shutdown tend starts itself (the main exited) still ends at Grace.
func TestPlatformGrace(t *testing.T) {
	svcs := func() []*Service {
		return []*Service{Main([]string{"app"}, nil, nil, nil), {Service: &config.Service{Name: "side"}}}
	}
	cases := []struct {
		name      string
		platform  bool
		act       func(r *rig)
		wantTimer bool
	}{
		{"SIGTERM, platform grace: no timer", true, func(r *rig) { r.signal(unix.SIGTERM) }, false},
		{"SIGINT, platform grace: no timer", true, func(r *rig) { r.signal(unix.SIGINT) }, false},
		{"main exits, platform grace: tend's own grace", true, func(r *rig) { r.exit("main", 0) }, true},
		{"SIGTERM, a duration: the timer", false, func(r *rig) { r.signal(unix.SIGTERM) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, Config{Grace: time.Hour, PlatformGrace: c.platform}, svcs()...)
			c.act(r)
			if r.s.phase != stopping {
				t.Fatalf("phase %v, want stopping", r.s.phase)
			}
			if got := r.s.grace != nil; got != c.wantTimer {
				t.Errorf("grace timer armed = %v, want %v", got, c.wantTimer)
			}
			if got := !r.s.GraceEnd().IsZero(); got != c.wantTimer {
				t.Errorf("GraceEnd %v, want set = %v", r.s.GraceEnd(), c.wantTimer)
			}
		})
	}
}
