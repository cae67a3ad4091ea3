package supervise

import (
	"slices"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/signals"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		initial, max time.Duration
		n            int
		lo, hi       time.Duration // jitter takes off up to 20%
	}{
		{0, time.Second, 0, 0, 0}, // initial 0: the first restart is immediate
		{0, time.Second, 1, 8 * ms, 10 * ms},
		{0, time.Second, 3, 32 * ms, 40 * ms},
		{0, 5 * ms, 3, 4 * ms, 5 * ms},
		{0, time.Second, 1000, 800 * ms, time.Second},
		{100 * ms, 30 * time.Second, 0, 80 * ms, 100 * ms},
		{100 * ms, 30 * time.Second, 1, 160 * ms, 200 * ms},
		{100 * ms, 30 * time.Second, 3, 640 * ms, 800 * ms},
		{100 * ms, time.Second, 10, 800 * ms, time.Second}, // capped
		{100 * ms, time.Second, 1000, 800 * ms, time.Second},
	}
	for _, tt := range tests {
		for i := 0; i < 200; i++ {
			d := backoff(tt.initial, tt.max, tt.n)
			if d < tt.lo || d > tt.hi {
				t.Fatalf("backoff(%v, %v, %d) = %v, want within [%v, %v]", tt.initial, tt.max, tt.n, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestSetEnv(t *testing.T) {
	got := SetEnv([]string{"A=1", "HOME=/root", "HOMEDIR=x", "B=2"}, "HOME", "/home/u")
	want := []string{"A=1", "HOMEDIR=x", "B=2", "HOME=/home/u"}
	if !slices.Equal(got, want) {
		t.Errorf("SetEnv = %q, want %q", got, want)
	}
}

func TestStopSignalOfMain(t *testing.T) {
	s := New(Config{Services: []*Service{Main([]string{"x"}, nil, nil, nil)}})
	v := s.main
	s.trigger = 2 // SIGINT
	if got := s.stopSignal(v); got != 2 {
		t.Errorf("main stop signal after SIGINT = %v, want SIGINT", got)
	}
	s.trigger = 0 // a failure started the shutdown
	if got := s.stopSignal(v); got != 15 {
		t.Errorf("main stop signal after a failure = %v, want SIGTERM", got)
	}
	s.cfg.Rewrite = signals.Rewrite{15: 3} // TERM:QUIT, as for nginx
	if got := s.stopSignal(v); got != 3 {
		t.Errorf("main stop signal with TERM:QUIT = %v, want SIGQUIT", got)
	}
}
