// Package reap owns every wait4 call in tend.
//
// Exactly one goroutine reaps. It sleeps in waitid(P_ALL, WEXITED|WNOWAIT),
// which the kernel wakes as soon as any child can be reaped (without reaping
// it), so on every wake-up it calls wait4(-1, WNOHANG) until nothing is left
// to reap, and sends each exit status, in order, to a single channel owned
// by the event loop. With no child at all, waitid fails at once (ECHILD):
// the reaper then sleeps until Started is called or a SIGCHLD arrives. Nothing is ever dropped: sends block.
// Because the event loop is also the only place that starts processes, a
// child that exits before its starter has looked at it is still matched:
// the starter registered the PID before it reads the next event.
package reap

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/safe"
)

// Exit is one reaped process.
type Exit struct {
	PID    int
	Status unix.WaitStatus
}

// Batch is what one drain found: the exits in the order reaped and whether
// wait4 then answered ECHILD (tend has no children at all). Knowing both at
// once lets the loop skip looking for leftovers when there can be none: a
// process with no children has no descendants.
type Batch struct {
	Exits      []Exit
	NoChildren bool
}

// BecomeSubreaper makes tend the reaper of its orphaned descendants when it
// is not PID 1. It reports whether tend is PID 1.
func BecomeSubreaper() (pid1 bool, err error) {
	if os.Getpid() == 1 {
		return true, nil
	}
	return false, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// kick wakes a reaper that found no child (Started).
var kick = make(chan struct{}, 1)

// Started tells the reaper that a child was just started. Call it after
// every start: a reaper that had no child to wait for sleeps until then.
// Without it the next SIGCHLD still wakes the reaper, only later.
func Started() {
	select {
	case kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Start installs the SIGCHLD handler and starts the reaping goroutine.
// Call it before starting any child. Batches go to out; a drain that
// reaped nothing sends nothing. It reports whether tend has no children at
// all now (the first drain answered ECHILD), which no batch would ever say
// if tend never gets a child.
//
// The reaper waits in waitid rather than for SIGCHLD through os/signal:
// os/signal delivers a signal under the lock that signal.Notify holds
// while it registers signals, one round trip to the runtime's signal-mask
// thread each, and tend registers its late signals while the first child
// runs, so a child that exited at once was reaped only once they were all
// registered (BENCHMARKS.md, start-up). A blocked waitid costs no wakeup;
// the goroutine holds an OS thread while tend has children.
func Start(out chan<- Batch) (noChildren bool) {
	wake := make(chan os.Signal, 1)
	signal.Notify(wake, unix.SIGCHLD)
	first := drain()
	go func() {
		if len(first.Exits) > 0 {
			out <- first
		}
		for {
			var info unix.Siginfo
			switch err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil); err {
			case nil: // a child can be reaped
			case unix.EINTR:
				continue
			default:
				// ECHILD: no child at all, none can exit until one is
				// started. (Any other error: SIGCHLD still wakes us.)
				select {
				case <-wake:
				case <-kick:
				}
				continue
			}
			// A panic here is reported and reaping goes on: without the
			// reaper nothing could ever finish.
			safe.Run("reaper", func() {
				if b := drain(); len(b.Exits) > 0 {
					out <- b
				}
			})
		}
	}()
	return first.NoChildren && len(first.Exits) == 0
}

// drain reaps until wait4 reports that nothing more has exited right now.
func drain() Batch {
	var b Batch
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECHILD:
			b.NoChildren = true
			return b
		case err != nil || pid <= 0:
			return b // children exist, none has exited yet
		}
		b.Exits = append(b.Exits, Exit{PID: pid, Status: ws})
	}
}

// Code turns a wait status into a shell-style exit code: the exit status,
// or 128+N for death by signal N.
func Code(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
