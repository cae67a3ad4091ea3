package hardening

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stormSignals are the signals of the storm: every signal 1-64 except the
// ones that stop tend or cannot be caught (TERM, INT, KILL, STOP).
func stormSignals() []unix.Signal {
	var out []unix.Signal
	for s := unix.Signal(1); s <= 64; s++ {
		switch s {
		case unix.SIGTERM, unix.SIGINT, unix.SIGKILL, unix.SIGSTOP:
			continue
		}
		out = append(out, s)
	}
	return out
}

// storm sends signals to pid at rate per second (mixed, round robin) until
// stop is closed, from a few goroutines, and counts the signals sent. It
// signals through a pidfd, so a recycled pid is never hit.
func storm(t *testing.T, pid, rate int, stop <-chan struct{}) (sent *atomic.Int64, wait func()) {
	t.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	sigs := stormSignals()
	sent = new(atomic.Int64)
	var wg sync.WaitGroup
	const senders = 2
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			begin := time.Now()
			perSender := float64(rate) / senders
			var n int64
			i := g
			for {
				select {
				case <-stop:
					return
				default:
				}
				target := int64(time.Since(begin).Seconds() * perSender)
				for ; n < target; n++ {
					if unix.PidfdSendSignal(pidfd, sigs[i%len(sigs)], nil, 0) == nil {
						sent.Add(1)
					}
					i++
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	var once sync.Once
	return sent, func() {
		wg.Wait()
		once.Do(func() { unix.Close(pidfd) })
	}
}

// TestSignalStorm: 10,000 mixed signals/s at tend while it supervises a main
// that catches everything; then SIGTERM must still shut down, tend must not
// panic, and its RSS must stay flat.
func TestSignalStorm(t *testing.T) {
	dir := scratch(t)
	rdy := filepath.Join(dir, "main.ready")
	r := start(t, dir, opts{}, "--grace", "5s", "--", testprog, "sigprint", "--ready", rdy)
	r.WaitFile(rdy)
	time.Sleep(200 * time.Millisecond) // let tend finish registering its late signals
	rssBefore := rssKiB(t, r.TendPID)
	cpuBefore := cpuTime(t, r.TendPID)

	d := pick(1500*time.Millisecond, 5*time.Second)
	const rate = 10000
	stop := make(chan struct{})
	t0 := time.Now()
	sent, wait := storm(t, r.TendPID, rate, stop)
	var rssPeak int
	for time.Since(t0) < d {
		time.Sleep(50 * time.Millisecond)
		r.Alive("during the signal storm")
		rssPeak = max(rssPeak, rssKiB(t, r.TendPID))
	}
	close(stop)
	wait()
	elapsed := time.Since(t0)
	rssAfter := rssKiB(t, r.TendPID)
	cpuStorm := cpuTime(t, r.TendPID) - cpuBefore
	time.Sleep(500 * time.Millisecond)
	r.Alive("after the signal storm")
	rssSettled := rssKiB(t, r.TendPID)
	got := strings.Count(r.Stdout(), "\n")
	t.Logf("storm: %d signals in %v (%.0f/s) of %d kinds; main printed %d lines; tend CPU during storm %v (%.0f%% of wall)",
		sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(), len(stormSignals()),
		got, cpuStorm, 100*cpuStorm.Seconds()/elapsed.Seconds())
	t.Logf("tend VmRSS: before %d KiB, peak during %d KiB, after %d KiB, settled %d KiB", rssBefore, rssPeak, rssAfter, rssSettled)
	if float64(sent.Load()) < 0.8*rate*elapsed.Seconds() {
		t.Errorf("the storm reached only %d signals in %v (want ≥ 80%% of %d/s): the test is not measuring what it claims",
			sent.Load(), elapsed, rate)
	}
	if got == 0 {
		t.Errorf("the main printed no signal at all: nothing was forwarded during the storm\n%s", r.Diag())
	}
	for _, rss := range []int{rssAfter, rssSettled} {
		if rss >= 2*rssBefore || rss >= rssBefore+4096 {
			t.Errorf("tend's RSS grew from %d KiB to %d KiB (limit: < 2× and < +4 MiB)", rssBefore, rss)
		}
	}

	// The SIGTERM is not lost: the main prints it and exits 0. A lost
	// SIGTERM never ends the run; an exit takes milliseconds: 15 s bounds
	// the wait with room for a load average of ~100.
	r.Signal(unix.SIGTERM)
	took := r.WaitExit(15 * time.Second)
	t.Logf("SIGTERM after the storm: tend exited %v later", took.Round(time.Millisecond))
	r.ExpectCode(0)
	if !strings.HasSuffix(r.Stdout(), "got SIGTERM\n") {
		t.Errorf("the main did not print SIGTERM last\n%s", r.Diag())
	}
	r.noPanic()
}

// TestSignalStormTermDuring: a SIGTERM sent in the middle of a storm is not
// pushed out by the other signals; tend shuts down while the storm goes on.
func TestSignalStormTermDuring(t *testing.T) {
	dir := scratch(t)
	rdy := filepath.Join(dir, "main.ready")
	r := start(t, dir, opts{}, "--grace", "5s", "--", testprog, "sigprint", "--ready", rdy)
	r.WaitFile(rdy)
	time.Sleep(100 * time.Millisecond)
	stop := make(chan struct{})
	sent, wait := storm(t, r.TendPID, 10000, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wait()
	}()
	time.Sleep(pick(500*time.Millisecond, 2*time.Second))
	r.Signal(unix.SIGTERM)
	// A SIGTERM pushed out by the storm never ends the run (the main
	// exits on it, nothing waits for the 5 s grace); one that gets
	// through ends it in milliseconds. 15 s bounds the wait, the check
	// below the delay.
	took := r.WaitExit(15 * time.Second)
	close(stop)
	wait()
	t.Logf("SIGTERM in a storm (%d signals sent in total): tend exited %v later", sent.Load(), took.Round(time.Millisecond))
	r.ExpectCode(0)
	if !strings.Contains(r.Stdout(), "got SIGTERM\n") {
		t.Errorf("the main never got SIGTERM\n%s", r.Diag())
	}
	if took > 5*time.Second {
		t.Errorf("tend took %v to exit after SIGTERM during the storm (want < 5s: milliseconds, with room for a loaded machine)", took)
	}
	r.noPanic()
}
