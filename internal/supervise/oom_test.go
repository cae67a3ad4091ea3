package supervise

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/status"
)

// TestNoteOOM: deaths by SIGKILL against the rise of the OOM kill
// counter: k >= m certain, 0 < k < m possibly, 0 plain; tend's own
// SIGKILLs never count; the counter is read only when such a death is
// seen.
func TestNoteOOM(t *testing.T) {
	killed := unix.WaitStatus(unix.SIGKILL)
	exited := unix.WaitStatus(1 << 8)
	tests := []struct {
		name       string
		rise       uint64
		exits      []reap.Exit
		tendKills  []int // kill(2) targets tend SIGKILLed first
		wantReads  int
		wantReason map[string]string
		wantLog    []string
		noLog      []string
	}{
		{name: "no SIGKILL: no read", rise: 3, exits: []reap.Exit{{PID: 10, Status: exited}}, wantReads: 0,
			wantReason: map[string]string{"web": ""}, noLog: []string{"OOM"}},
		{name: "one kill, one death", rise: 1, exits: []reap.Exit{{PID: 10, Status: killed}}, wantReads: 1,
			wantReason: map[string]string{"web": status.ReasonOOMKilled},
			wantLog:    []string{`(OOM)" service=web pid=10 limit=64Mi`}},
		{name: "orphan", rise: 1, exits: []reap.Exit{{PID: 99, Status: killed}}, wantReads: 1,
			wantLog: []string{`msg="process killed by the kernel for lack of memory (OOM)" pid=99 limit=64Mi`}},
		{name: "fewer kills than deaths", rise: 1, exits: []reap.Exit{{PID: 10, Status: killed}, {PID: 11, Status: killed}}, wantReads: 1,
			wantReason: map[string]string{"web": status.ReasonPossiblyOOMKilled, "db": status.ReasonPossiblyOOMKilled},
			wantLog:    []string{"possibly OOM (1 kills for 2 deaths)"}, noLog: []string{"level=ERROR"}},
		{name: "counter unchanged: kill -9", rise: 0, exits: []reap.Exit{{PID: 10, Status: killed}}, wantReads: 1,
			wantReason: map[string]string{"web": ""}, noLog: []string{"OOM"}},
		{name: "tend's own SIGKILL", rise: 1, exits: []reap.Exit{{PID: 10, Status: killed}}, tendKills: []int{-10}, wantReads: 0,
			wantReason: map[string]string{"web": ""}, noLog: []string{"OOM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			fs := newFakeSystem()
			s := New(Config{Log: slog.New(slog.NewTextHandler(&logged, nil))})
			s.sys = fs
			s.oom.reasons, s.oom.kills, s.oom.children = map[string]string{}, map[string]uint64{}, map[string]*child{}
			s.sys = killRecorder{system: s.sys, o: &s.oom}
			var value uint64 = 5
			reads := 0
			s.oom.container, _ = newCounter(func() (uint64, error) { reads++; return value, nil },
				func() (int64, error) { return 64 << 20, nil }, fs.now())
			reads = 0
			for _, name := range []string{"web", "db"} {
				v := s.add(&Service{Service: &config.Service{Name: name}})
				v.pid = map[string]int{"web": 10, "db": 11}[name]
				s.byPID[v.pid] = v
			}
			for _, target := range tt.tendKills {
				_ = s.sys.kill(target, unix.SIGKILL)
			}
			value += tt.rise
			s.noteOOM(reap.Batch{Exits: tt.exits})
			if reads != tt.wantReads {
				t.Errorf("counter read %d times, want %d", reads, tt.wantReads)
			}
			for name, want := range tt.wantReason {
				if got := s.oom.reasons[name]; got != want {
					t.Errorf("%s: reason %q, want %q", name, got, want)
				}
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(logged.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logged.String())
				}
			}
			for _, w := range tt.noLog {
				if strings.Contains(logged.String(), w) {
					t.Errorf("log has %q:\n%s", w, logged.String())
				}
			}
		})
	}
}

// TestOOMCounterSurplus: kills counted beyond the deaths of a batch are
// matched with a later death within surplusWindow, and written off after.
func TestOOMCounterSurplus(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var v uint64
	c, _ := newCounter(func() (uint64, error) { return v, nil }, nil, t0)
	v = 2
	if k, _ := c.rise(t0); k != 2 {
		t.Fatalf("rise %d, want 2", k)
	}
	c.used++ // one death matched
	if k, _ := c.rise(t0.Add(surplusWindow / 2)); k != 1 {
		t.Errorf("within the window: rise %d, want the 1 left", k)
	}
	if k, _ := c.rise(t0.Add(3 * surplusWindow)); k != 0 {
		t.Errorf("after the window: rise %d, want 0 (written off)", k)
	}
}
