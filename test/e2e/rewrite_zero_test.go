package e2e

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario (README, "Signals"): a SIGTERM or SIGINT rewritten to 0 is not
// forwarded, yet still starts the shutdown: a main that would never exit by
// itself is SIGKILLed at the grace and tend exits 137. Were the dropped
// signal to start nothing, tend would run on (the hang guard fails it).
func TestRewriteToZeroStillShutsDown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rewrite string
		sig     unix.Signal
	}{
		{"TERM:0", unix.SIGTERM},
		{"INT:0", unix.SIGINT},
	} {
		t.Run(c.rewrite, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out, ready := dir+"/O", dir+"/R"
			r := startIn(t, dir, opts{Env: []string{"TEND_GRACE=2s"}},
				"--rewrite", c.rewrite, "--", testprog, "sigprint", "--stay", "--out", out, "--ready", ready)
			r.WaitFile(ready)
			r.Signal(unix.SIGUSR1) // still forwarded: the marker that tend is up and forwarding
			r.WaitLines(out, 1)
			r.Signal(c.sig)
			// A hang guard: the good outcome is the 2 s grace, the bad one never.
			took := r.WaitExit(60 * time.Second)
			r.ExpectCode(137)
			if took < 1500*time.Millisecond {
				t.Errorf("tend exited %v after %v, before its 2s grace", took, c.sig)
			}
			if got := readLines(out); len(got) != 1 || got[0] != "got SIGUSR1" {
				t.Errorf("the main received %q, want only the SIGUSR1 (%v is rewritten to 0)", got, c.sig)
			}
			if !strings.Contains(r.Stderr(), "grace period 2s expired; killed 1 process(es)") {
				t.Errorf("stderr does not report the kill at the grace:\n%s", r.Stderr())
			}
		})
	}
}
