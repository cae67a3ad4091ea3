package tendlog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		verbose int
		log     func(l *slog.Logger)
		want    string
	}{
		{0, func(l *slog.Logger) { l.Info("started", "pid", 7) }, ""},
		{0, func(l *slog.Logger) { l.Warn("grace period 1s expired") }, "tend: grace period 1s expired\n"},
		{0, func(l *slog.Logger) { l.Error(`cannot start "x": command not found`) }, "tend: cannot start \"x\": command not found\n"},
		{1, func(l *slog.Logger) { l.Info("started", "pid", 7, "cmd", "sh -c x", "empty", "") }, "tend: started pid=7 cmd=\"sh -c x\" empty=\"\"\n"},
		{1, func(l *slog.Logger) { l.With("svc", "web").Info("up") }, "tend: up svc=web\n"},
		{1, func(l *slog.Logger) { l.Debug("reaped") }, ""},
		{2, func(l *slog.Logger) { l.Debug("reaped", "bad", "a\nb") }, "tend: reaped bad=\"a\\nb\"\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		tt.log(New(&b, LevelFor(tt.verbose)))
		if b.String() != tt.want {
			t.Errorf("verbose=%d: got %q, want %q", tt.verbose, b.String(), tt.want)
		}
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	release chan struct{}
	got     bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.got.Write(p)
}

// fakeClock moves by step at every reading.
func fakeClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		at = at.Add(step)
		return at
	}
}

// The line about dropped lines says what happened: the output was blocked
// (writes took seconds: a pipe nobody reads), or lines came faster than
// an output that never blocked took them (a file: issue 17 found "blocked"
// said there). The clock is a fake: each write "takes" one step.
func TestAsyncDroppedSaysWhy(t *testing.T) {
	for _, tt := range []struct {
		step      time.Duration
		want, not string
	}{
		{5 * time.Second, "log line(s) dropped: its output was blocked (one write took 5s) while 4 more waited\n", "faster"},
		{time.Millisecond, "log line(s) dropped: they came faster than its output took them (4 were waiting; the slowest write took 1ms)\n", "blocked"},
	} {
		// The writer is held until the queue overflowed; the clock says
		// how long the writes took.
		w := &blockingWriter{release: make(chan struct{})}
		a := NewAsync(w, 4)
		a.now = fakeClock(tt.step)
		log := New(a, slog.LevelInfo)
		for i := 0; i < 20; i++ {
			log.Info("line", "i", i)
		}
		close(w.release)
		if !a.Flush(5 * time.Second) {
			t.Fatal("Flush timed out after the writer was released")
		}
		out := w.got.String()
		if !strings.Contains(out, tt.want) || strings.Contains(out, tt.not) {
			t.Errorf("step %v: output:\n%s\nwant %q", tt.step, out, tt.want)
		}
	}
}

func TestAsyncNeverBlocks(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	a := NewAsync(w, 4)
	a.now = fakeClock(2 * time.Second) // each write blocked 2s
	log := New(a, slog.LevelInfo)
	// The writer is stuck: these must all return at once; beyond the
	// queue (and the one line the writer holds) lines are dropped.
	for i := 0; i < 100; i++ {
		log.Info("line", "i", i)
	}
	if a.Flush(10 * time.Millisecond) {
		t.Fatal("Flush reported success while the writer is blocked")
	}
	dropped := a.Dropped()
	if dropped < 100-5 || dropped > 100-4 {
		t.Errorf("dropped %d lines, want 95 or 96", dropped)
	}
	close(w.release)
	if !a.Flush(5 * time.Second) {
		t.Fatal("Flush timed out after the writer was released")
	}
	out := w.got.String()
	if !strings.HasPrefix(out, "tend: line i=0\n") || !strings.Contains(out, "log line(s) dropped: its output was blocked (one write took 2s) while 4 more waited\n") {
		t.Errorf("output:\n%s", out)
	}
}
