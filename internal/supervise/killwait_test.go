package supervise

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/reap"
	"github.com/tend-sh/tend/internal/tendlog"
)

// What tend says when it gives up waiting after the grace's SIGKILL is
// what the listing shows: live processes named with their state, zombies
// counted, and nothing left said as such (not as a warning).
func TestLeftAfterKill(t *testing.T) {
	p := func(pid int, state byte) proc.Process {
		return proc.Process{PID: pid, PGID: pid, State: state, Comm: "w" + string(rune('0'+pid%10))}
	}
	many := make([]proc.Process, 0, 812)
	for i := range 800 {
		many = append(many, p(1000+i, 'Z'))
	}
	for i := range 12 {
		many = append(many, p(3000+i, 'D'))
	}
	for _, tt := range []struct {
		name  string
		procs []proc.Process
		left  bool
		want  []string // in the message
		not   []string
	}{
		{"nothing left", nil, false, []string{"all processes killed at the grace have exited"}, []string{"zombie", "alive"}},
		{"zombies only", []proc.Process{p(10, 'Z'), p(11, 'Z')}, true,
			[]string{"2 process(es) killed at the grace are dead but not yet reaped (zombies) 3s after SIGKILL"}, []string{"alive"}},
		{"alive and zombies", []proc.Process{p(10, 'Z'), p(12, 'D'), p(13, 'R')}, true,
			[]string{"2 process(es) still alive 3s after SIGKILL", "and 1 dead but not yet reaped", "12 [w2] state D, 13 [w3] state R"}, []string{"10 ["}},
		{"800 zombies, 12 alive: ten named", many, true,
			[]string{"12 process(es) still alive", "and 800 dead but not yet reaped", "3009 [w9] state D, ... 2 more"}, []string{"3010 ["}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, left := leftAfterKill(tt.procs, "3s")
			if left != tt.left {
				t.Errorf("left = %v, want %v (%s)", left, tt.left, msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(msg, w) {
					t.Errorf("message %q says %q", msg, w)
				}
			}
		})
	}
}

// Exits the reaper already delivered are handled before tend decides what
// is left: a late queue of reaps is not "processes still present".
func TestKillWaitDrainsExits(t *testing.T) {
	var logb bytes.Buffer
	r := newRig(t, Config{Log: tendlog.New(&logb, slog.LevelInfo)}, Main([]string{"app"}, nil, nil, nil))
	m := r.pid(MainName)
	r.signal(unix.SIGTERM)
	r.s.phase = killing // the grace expired; everything was SIGKILLed
	delete(r.fs.alive, m)
	r.s.events = make(chan reap.Batch, 1)
	r.s.events <- reap.Batch{Exits: []reap.Exit{{PID: m, Status: unix.WaitStatus(unix.SIGKILL)}}, NoChildren: true}
	r.s.childless = false
	r.s.afterKillWait()
	if !r.s.finished() {
		t.Errorf("not finished after the queued exit was handled")
	}
	if out := logb.String(); strings.Contains(out, "after SIGKILL") || !strings.Contains(out, "tend: all processes exited") {
		t.Errorf("log:\n%s\nwant \"all processes exited\", nothing said to be left after SIGKILL", out)
	}
}
