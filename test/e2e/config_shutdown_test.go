package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario: a service ignoring SIGTERM is SIGKILLed after its stop_timeout,
// and only then is the service it depends on stopped.
func TestConfigStopTimeoutKills(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	const stopTimeout = 500 * time.Millisecond
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.base]
command = %s

[service.stubborn]
command = %s
after = ["base"]
stop_timeout = %s
`,
		tomlArgv(tprog("svc", "--name", "base", "--log", records, "--ready", filepath.Join(dir, "base-ready"))...),
		tomlArgv(tprog("ignoreterm", "--ready", filepath.Join(dir, "stubborn-ready"))...),
		tomlStr(stopTimeout.String())))
	r := startIn(t, dir, opts{}, "-c", cfg)
	r.WaitFile(filepath.Join(dir, "base-ready"))
	r.WaitFile(filepath.Join(dir, "stubborn-ready"))
	sent := time.Now()
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	recs := readSvcRecords(t, records)
	stops := filterSvcRecords(recs, "stop", "base")
	if len(stops) != 1 {
		t.Fatalf("base: want one stop record\n%s\n%s", formatSvcRecords(recs), r.Diag())
	}
	if d := stops[0].at.Sub(sent); d < stopTimeout {
		t.Errorf("base stopped %v after SIGTERM, before stubborn's stop_timeout %v had run out (stubborn, after base, ignores SIGTERM)", d, stopTimeout)
	}
	// good: the 500ms stop_timeout; bad: the 10s default grace; 8 s
	// leaves room for the exit's lag on a loaded machine (3.5 s seen).
	if d := r.Ended.Sub(sent); d > 8*time.Second {
		t.Errorf("tend took %v to exit after SIGTERM; stubborn should be SIGKILLed after %v", d, stopTimeout)
	}
	if !strings.Contains(r.Stderr(), "tend: service did not stop in time; sending SIGKILL service=stubborn") {
		t.Errorf("no SIGKILL message for stubborn on stderr\n%s", r.Diag())
	}
}

// Scenario: the grace bounds the whole shutdown even when a service's
// stop_timeout is longer.
func TestConfigGraceBoundsStopTimeout(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
grace = "1s"

[service.stubborn]
command = %s
stop_timeout = "60s"
`, tomlArgv(tprog("ignoreterm", "--ready", filepath.Join(dir, "stubborn-ready"))...)))
	r := startIn(t, dir, opts{}, "-c", cfg)
	r.WaitFile(filepath.Join(dir, "stubborn-ready"))
	sent := time.Now()
	r.Signal(unix.SIGTERM)
	r.Wait()
	d := r.Ended.Sub(sent)
	if d < time.Second {
		t.Errorf("tend exited %v after SIGTERM, before the 1s grace, with a service ignoring SIGTERM\n%s", d, r.Diag())
	}
	// good: the 1s grace; bad: the 60s stop_timeout.
	if d > 20*time.Second {
		t.Errorf("tend exited %v after SIGTERM; the 1s grace should have bounded the 60s stop_timeout\n%s", d, r.Diag())
	}
	if !strings.Contains(r.Stderr(), "tend: grace period 1s expired; killed ") {
		t.Errorf("no grace-expiry message on stderr\n%s", r.Diag())
	}
}

// Scenario: `tend -c FILE -- CMD`: CMD is the main service; it starts once
// the config's services are ready and its exit code is the container's.
func TestConfigMainCommand(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	addr := fmt.Sprintf("127.0.0.1:%d", cfgFreePort(t))
	listenFile := filepath.Join(dir, "db-listen")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.db]
command = %s
ready = { tcp = %s, interval = "20ms" }

[service.side]
command = %s
`,
		tomlArgv(tprog("listen", "--addr", addr, "--delay", "500ms", "--file", listenFile)...),
		tomlStr(addr),
		tomlArgv(tprog("svc", "--name", "side", "--log", records, "--ready", filepath.Join(dir, "side-ready"))...)))
	r := startIn(t, dir, opts{}, append([]string{"-c", cfg, "--"},
		tprog("svc", "--name", "main", "--log", records, "--check", listenFile, "--exit", "3", "--wait", filepath.Join(dir, "side-ready"))...)...)
	r.ExpectExit(3)
	recs := readSvcRecords(t, records)
	mains := filterSvcRecords(recs, "start", "main")
	if len(mains) != 1 {
		t.Fatalf("main: want one start record (the main is never restarted)\n%s", formatSvcRecords(recs))
	}
	if mains[0].check != "yes" {
		t.Errorf("the main started before db was listening (ready)\n%s", formatSvcRecords(recs))
	}
	if len(filterSvcRecords(recs, "stop", "side")) != 1 {
		t.Errorf("side was not stopped when the main exited\n%s\n%s", formatSvcRecords(recs), r.Diag())
	}
}
