package reap

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// started is set once a test or BenchmarkDispatch has installed the
// reaper: from then on its goroutine reaps everything, so BenchmarkDrain
// cannot run after it.
var started bool

// reaped is the channel of the one reaper of this test binary.
var reaped chan Batch

// startReaper installs the reaper once and returns its channel.
func startReaper() chan Batch {
	if !started {
		reaped = make(chan Batch, 16)
		Start(reaped)
		started = true
	}
	return reaped
}

// spawnBlocked starts n children (/bin/cat on a pipe) that exit together
// when the returned function closes the pipe.
func spawnBlocked(b *testing.B, n int) (release func()) {
	b.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	attr := &syscall.ProcAttr{Files: []uintptr{r.Fd(), devnull.Fd(), devnull.Fd()}}
	for range n {
		if _, err := syscall.ForkExec("/bin/cat", []string{"cat"}, attr); err != nil {
			b.Fatal(err)
		}
	}
	r.Close()
	devnull.Close()
	return func() { w.Close() }
}

// BenchmarkDrain is one drain (wait4(-1, WNOHANG) until nothing is left) of
// N children that have all exited already: the cost per SIGCHLD wake-up.
func BenchmarkDrain(b *testing.B) {
	if started {
		b.Skip("the reaper goroutine of BenchmarkDispatch is running")
	}
	for _, n := range []int{1, 10, 100} {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				release := spawnBlocked(b, n)
				release()
				// Wait, without reaping, until every child is a zombie.
				for zombies() < n {
					time.Sleep(100 * time.Microsecond)
				}
				b.StartTimer()
				if got := len(drain().Exits); got != n {
					b.Fatalf("drained %d, want %d", got, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/exit")
		})
	}
}

// zombies counts this process's zombie children (listed under the thread
// that forked each, so over every thread).
func zombies() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	var kids []string
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err == nil {
			kids = append(kids, splitFields(string(b))...)
		}
	}
	n := 0
	for _, f := range kids {
		st, err := os.ReadFile("/proc/" + f + "/stat")
		if err != nil {
			continue
		}
		s := string(st)
		for i := len(s) - 1; i >= 0; i-- {
			if s[i] == ')' {
				if i+2 < len(s) && s[i+2] == 'Z' {
					n++
				}
				break
			}
		}
	}
	return n
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' || s[i] == '\n' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	return out
}

// BenchmarkDispatch is the whole path from N children exiting together to
// their N exits received from the channel the event loop reads: the
// reaper's wake-up, the drain, and the channel sends. Forking is not timed.
func BenchmarkDispatch(b *testing.B) {
	out := startReaper()
	for _, n := range []int{1, 10, 100} {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				release := spawnBlocked(b, n)
				b.StartTimer()
				release()
				for got := 0; got < n; {
					got += len((<-out).Exits)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/exit")
		})
	}
}
