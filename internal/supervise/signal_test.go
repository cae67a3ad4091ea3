package supervise

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/signals"
)

// The supervisor does with each signal what the signals table says:
// forwarded to the main's group (after --rewrite) or not, and with job
// control tend stops itself after a terminal stop signal (observed through
// the seam: tend's own pid is a fake one).
func TestSignalsAsTheTableSays(t *testing.T) {
	const self = fakePIDBase - 1
	for _, tt := range []struct {
		name string
		cfg  Config
		sig  syscall.Signal
		want []killRec // main's pid written as 1 (its group -1), tend as self
	}{
		{"USR1 forwarded to the main's group", Config{}, unix.SIGUSR1, []killRec{{-1, unix.SIGUSR1}}},
		{"WINCH forwarded", Config{}, unix.SIGWINCH, []killRec{{-1, unix.SIGWINCH}}},
		{"HUP forwarded without files", Config{}, unix.SIGHUP, []killRec{{-1, unix.SIGHUP}}},
		{"PIPE not forwarded", Config{}, unix.SIGPIPE, nil},
		{"PROF not forwarded", Config{}, unix.SIGPROF, nil},
		{"USR1 to the main alone", Config{ToChild: true}, unix.SIGUSR1, []killRec{{1, unix.SIGUSR1}}},
		{"USR1 rewritten", Config{Rewrite: signals.Rewrite{unix.SIGUSR1: unix.SIGUSR2}}, unix.SIGUSR1, []killRec{{-1, unix.SIGUSR2}}},
		{"USR1 dropped", Config{Rewrite: signals.Rewrite{unix.SIGUSR1: 0}}, unix.SIGUSR1, nil},
		{"TSTP forwarded", Config{}, unix.SIGTSTP, []killRec{{-1, unix.SIGTSTP}}},
		{"TSTP with job control: tend stops itself", Config{JobControl: true}, unix.SIGTSTP, []killRec{{-1, unix.SIGTSTP}, {self, unix.SIGSTOP}}},
		{"TTOU with job control", Config{JobControl: true}, unix.SIGTTOU, []killRec{{-1, unix.SIGTTOU}, {self, unix.SIGSTOP}}},
		{"USR1 with job control: tend goes on", Config{JobControl: true}, unix.SIGUSR1, []killRec{{-1, unix.SIGUSR1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeSystem()
			fs.alive[self] = true
			r := newRigWith(t, fs, tt.cfg, Main([]string{"app"}, nil, nil, nil))
			r.s.self = self
			main := r.pid("main")
			r.signal(tt.sig)
			var want []killRec
			for _, k := range tt.want {
				switch k.pid {
				case 1:
					k.pid = main
				case -1:
					k.pid = -main
				}
				want = append(want, k)
			}
			if !slices.Equal(fs.kills, want) {
				t.Errorf("sent %v, want %v", fs.kills, want)
			}
			if d := signals.Of(tt.sig); d.Forward && tt.cfg.Rewrite == nil && len(fs.kills) == 0 {
				t.Errorf("%s is forwarded by the table, and nothing was sent", signals.Name(tt.sig))
			}
		})
	}
}

// A terminal stop that arrives while the main is being started (its child
// stopped before its exec, the loop waiting for that exec) stops tend at
// once through the watcher; the loop's own copy of that signal is then
// dropped, and a later one is handled as usual (forwarded, tend stops).
// Outside a spawn the watcher does nothing: the loop acts.
func TestJobStopDuringSpawn(t *testing.T) {
	const self = fakePIDBase - 1
	fs := newFakeSystem()
	fs.alive[self] = true
	var r *rig
	fs.during = func() {
		r.s.self = self
		r.s.guard.watched() // the watcher's copy of ^Z, mid-spawn
		fs.during = nil
	}
	r = &rig{t: t, fs: fs}
	cfg := Config{JobControl: true, Grace: time.Hour}
	main := Main([]string{"app"}, nil, nil, nil)
	defaults(main)
	cfg.Services = []*Service{main}
	r.s = New(cfg)
	r.s.sys, r.s.inline, r.s.childless = fs, true, true
	t.Cleanup(func() { close(r.s.done) })
	r.do(r.s.schedule)
	if want := []killRec{{self, unix.SIGSTOP}}; !slices.Equal(fs.kills, want) {
		t.Fatalf("during the spawn: sent %v, want %v", fs.kills, want)
	}
	r.signal(unix.SIGTSTP) // the loop's copy of the same ^Z
	if want := []killRec{{self, unix.SIGSTOP}}; !slices.Equal(fs.kills, want) {
		t.Fatalf("the loop's copy was acted on again: sent %v, want %v", fs.kills, want)
	}
	pid := r.pid("main")
	r.s.guard.watched() // a later ^Z, no spawn under way: the watcher leaves it to the loop
	r.signal(unix.SIGTSTP)
	want := []killRec{{self, unix.SIGSTOP}, {-pid, unix.SIGTSTP}, {self, unix.SIGSTOP}}
	if !slices.Equal(fs.kills, want) {
		t.Errorf("a later ^Z: sent %v, want %v", fs.kills, want)
	}
}

// The watcher listens for exactly the signals the table calls terminal
// stops.
func TestJobStops(t *testing.T) {
	all := []os.Signal{unix.SIGTSTP, unix.SIGUSR1, unix.SIGTTIN, unix.SIGHUP, unix.SIGTTOU, unix.SIGCONT}
	want := []os.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU}
	if got := jobStops(all); !slices.Equal(got, want) {
		t.Errorf("jobStops = %v, want %v", got, want)
	}
}
