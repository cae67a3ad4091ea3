package reap

import (
	"syscall"
	"testing"
	"time"
)

// TestReapsEveryExit starts children the way the event loop does (a start,
// then Started) and without Started (only the SIGCHLD fallback wakes a
// reaper that had no child), in bursts and one by one, and checks that
// every one comes back with its own exit code and that the drain that
// reaped the last says no child is left.
func TestReapsEveryExit(t *testing.T) {
	out := startReaper()
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	tests := []struct {
		name    string
		n       int
		started bool
	}{
		{"one, Started", 1, true},
		{"one, SIGCHLD only", 1, false},
		{"burst of 20, Started", 20, true},
		{"burst of 20, SIGCHLD only", 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[int]int{}
			for i := range tt.n {
				code := i % 3
				argv := []string{"/bin/sh", "-c", "exit " + string(rune('0'+code))}
				pid, err := syscall.ForkExec(argv[0], argv, attr)
				if err != nil {
					t.Fatal(err)
				}
				want[pid] = code
				if tt.started {
					Started()
				}
			}
			deadline := time.After(60 * time.Second) // generous: the machine may be loaded
			noChildren := false
			for len(want) > 0 || !noChildren {
				select {
				case b := <-out:
					for _, e := range b.Exits {
						code, ok := want[e.PID]
						if !ok {
							t.Fatalf("reaped unknown pid %d", e.PID)
						}
						if got := Code(e.Status); got != code {
							t.Errorf("pid %d: code %d, want %d", e.PID, got, code)
						}
						delete(want, e.PID)
					}
					// A drain may end in ECHILD before the burst's later
					// children exist; the one after the last exit must.
					noChildren = b.NoChildren
				case <-deadline:
					t.Fatalf("%d of %d children not reaped within 60s (noChildren=%v)", len(want), tt.n, noChildren)
				}
			}
		})
	}
}
