package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario: readiness-gated start order. db listens on a TCP port only
// after a delay and has a tcp ready probe; web (after db) must not start
// before db listens.
func TestConfigReadinessGatesStart(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(cfgFreePort(t))
	records := filepath.Join(dir, "records")
	listenFile := filepath.Join(dir, "db-listen")
	const delay = 700 * time.Millisecond
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.db]
command = %s
ready = { tcp = %s, interval = "20ms" }

[service.web]
command = %s
after = ["db"]
`,
		tomlArgv(tprog("listen", "--addr", addr, "--delay", delay.String(), "--file", listenFile)...),
		tomlStr(addr),
		tomlArgv(tprog("svc", "--name", "web", "--log", records, "--ready", filepath.Join(dir, "web-ready"))...)))
	r := startIn(t, dir, opts{}, "-c", cfg)

	web := r.waitSvcRecord(records, "start", "web")
	r.WaitFile(filepath.Join(dir, "web-ready"))
	ns, err := strconv.ParseInt(strings.TrimSpace(r.WaitFile(listenFile)), 10, 64)
	if err != nil {
		t.Fatalf("db-listen: %v", err)
	}
	listened := time.Unix(0, ns)
	if !web.at.After(listened) {
		t.Errorf("web started at %s, %v BEFORE db listened (%s): the tcp ready probe did not gate it\n%s",
			web.at.Format("15:04:05.000000"), listened.Sub(web.at), listened.Format("15:04:05.000000"), r.Diag())
	}
	if d := listened.Sub(r.Started); d < delay {
		t.Errorf("db listened %v after tend started, before its %v delay: the test is broken", d, delay)
	}
	t.Logf("db listened %v after tend started; web started %v after db listened",
		listened.Sub(r.Started).Round(time.Millisecond), web.at.Sub(listened).Round(time.Millisecond))

	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	if stops := filterSvcRecords(readSvcRecords(t, records), "stop", "web"); len(stops) != 1 {
		t.Errorf("web: want one stop record, got:\n%s", formatSvcRecords(readSvcRecords(t, records)))
	}
}

// Scenario: a oneshot init task runs to completion before the service
// after it starts.
func TestConfigOneshotBeforeDependent(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	done := filepath.Join(dir, "init-done")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.init]
command = %s
oneshot = true

[service.app]
command = %s
after = ["init"]
`,
		tomlArgv(tprog("touch", "--delay", "300ms", done)...),
		tomlArgv(tprog("svc", "--name", "app", "--log", records, "--check", done, "--ready", filepath.Join(dir, "app-ready"))...)))
	r := startIn(t, dir, opts{}, "-c", cfg)

	app := r.waitSvcRecord(records, "start", "app")
	if app.check != "yes" {
		t.Errorf("app started before the oneshot init had finished: init-done check=%s\n%s", app.check, r.Diag())
	}
	r.WaitFile(filepath.Join(dir, "app-ready"))
	r.AliveFor(200*time.Millisecond, "a oneshot finishing successfully must not stop the container")
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	recs := readSvcRecords(t, records)
	if len(filterSvcRecords(recs, "start", "app")) != 1 || len(filterSvcRecords(recs, "stop", "app")) != 1 {
		t.Errorf("app: want exactly one start and one stop, got:\n%s", formatSvcRecords(recs))
	}
}

// Scenario: a oneshot failing during startup (restart = "never", exit 4)
// stops everything with its exit code; the service after it never starts;
// a service already running is stopped.
func TestConfigOneshotFailureStopsStartup(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	otherReady := filepath.Join(dir, "other-ready")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.other]
command = %s

[service.init]
command = %s
oneshot = true
restart = "never"

[service.app]
command = %s
after = ["init"]
`,
		tomlArgv(tprog("svc", "--name", "other", "--log", records, "--ready", otherReady)...),
		// init fails only once other is set up to record its stop.
		tomlArgv(tprog("svc", "--name", "init", "--log", records, "--exit", "4", "--wait", otherReady)...),
		tomlArgv(tprog("svc", "--name", "app", "--log", records)...)))
	r := startIn(t, dir, opts{}, "-c", cfg)
	r.ExpectExit(4)
	recs := readSvcRecords(t, records)
	if n := len(filterSvcRecords(recs, "start", "init")); n != 1 {
		t.Errorf("init started %d times, want 1 (restart = never)\n%s", n, formatSvcRecords(recs))
	}
	if app := filterSvcRecords(recs, "", "app"); len(app) != 0 {
		t.Errorf("app started although the oneshot it is after failed:\n%s", formatSvcRecords(recs))
	}
	if len(filterSvcRecords(recs, "stop", "other")) != 1 {
		t.Errorf("other was not stopped (no stop record) when init failed:\n%s\n%s", formatSvcRecords(recs), r.Diag())
	}
}

// Scenario: a Procfile; one process exits 5 (after a file appears) → tend
// stops the other and exits 5.
func TestConfigProcfileFirstExitStopsAll(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	goFile := filepath.Join(dir, "go")
	p1Ready := filepath.Join(dir, "p1-ready")
	procfile := filepath.Join(dir, "Procfile")
	cfgWriteFile(t, procfile, fmt.Sprintf("# two processes\np1: %s svc --name p1 --log %s --ready %s --stop-delay 100ms\n\np2: %s svc --name p2 --log %s --exit 5 --wait %s\n",
		testprog, records, p1Ready, testprog, records, goFile))
	r := startIn(t, dir, opts{}, "-f", procfile)
	r.WaitFile(p1Ready)
	r.waitSvcRecord(records, "start", "p2")
	r.AliveFor(100*time.Millisecond, "nothing has exited yet")
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.ExpectExit(5)
	recs := readSvcRecords(t, records)
	if len(filterSvcRecords(recs, "stop", "p1")) != 1 {
		t.Errorf("p1 was not stopped (no stop record) when p2 exited:\n%s\n%s", formatSvcRecords(recs), r.Diag())
	}
	for _, name := range []string{"p1", "p2"} {
		if n := len(filterSvcRecords(recs, "start", name)); n != 1 {
			t.Errorf("%s started %d times, want 1 (a Procfile never restarts)\n%s", name, n, formatSvcRecords(recs))
		}
	}
}
