// Package reap owns every wait4 call in tend.
//
// Exactly one goroutine reaps. It wakes on SIGCHLD, which the kernel
// coalesces, so on every wake-up it calls wait4(-1, WNOHANG) until nothing
// is left to reap, and sends each exit status, in order, to a single
// channel owned by the event loop. Nothing is ever dropped: sends block.
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

// Start installs the SIGCHLD handler and starts the reaping goroutine.
// Call it before starting any child. Batches go to out; a drain that
// reaped nothing sends nothing. It reports whether tend has no children at
// all now (the first drain answered ECHILD), which no batch would ever say
// if tend never gets a child.
func Start(out chan<- Batch) (noChildren bool) {
	wake := make(chan os.Signal, 1)
	signal.Notify(wake, unix.SIGCHLD)
	first := drain()
	go func() {
		if len(first.Exits) > 0 {
			out <- first
		}
		for {
			<-wake
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
