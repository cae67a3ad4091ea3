package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
)

// serviceFailedLine matches tend's "service failed" error for name.
func serviceFailedLine(name string) func(string) bool {
	return func(line string) bool {
		return strings.HasPrefix(line, "tend: service failed") && strings.Contains(line, " service="+name+" ")
	}
}

// Scenario: backoff timing. A service that exits 1 at once, backoff
// {200ms, 1s}, max_restarts {3 within 1m}: exactly 4 starts, the gaps at
// least 0.8×(200ms, 400ms, 800ms) (the jitter takes up to 20% off), less
// the documented reset after a run that lasted the backoff max.
func TestConfigBackoffBounds(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	cfg := keeperConfig(t, dir, records, fmt.Sprintf(`
[service.flaky]
command = %s
backoff = { initial = "200ms", max = "1s" }
max_restarts = { count = 3, within = "1m" }
`, tomlArgv(tprog("svc", "--name", "flaky", "--log", records, "--exit", "1")...)))
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg)

	line := r.waitStderr("flaky's failure", serviceFailedLine("flaky"))
	t.Logf("%s", line)
	// No further start may follow the failure: wait longer than the
	// longest backoff before counting.
	r.AliveFor(1500*time.Millisecond, "flaky is not critical")
	recs := readSvcRecords(t, records)
	starts := filterSvcRecords(recs, "start", "flaky")
	if len(starts) != 4 {
		t.Fatalf("flaky started %d times, want 4 (1 + 3 restarts)\n%s\n%s", len(starts), formatSvcRecords(recs), r.Diag())
	}
	// The lower bounds: harness.CheckBackoff (it allows the documented
	// reset after a run that lasted the 1s max, which a slow start on a
	// loaded machine produces).
	var at []time.Time
	for _, s := range starts {
		at = append(at, s.at)
	}
	for _, e := range harness.CheckBackoff(at, true, 200*time.Millisecond, time.Second) {
		t.Errorf("%s\n%s", e, formatSvcRecords(starts))
	}
	// The upper bound guards against a backoff far longer than configured
	// (or a restart that waits for something else): the gap is the
	// backoff plus the run, which a loaded machine stretches by seconds.
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	for i, d := range want {
		gap := starts[i+1].at.Sub(starts[i].at)
		upper := d + 6*time.Second
		t.Logf("restart %d: gap %v (backoff %v)", i+1, gap.Round(time.Millisecond), d)
		if gap > upper {
			t.Errorf("restart %d came %v after the previous start; want ≤ %v\n%s", i+1, gap.Round(time.Millisecond), upper, formatSvcRecords(starts))
		}
	}
	if len(filterSvcRecords(recs, "stop", "keeper")) != 0 {
		t.Errorf("keeper was stopped by flaky's failure:\n%s", formatSvcRecords(recs))
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: a critical service exceeding its restart limit stops the
// container with its exit code; the other services are stopped in order
// (their stop records written before tend exited).
func TestConfigCriticalRestartLimit(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	ready2 := filepath.Join(dir, "other2-ready")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.other1]
command = %s

[service.other2]
command = %s
after = ["other1"]

[service.crit]
command = %s
critical = true
backoff = { initial = "50ms", max = "100ms" }
max_restarts = { count = 2, within = "1m" }
`,
		tomlArgv(tprog("svc", "--name", "other1", "--log", records, "--stop-delay", "100ms", "--ready", filepath.Join(dir, "other1-ready"))...),
		tomlArgv(tprog("svc", "--name", "other2", "--log", records, "--stop-delay", "100ms", "--ready", ready2)...),
		// crit fails only once other2 (started after other1) can record its stop.
		tomlArgv(tprog("svc", "--name", "crit", "--log", records, "--exit", "7", "--wait", ready2)...)))
	r := startIn(t, dir, opts{}, "-c", cfg)
	r.ExpectExit(7)
	recs := readSvcRecords(t, records)
	if n := len(filterSvcRecords(recs, "start", "crit")); n != 3 {
		t.Errorf("crit started %d times, want 3 (1 + max_restarts.count 2)\n%s", n, formatSvcRecords(recs))
	}
	var stops []string
	for _, rec := range filterSvcRecords(recs, "stop", "") {
		stops = append(stops, rec.name)
	}
	if strings.Join(stops, ",") != "other2,other1" {
		t.Errorf("stop records %q, want other2 then other1 (both stopped, dependent first)\n%s\n%s", stops, formatSvcRecords(recs), r.Diag())
	}
	if !strings.Contains(r.Stderr(), "tend: service failed") {
		t.Errorf("no \"service failed\" message on stderr\n%s", r.Diag())
	}
}

// Scenario: a non-critical service failing for good leaves the rest
// running; SIGTERM then stops them and tend exits 0.
func TestConfigNonCriticalFailureKeepsRunning(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	keeperReady := filepath.Join(dir, "keeper-ready")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.keeper]
command = %s

[service.broken]
command = %s
restart = "never"
`,
		tomlArgv(tprog("svc", "--name", "keeper", "--log", records, "--ready", keeperReady)...),
		tomlArgv(tprog("svc", "--name", "broken", "--log", records, "--exit", "3", "--wait", keeperReady)...)))
	r := startIn(t, dir, opts{}, "-c", cfg)
	keeperPID := r.WaitPID(keeperReady)
	r.waitStderr("broken's failure", serviceFailedLine("broken"))
	r.AliveFor(500*time.Millisecond, "broken is not critical: its failure must not stop the container")
	recs := readSvcRecords(t, records)
	if len(filterSvcRecords(recs, "stop", "keeper")) != 0 {
		t.Fatalf("keeper was stopped after broken failed:\n%s", formatSvcRecords(recs))
	}
	if n := len(filterSvcRecords(recs, "start", "broken")); n != 1 {
		t.Errorf("broken started %d times, want 1 (restart = never)\n%s", n, formatSvcRecords(recs))
	}
	if pids := r.cfgTestprogs(); len(pids) != 1 {
		t.Errorf("want exactly keeper alive, found testprog pids %v\n%s", pids, r.Diag())
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	recs = readSvcRecords(t, records)
	stops := filterSvcRecords(recs, "stop", "keeper")
	if len(stops) != 1 || stops[0].pid != keeperPID {
		t.Errorf("keeper (pid %d) should have been stopped once by the SIGTERM:\n%s", keeperPID, formatSvcRecords(recs))
	}
}

