package tendlog

import (
	"bytes"
	"log/slog"
	"strings"
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

func TestAsyncNeverBlocks(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	a := NewAsync(w, 4)
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
	if !strings.HasPrefix(out, "tend: line i=0\n") || !strings.Contains(out, "log line(s) dropped: its output was blocked\n") {
		t.Errorf("output:\n%s", out)
	}
}
