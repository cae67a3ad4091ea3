package supervise

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/signals"
)

// spawnGuard lets job control act while the loop is inside a fork–exec.
//
// The loop cannot read a signal while it starts a process: Go's fork–exec
// returns only once the child has exec'd. A terminal stop (^Z) sends
// SIGTSTP to the whole foreground group, and a child still between its
// fork and its exec has the default action for it, so it stops there; tend
// would wait for that exec for ever and never stop itself, and the shell
// would never get its terminal back (dumb-init, which knows its child's
// pid at once, stops itself and the child with it).
//
// With job control, a second receiver of the terminal stop signals (the
// watcher) stops tend itself when one arrives during a spawn. The loop's
// own copy of that signal is then dropped, not forwarded: the child got
// the terminal's signal with tend (or was not yet there to get it), and
// after fg a forwarded copy would stop it again.
type spawnGuard struct {
	mu       sync.Mutex
	spawning bool
	acted    int // signals the watcher acted on whose loop copies are still to be dropped
	stopSelf func()
}

// begin and end bracket a spawn on the loop's goroutine.
func (g *spawnGuard) begin() {
	g.mu.Lock()
	g.spawning = true
	g.mu.Unlock()
}

func (g *spawnGuard) end() {
	g.mu.Lock()
	g.spawning = false
	g.mu.Unlock()
}

// watched is called by the watcher for each terminal stop signal: during
// a spawn tend stops itself now. The decision and the count are made under
// the lock that end takes, so a signal is acted on here or by the loop,
// never by both and never by neither.
func (g *spawnGuard) watched() {
	g.mu.Lock()
	act := g.spawning
	if act {
		g.acted++
	}
	g.mu.Unlock()
	if act {
		g.stopSelf()
	}
}

// consume is called by the loop for each terminal stop signal: true when
// the watcher already acted on it.
func (g *spawnGuard) consume() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.acted == 0 {
		return false
	}
	g.acted--
	return true
}

// watchJobStops starts the watcher for sigs (the terminal stop signals
// tend catches) and returns its stop function.
func (s *Supervisor) watchJobStops(sigs []os.Signal) func() {
	if len(sigs) == 0 {
		return func() {}
	}
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, sigs...)
	go func() {
		for range ch {
			s.guard.watched()
		}
	}()
	return func() { signal.Stop(ch); close(ch) }
}

// stopSelfInSpawn is the guard's action (set in New).
func (s *Supervisor) stopSelfInSpawn() {
	s.log.Debug("stopping tend itself: a terminal stop signal arrived while a process was being started")
	_ = s.sys.kill(s.self, unix.SIGSTOP)
}

// jobStops returns the terminal stop signals among sigs, as the signals
// table says (JobStop).
func jobStops(sigs []os.Signal) []os.Signal {
	var out []os.Signal
	for _, sig := range sigs {
		if signals.Of(sig.(syscall.Signal)).JobStop {
			out = append(out, sig)
		}
	}
	return out
}
