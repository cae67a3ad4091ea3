package tendlog

import (
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tend-sh/tend/internal/safe"
)

// Async is an io.Writer that never blocks its caller: it queues each write
// (one log line) for a goroutine that writes it out. tend's event loop logs
// through it, so a stderr nobody reads (a full pipe) can never stall the
// loop. When the queue is full the line is dropped and counted; the count
// is written as one line once the writer catches up, with what happened:
// the output was blocked (a write took blockedAfter or more: a pipe
// nobody read), or the lines came faster than an output that was never
// blocked took them (a file on a slow disk, a burst of -vv lines, a
// writer starved of CPU).
type Async struct {
	w       io.Writer
	ch      chan []byte
	pending atomic.Int64
	dropped atomic.Uint64
	drained chan struct{}
	start   sync.Once
	now     func() time.Time // the clock (tests replace it)
	slowest time.Duration    // the longest write since the last report; the writer's own
}

// blockedAfter is how long one write must take to count as the output
// being blocked rather than slow.
const blockedAfter = time.Second

// NewAsync returns a writer for w with room for queue lines. Its goroutine
// starts with the first line: at the default level a healthy tend logs
// nothing, and a goroutine started before the first fork wakes an idle
// thread to run it, on the start path of every container (BENCHMARKS.md).
func NewAsync(w io.Writer, queue int) *Async {
	return &Async{w: w, ch: make(chan []byte, queue), drained: make(chan struct{}, 1), now: time.Now}
}

// Write queues a copy of p, or drops it when the queue is full.
func (a *Async) Write(p []byte) (int, error) {
	a.start.Do(func() { safe.Go("log writer", a.run) })
	a.pending.Add(1)
	select {
	case a.ch <- append([]byte(nil), p...):
	default:
		a.pending.Add(-1)
		a.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped is the number of lines dropped so far.
func (a *Async) Dropped() uint64 { return a.dropped.Load() }

func (a *Async) run() {
	for b := range a.ch {
		began := a.now()
		_, _ = a.w.Write(b)
		a.slowest = max(a.slowest, a.now().Sub(began))
		if n := a.dropped.Swap(0); n > 0 {
			_, _ = a.w.Write([]byte(a.droppedLine(n)))
			a.slowest = 0
		}
		if a.pending.Add(-1) == 0 {
			select {
			case a.drained <- struct{}{}:
			default:
			}
		}
	}
}

// Flush waits until every queued line was written, at most timeout, and
// reports whether it got there.
func (a *Async) Flush(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for a.pending.Load() > 0 {
		select {
		case <-a.drained:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// droppedLine says that n lines were dropped, and why.
func (a *Async) droppedLine(n uint64) string {
	head := "tend: " + strconv.FormatUint(n, 10) + " of tend's own log line(s) dropped: "
	q := strconv.Itoa(cap(a.ch))
	if a.slowest >= blockedAfter {
		return head + "its output was blocked (one write took " + a.slowest.Round(time.Millisecond).String() + ") while " + q + " more waited\n"
	}
	return head + "they came faster than its output took them (" + q + " were waiting; the slowest write took " + a.slowest.Round(time.Microsecond).String() + ")\n"
}
