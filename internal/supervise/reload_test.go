package supervise

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// syncBuf is a log destination safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// loopUntil plays the event loop for the reload machinery: it runs the
// events posted on s.reqs until cond holds (checked after each and every
// 5 ms), failing
// the test after a generous deadline.
func loopUntil(t *testing.T, s *Supervisor, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond) // cond may also change off the loop
	defer tick.Stop()
	for !cond() {
		select {
		case f := <-s.reqs:
			f()
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A SIGHUP never blocks the event loop on the files: the read runs in a
// goroutine and its result comes back as an event. A second SIGHUP while a
// read is running is coalesced into one more reload after it; a read that
// does not return within the timeout is reported, the running
// configuration kept, and its late result discarded.
func TestReloadOffTheLoop(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	results := make(chan *Reloaded, 4)
	var logs syncBuf
	s := New(Config{
		Grace: time.Second,
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
		Reload: func() (*Reloaded, error) {
			n := calls.Add(1)
			if n == 1 {
				<-release // the first read blocks, as on a FIFO or a hung mount
			}
			if r := <-results; r != nil {
				return r, nil
			}
			return nil, errors.New("bad file")
		},
	})
	defer close(s.done) // releases the goroutines posting to s.reqs
	s.rl.timeout = 50 * time.Millisecond

	// 1. The first SIGHUP returns at once although the read blocks.
	returned := make(chan struct{})
	go func() {
		s.onSignal(unix.SIGHUP)
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("the SIGHUP handler blocked on the configuration read")
	}
	// 2. A second and third SIGHUP while it runs start no other read.
	s.onSignal(unix.SIGHUP)
	s.onSignal(unix.SIGHUP)
	// 3. The read passes its deadline: reported, nothing applied.
	loopUntil(t, s, "the reload deadline", func() bool { return s.rl.late && calls.Load() >= 1 })
	if !strings.Contains(logs.String(), "reload failed; keeping the running configuration") {
		t.Errorf("a reload past its deadline was not reported:\n%s", logs.String())
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d reads while the first was still running, want 1", n)
	}
	// 4. The late read returns: discarded; the coalesced SIGHUPs make one
	// more reload, which is applied.
	results <- &Reloaded{Grace: 5 * time.Second}
	close(release)
	results <- &Reloaded{Grace: 7 * time.Second}
	loopUntil(t, s, "the second reload to be applied", func() bool { return !s.rl.running && calls.Load() == 2 })
	if s.cfg.Grace != 7*time.Second {
		t.Errorf("grace = %v after the reloads, want 7s (the late result discarded, the next one applied)", s.cfg.Grace)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d reads for three SIGHUPs during one blocked read, want 2", n)
	}
	// 5. An invalid file is reported and changes nothing.
	results <- nil
	s.onSignal(unix.SIGHUP)
	loopUntil(t, s, "the failed reload", func() bool { return !s.rl.running })
	if s.cfg.Grace != 7*time.Second || !strings.Contains(logs.String(), "bad file") {
		t.Errorf("an invalid reload: grace %v (want 7s kept), log:\n%s", s.cfg.Grace, logs.String())
	}
	// 6. During shutdown a SIGHUP reads nothing.
	s.phase = stopping
	s.onSignal(unix.SIGHUP)
	if n := calls.Load(); n != 3 || s.rl.running {
		t.Errorf("a SIGHUP during shutdown started a read (%d reads)", n)
	}
}

// SIGTERM while a reload is still reading shuts down at once; the read's
// result, when it comes, is not applied.
func TestStopDuringReload(t *testing.T) {
	release := make(chan struct{})
	var logs syncBuf
	s := New(Config{
		Grace: time.Second,
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
		Reload: func() (*Reloaded, error) {
			<-release
			return &Reloaded{Grace: 9 * time.Second}, nil
		},
	})
	defer close(s.done)
	s.onSignal(unix.SIGHUP)
	s.onStopSignal(unix.SIGTERM)
	if s.phase != stopping {
		t.Fatalf("phase after SIGTERM during a reload = %v, want stopping", s.phase)
	}
	s.grace.Stop()
	close(release)
	loopUntil(t, s, "the reload result", func() bool { return !s.rl.running })
	if s.cfg.Grace != time.Second || !strings.Contains(logs.String(), "reload ignored during shutdown") {
		t.Errorf("a reload finishing during shutdown: grace %v (want 1s), log:\n%s", s.cfg.Grace, logs.String())
	}
}