// Scenario: shutdown order. c after b after a; each records its stop after
// a delay; SIGTERM → stopped c, then b, then a, each only once the one
// after it has exited.
func TestConfigShutdownOrder(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	const stopDelay = 200 * time.Millisecond
	svc := func(name string) string {
		return tomlArgv(tprog("svc", "--name", name, "--log", records, "--stop-delay", stopDelay.String(), "--ready", filepath.Join(dir, name+"-ready"))...)
	}
	// Declared out of order: the file order must not matter.
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.b]
command = %s
after = ["a"]

[service.c]
command = %s
after = ["b"]

[service.a]
command = %s
`, svc("b"), svc("c"), svc("a")))
	r := startIn(t, dir, opts{}, "-c", cfg)
	for _, name := range []string{"a", "b", "c"} {
		r.WaitFile(filepath.Join(dir, name+"-ready"))
	}
	// (No start-order check: without ready probes each counts as ready
	// once spawned, so the three processes race to write their records.)
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	recs := readSvcRecords(t, records)
	stops := filterSvcRecords(recs, "stop", "")
	var order []string
	for _, rec := range stops {
		order = append(order, rec.name)
	}
	if strings.Join(order, ",") != "c,b,a" {
		t.Fatalf("stop order %q, want c,b,a\n%s\n%s", order, formatSvcRecords(recs), r.Diag())
	}
	// Each is signalled only after its dependent exited, and then takes
	// stopDelay to record its stop.
	for i := 1; i < len(stops); i++ {
		if gap := stops[i].at.Sub(stops[i-1].at); gap < stopDelay {
			t.Errorf("%s recorded its stop %v after %s, want ≥ %v (signalled before %s had exited?)\n%s",
				stops[i].name, gap, stops[i-1].name, stopDelay, stops[i-1].name, formatSvcRecords(recs))
		}
	}
}

// Scenario: a service that can never start (its binary is missing), with
// backoff.initial = "0s" and a restart limit it will not reach in time.
// Each failed start is an exit with 127 that the restart policy answers;
// tend must keep serving signals meanwhile (a restart started from inside
// the failed start's own handling looped without ever returning to the
// event loop), must not spin (after the first restart the backoff runs
// from 10 ms up to max), and must exit 0 on SIGTERM.
func TestConfigUnstartableZeroBackoff(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	cfg := keeperConfig(t, dir, records, `
[service.ghost]
command = "/nonexistent/ghost"
backoff = { initial = "0s", max = "100ms" }
max_restarts = { count = 1000000, within = "1m" }
`)
	r := startIn(t, dir, opts{Timeout: 20 * time.Second}, "-c", cfg)
	r.waitSvcRecord(records, "start", "keeper")
	r.waitStderr("ghost's start failure", func(line string) bool {
		return strings.Contains(line, "/nonexistent/ghost") && strings.Contains(line, "service=ghost")
	})
	const watch = time.Second
	r.AliveFor(watch, "ghost is not critical")
	fails := strings.Count(r.Stderr(), "service=ghost code=127")
	t.Logf("ghost's restarts logged in ~%v: %d", watch, fails)
	// With a 100 ms cap, ~1 s allows about 10 restarts plus the ramp; a
	// spinning tend logs thousands.
	if fails > 100 {
		t.Errorf("ghost restarted %d times in about %v: tend spins on a service that cannot start", fails, watch)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	if len(filterSvcRecords(readSvcRecords(t, records), "stop", "keeper")) != 1 {
		t.Errorf("keeper was not stopped cleanly\n%s", r.Diag())
	}
}

// keeperConfig writes a config of a long-running service "keeper" (which
// records its start and stop in records) followed by more, and returns its
// path: keeper shows that the other services' troubles leave it alone.
func keeperConfig(t *testing.T, dir, records, more string) string {
	return writeConfig(t, dir, fmt.Sprintf("[service.keeper]\ncommand = %s\n", tomlArgv(tprog("svc", "--name", "keeper", "--log", records)...))+more)
}
