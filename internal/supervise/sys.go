package supervise

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/spawn"
)

// system is how the event loop starts and signals the services' processes
// and reads the clock. The real one forks, kills and uses package time;
// the unit tests put a fake in its place, so the state machine (restart
// policy, dependency gating, stop order, exit code) runs without processes
// and without waiting. Exits come back through the loop's events either
// way (onBatch).
type system interface {
	start(spec *spawn.Spec) (pid int, err error)
	kill(pid int, sig syscall.Signal) error
	now() time.Time
	afterFunc(d time.Duration, f func()) timer
	// processes lists the processes visible in /proc (the shutdown's
	// sweep); the fake lists none.
	processes() ([]proc.Process, error)
	// processStats lists them with their usage (usage.go's walk, on the
	// asking goroutine), for at most budget: past it, what was read,
	// complete false.
	processStats(budget time.Duration) (stats []proc.Stat, complete bool, err error)
}

// timer is a pending afterFunc.
type timer interface{ Stop() bool }

type realSystem struct{}

// start forks and execs spec, then tells the reaper that tend has a child
// to wait for (it sleeps in waitid while tend has none).
func (realSystem) start(spec *spawn.Spec) (int, error) {
	pid, err := spawn.Start(spec)
	if err == nil {
		reap.Started()
	}
	return pid, err
}

func (realSystem) kill(pid int, sig syscall.Signal) error { return unix.Kill(pid, sig) }
func (realSystem) now() time.Time                         { return time.Now() }
func (realSystem) afterFunc(d time.Duration, f func()) timer {
	return time.AfterFunc(d, f)
}
func (realSystem) processes() ([]proc.Process, error) { return proc.List() }
func (realSystem) processStats(budget time.Duration) ([]proc.Stat, bool, error) {
	return proc.ListStats(time.Now().Add(budget))
}
