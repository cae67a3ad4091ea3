package hardening

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
)

// startRecords reads the "start NAME PID UNIXNANO ..." records `testprog
// svc` appends, per service name.
func startRecords(t *testing.T, path string) map[string][]time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string][]time.Time{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "start" {
			continue
		}
		ns, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatalf("malformed record %q", line)
		}
		out[f[1]] = append(out[f[1]], time.Unix(0, ns))
	}
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	}
	return out
}

// TestCrashLoops: ten services (forty under -soak) exiting at once, restart = "always", backoff
// 100ms..1s, at most 5 restarts a minute. The backoff holds, tend's CPU
// stays low, every service ends "failed", tend stays up and answers; SIGTERM
// → exit 0.
func TestCrashLoops(t *testing.T) {
	dir := scratch(t)
	recs := filepath.Join(dir, "records")
	sock := filepath.Join(dir, "ctl.sock")
	n := pick(10, 40)
	var cfg strings.Builder
	cfg.WriteString("grace = \"5s\"\n")
	names := []string{}
	for i := range n {
		// Half fail (exit 1: the backoff doubles), half succeed (exit 0:
		// restart = "always" restarts them after the initial delay).
		code := i % 2
		name := fmt.Sprintf("crash%d_exit%d", i, code)
		names = append(names, name)
		fmt.Fprintf(&cfg, "\n[service.%s]\ncommand = %s\nrestart = \"always\"\nbackoff = { initial = \"100ms\", max = \"1s\" }\nmax_restarts = { count = 5, within = \"1m\" }\n",
			name, tomlArgv(tprog("svc", "--name", name, "--log", recs, "--exit", strconv.Itoa(code))...))
	}
	conf := writeConfig(t, dir, cfg.String())
	r := start(t, dir, opts{}, "-c", conf, "--socket", sock)
	cpu0 := cpuTime(t, r.TendPID)
	t0 := time.Now()
	var lat stats
	var final statusReport
	r.Poll("every service to be failed", func() bool {
		r.Alive("during the crash loops")
		code, out, _, took := tendCLI(sock, 5*time.Second, "status", "--json")
		if code != 0 {
			return false
		}
		lat.add(took.Seconds() * 1000)
		final = statusReport{}
		if jsonUnmarshal(out, &final) != nil {
			return false
		}
		failed := 0
		for _, s := range final.Services {
			if s.State == "failed" {
				failed++
			}
		}
		if failed < n {
			time.Sleep(100 * time.Millisecond)
		}
		return failed == n
	})
	wall := time.Since(t0)
	cpu := cpuTime(t, r.TendPID) - cpu0
	t.Logf("all %d services failed after %v; tend CPU %v = %.1f%% of wall; status latency (ms) %s",
		n, wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds(), lat.String())
	if cpu.Seconds() > 0.3*wall.Seconds() {
		t.Errorf("tend used %v of CPU in %v of crash loops (want < 30%% of wall)", cpu, wall)
	}

	// Backoff and restart limits, from the services' own start records.
	byName := startRecords(t, recs)
	st := final.ByName()
	for _, name := range names {
		starts := byName[name]
		var gaps []string
		for i := 1; i < len(starts); i++ {
			gaps = append(gaps, starts[i].Sub(starts[i-1]).Round(time.Millisecond).String())
		}
		t.Logf("%s: %d starts, gaps %v; status: state=%s restarts=%d last_exit=%v", name, len(starts), gaps, st[name].State, st[name].Restarts, deref(st[name].LastExit))
		if len(starts) != 6 {
			t.Errorf("%s started %d times; want 6 (the first start and max_restarts.count = 5 restarts)", name, len(starts))
		}
		for _, e := range harness.CheckBackoff(starts, strings.HasSuffix(name, "exit1"), 100*time.Millisecond, time.Second) {
			t.Errorf("%s: %s", name, e)
		}
		if st[name].State != "failed" {
			t.Errorf("%s: state %q, want failed", name, st[name].State)
		}
	}

	// Still alive and responsive after the loops.
	time.Sleep(300 * time.Millisecond)
	r.Alive("after every service failed")
	// 10 s: only that tend answers (a wedged tend never does); the CLI's
	// own exec and start take seconds at a load average of ~100.
	_, took := r.status(sock, 10*time.Second)
	t.Logf("status after the loops answered in %v", took.Round(time.Millisecond))
	if after := startRecords(t, recs); countAll(after) != countAll(byName) {
		t.Errorf("services were started again after they failed: %d starts, then %d", countAll(byName), countAll(after))
	}
	r.Signal(unix.SIGTERM)
	// Nothing is left to stop: tend exits at once (7 ms seen); 15 s bounds
	// only a hang, with room for a loaded machine.
	took = r.WaitExit(15 * time.Second)
	t.Logf("SIGTERM: tend exited %v later", took.Round(time.Millisecond))
	r.ExpectCode(0)
	r.noPanic()
}

func countAll(m map[string][]time.Time) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func deref(p *int) string {
	if p == nil {
		return "nil"
	}
	return strconv.Itoa(*p)
}
