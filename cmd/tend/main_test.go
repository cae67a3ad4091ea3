package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/supervise"
)

// These tests run this test binary itself as tend (TestMain switches on
// tendUnderTest), so the whole engine — loop, reaper, probes, timers, log
// multiplexer — runs under the race detector when the suite does. They run
// tend as a subreaper (no PID namespace needed); test/e2e runs the static
// binary as PID 1.

const tendUnderTest = "TEND_MAIN_UNDER_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(tendUnderTest) == "1" {
		if ev := os.Getenv("TEND_TEST_PANIC_ON"); ev != "" {
			supervise.InjectFault = func(event string) {
				if event == ev {
					panic("injected fault")
				}
			}
		}
		if v := os.Getenv("TEND_TEST_KILL_WAIT"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				panic(err)
			}
			supervise.KillWait = d
		}
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// tendTo is tend with stderr going to a file, which the main can read.
func tendTo(t *testing.T, timeout time.Duration, errFile string, args ...string) result {
	t.Helper()
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := tendWith(t, timeout, nil, f, args...)
	b, _ := os.ReadFile(errFile)
	r.stderr = string(b)
	return r
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// tend runs the test binary as tend with args; during is called once it
// started, with its pid.
func tend(t *testing.T, timeout time.Duration, during func(pid int), args ...string) result {
	t.Helper()
	return tendWith(t, timeout, during, nil, args...)
}

func tendWith(t *testing.T, timeout time.Duration, during func(pid int), stderr *os.File, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), tendUnderTest+"=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stderr != nil {
		cmd.Stderr = stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// On timeout (or a failed during) record what the kernel says of
	// tend, then kill its whole tree: its descendants first, by pid (its
	// children lead groups and sessions of their own, and once tend is
	// gone they would escape to the machine's init, holding the output
	// pipes that Wait reads), then its group. WaitDelay bounds Wait on
	// those pipes if something still escaped.
	var state string
	cmd.Cancel = func() error {
		state = procState(cmd.Process.Pid)
		killTree(cmd.Process.Pid)
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 10 * time.Second
	// A during that fails the test (t.Fatal) ends this goroutine: kill
	// the group and reap tend on the way out.
	waited := false
	defer func() {
		if !waited {
			cancel()
			cmd.Wait()
		}
	}()
	if during != nil {
		during(cmd.Process.Pid)
	}
	err := cmd.Wait()
	waited = true
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("tend %q did not finish within %v\n%s\nstdout:\n%s\nstderr:\n%s", args, timeout, state, r.stdout, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// killTree SIGKILLs every descendant of pid (found through /proc), each
// by its pid; tend itself is left to the caller.
func killTree(pid int) {
	all, err := proc.List()
	if err != nil {
		return
	}
	for _, p := range proc.Descendants(all, pid) {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
}

// procState is what the kernel says of pid, for a "did not exit in time"
// failure: its /proc/PID/stat line, where it sleeps (wchan), its state,
// thread count and signal masks.
func procState(pid int) string {
	dir := fmt.Sprintf("/proc/%d/", pid)
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return fmt.Sprintf("/proc/%d/stat: %v", pid, err)
	}
	wchan, _ := os.ReadFile(dir + "wchan")
	out := fmt.Sprintf("/proc/%d/stat: %swchan: %s", pid, stat, wchan)
	status, _ := os.ReadFile(dir + "status")
	for _, l := range strings.Split(string(status), "\n") {
		for _, k := range []string{"State:", "Threads:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:"} {
			if strings.HasPrefix(l, k) {
				out += "\n" + l
			}
		}
	}
	return out
}

// waitFor polls cond (a filesystem or process check) until it holds; on
// timeout it fails with the state of tend (pid).
func waitFor(t *testing.T, pid int, what string, cond func() bool) {
	t.Helper()
	// Generous: only a hang takes this long.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\ntend: %s", what, procState(pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestSingleCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--", "sh", "-c", "exit 3"}, 3, ""},
		{[]string{"--remap-exit", "143:0", "--", "sh", "-c", "kill -TERM $$"}, 0, ""},
		{[]string{"--", "no-such-command-xyz"}, 127, "tend: cannot start \"no-such-command-xyz\": command not found\n"},
		{[]string{"--", "/etc/passwd"}, 126, "tend: cannot start \"/etc/passwd\": permission denied (not executable)\n"},
		{[]string{"--user", "no-such-user-xyz", "--", "true"}, 2, "tend: --user: no such user \"no-such-user-xyz\" in /etc/passwd\n"},
		{[]string{"--pre-stop", "'unterminated", "--", "true"}, 2, ""},
	}
	for _, tt := range tests {
		r := tend(t, 30*time.Second, nil, tt.args...)
		if r.code != tt.code {
			t.Errorf("%q: exit %d, want %d\n%s", tt.args, r.code, tt.code, r.stderr)
		}
		if tt.err != "" && r.stderr != tt.err {
			t.Errorf("%q: stderr %q, want %q", tt.args, r.stderr, tt.err)
		}
	}
}

// A worker left behind by the main gets SIGTERM and is waited for.
func TestSubreaperWaitsForLeftover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	script := fmt.Sprintf(`(trap 'sleep 0.3; echo x > %s; exit 0' TERM; touch %s/ready; while :; do sleep 0.05; done) &
while [ ! -e %s/ready ]; do sleep 0.01; done; exit 0`, done, dir, dir)
	r := tend(t, 30*time.Second, nil, "--", "sh", "-c", script)
	if r.code != 0 || !exists(done) {
		t.Fatalf("code %d, cleanup written: %v\n%s", r.code, exists(done), r.stderr)
	}
}

func TestConfigServices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	cfg := filepath.Join(dir, "tend.toml")
	writeFile(t, cfg, fmt.Sprintf(`grace = "5s"
[service.tcp]
command = ["sleep", "60"]
ready = { tcp = %q }
[service.http]
command = ["sleep", "60"]
ready = { http = "http://%s/" }
[service.file]
command = ["sh", "-c", "sleep 0.1; touch %s/f; exec sleep 60"]
ready = { file = "%s/f" }
[service.fd]
command = ["sh", "-c", "sleep 0.1; echo ok >&3; exec sleep 60"]
ready = { fd = 3 }
[service.exec]
command = ["sleep", "60"]
ready = { exec = ["true"] }
[service.init]
command = "sh -c 'echo init ran'"
oneshot = true
after = ["tcp", "http", "file", "fd", "exec"]
[service.sick]
command = ["sleep", "60"]
after = ["init"]
health = { exec = ["false"], interval = "50ms", failures = 2 }
restart = "always"
backoff = { initial = "10ms", max = "20ms" }
max_restarts = { count = 2, within = "1m" }
`, addr, addr, dir, dir))
	// sick is restarted twice for failing its health check, then fails for
	// good; it is not critical, so tend runs on until the main exits (the
	// main waits for that to be logged: tend's stderr is a file here).
	errFile := filepath.Join(dir, "stderr")
	main := fmt.Sprintf("echo main ran; until grep -q 'service failed service=sic[k]' %s; do sleep 0.05; done", errFile)
	r := tendTo(t, 60*time.Second, errFile, "-v", "-c", cfg, "--", "sh", "-c", main)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"init | init ran\n", "main ran\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"tend: ready service=tcp", "tend: ready service=http", "tend: ready service=file", "tend: ready service=fd", "tend: ready service=exec", "tend: done service=init", "tend: service unhealthy; restarting service=sick"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if i, j := strings.Index(r.stderr, "tend: done service=init"), strings.Index(r.stderr, "tend: started service=main"); i < 0 || j < i {
		t.Errorf("main started before init was done:\n%s", r.stderr)
	}
}

func TestCriticalFailureExitCode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stopped, trapped := filepath.Join(dir, "stopped"), filepath.Join(dir, "trapped")
	cfg := filepath.Join(dir, "tend.toml")
	// bad fails only once other has its TERM trap: on a loaded machine
	// bad's three runs could otherwise end before other's shell set it.
	writeFile(t, cfg, fmt.Sprintf(`[service.bad]
command = ["sh", "-c", "while [ ! -e %s ]; do sleep 0.01; done; exit 7"]
critical = true
backoff = { initial = "10ms", max = "10ms" }
max_restarts = { count = 2, within = "1m" }
[service.other]
command = ["sh", "-c", "trap 'touch %s; exit 0' TERM; touch %s; while :; do sleep 0.05; done"]
`, trapped, stopped, trapped))
	r := tend(t, 60*time.Second, nil, "-c", cfg)
	if r.code != 7 {
		t.Fatalf("exit %d, want 7\n%s", r.code, r.stderr)
	}
	if !exists(stopped) {
		t.Errorf("other service was not stopped cleanly")
	}
	if !strings.Contains(r.stderr, `tend: service failed service=bad reason="exited with code 7; restarted 2 times within 1m0s"`) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.toml")
	svc := func(name string) string {
		return fmt.Sprintf("[service.%s]\ncommand = [\"sh\", \"-c\", \"echo $$$$ > %s/%s.pid; exec sleep 60\"]\n", name, dir, name)
	}
	writeFile(t, cfg, svc("a")+svc("b"))
	read := func(name string) string { b, _ := os.ReadFile(filepath.Join(dir, name+".pid")); return string(b) }
	errFile := filepath.Join(dir, "stderr")
	stderr := func() string { b, _ := os.ReadFile(errFile); return string(b) }
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := tendWith(t, 60*time.Second, func(pid int) {
		waitFor(t, pid, "a and b", func() bool { return read("a") != "" && read("b") != "" })
		a, b := read("a"), read("b")
		os.Remove(filepath.Join(dir, "b.pid"))
		writeFile(t, cfg, svc("a")+strings.Replace(svc("b"), "sleep 60", "sleep 61", 1)+svc("c"))
		syscall.Kill(pid, syscall.SIGHUP)
		waitFor(t, pid, "b restarted and c started", func() bool { return read("b") != "" && read("c") != "" })
		if read("a") != a || read("b") == b {
			t.Errorf("after reload: a %q→%q (want same), b %q→%q (want new)", a, read("a"), b, read("b"))
		}
		writeFile(t, cfg, "[service.a]\nrestrat = 1\n")
		syscall.Kill(pid, syscall.SIGHUP)
		// Before, a fixed 100 ms sleep: a SIGTERM that overtakes a reload
		// still being read drops it, and its failure is never logged.
		waitFor(t, pid, "the reload failure to be logged", func() bool {
			return strings.Contains(stderr(), "tend: reload failed; keeping the running configuration")
		})
		syscall.Kill(pid, syscall.SIGTERM)
	}, f, "-c", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, stderr())
	}
	if !strings.Contains(stderr(), "restrat") {
		t.Errorf("invalid reload not reported with the bad key:\n%s", stderr())
	}
}

// A panic inside the event loop is recovered, logged with its stack, and
// turned into an orderly shutdown: the main still gets SIGTERM, finishes
// its cleanup, and tend exits with the main's code.
func TestPanicBecomesOrderlyShutdown(t *testing.T) {
	// Not parallel: t.Setenv reaches only this test's tend.
	dir := t.TempDir()
	done, ready := filepath.Join(dir, "done"), filepath.Join(dir, "ready")
	script := fmt.Sprintf("trap 'sleep 0.2; echo x > %s; exit 5' TERM; touch %s; while :; do sleep 0.05; done", done, ready)
	t.Setenv("TEND_TEST_PANIC_ON", "SIGUSR1") // read by the tend under test (TestMain)
	r := tend(t, 60*time.Second, func(pid int) {
		waitFor(t, pid, "main ready", func() bool { return exists(ready) })
		syscall.Kill(pid, syscall.SIGUSR1)
	}, "--", "sh", "-c", script)
	if r.code != 5 || !exists(done) {
		t.Fatalf("exit %d (want the main's 5), cleanup written %v\n%s", r.code, exists(done), r.stderr)
	}
	for _, want := range []string{"tend: internal error (panic) in event loop: injected fault; shutting down", "main_test.go"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// Many processes SIGKILLed at the grace (issue 17: ~800 at load 90):
// when tend stops waiting for their reaps (KillWait, here shortened so
// that it always ends first), what it says is what /proc shows, after the
// exits already reported were handled: dead but not yet reaped (zombies),
// or alive, by number, never more than were killed; never "processes
// still present" for processes that were only not yet reaped. And nothing
// outlives it: every one of them is gone soon after tend exited.
func TestKillWaitSaysWhatIsLeft(t *testing.T) {
	// Not parallel: t.Setenv reaches only this test's tend.
	const n = 300
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	mark := strconv.Itoa(7_000_000 + os.Getpid()) // sleep's argument: these sleeps only
	script := fmt.Sprintf(`trap '' TERM; i=0; while [ $i -lt %d ]; do sleep %s & i=$((i+1)); done; touch %s; wait`, n, mark, ready)
	t.Setenv("TEND_TEST_KILL_WAIT", "1ns")
	r := tend(t, 120*time.Second, func(pid int) {
		waitFor(t, pid, "the processes", func() bool { return exists(ready) })
		syscall.Kill(pid, syscall.SIGTERM)
	}, "-v", "--grace", "1s", "--", "sh", "-c", script)
	if r.code != 137 {
		t.Errorf("exit %d, want 137 (the main SIGKILLed at the grace)", r.code)
	}
	killed := 0
	if m := regexp.MustCompile(`grace period 1s expired; killed (\d+) process\(es\)`).FindStringSubmatch(r.stderr); m != nil {
		killed, _ = strconv.Atoi(m[1])
	}
	if killed < n+1 {
		t.Fatalf("killed %d at the grace, want the %d sleeps and their shell\n%s", killed, n, r.stderr)
	}
	if strings.Contains(r.stderr, "processes still present after SIGKILL") {
		t.Errorf("tend said processes were still present without looking:\n%s", tail(r.stderr))
	}
	var said int
	for _, re := range []string{
		`all processes (killed at the grace have )?exited`,
		`(\d+) process\(es\) killed at the grace are dead but not yet reaped \(zombies\)`,
		`(\d+) process\(es\) still alive \S+ after SIGKILL .* and (\d+) dead but not yet reaped`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(r.stderr)
		if m == nil {
			continue
		}
		said++
		t.Logf("tend said: %s", m[0])
		left := 0
		for _, g := range m[1:] {
			k, _ := strconv.Atoi(g)
			left += k
		}
		if left > killed {
			t.Errorf("tend says %d left of the %d it killed: %q", left, killed, m[0])
		}
	}
	if said != 1 {
		t.Errorf("tend said %d things about what is left after SIGKILL, want exactly one:\n%s", said, tail(r.stderr))
	}
	// Nothing was left behind: the killed sleeps are gone (hang guard).
	deadline := time.Now().Add(30 * time.Second)
	for {
		alive := 0
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil || string(b) != "sleep\x00"+mark+"\x00" {
				continue
			}
			if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); !bytes.Contains(st, []byte(") Z ")) {
				alive++
			}
		}
		if alive == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the SIGKILLed sleeps still alive 30s after tend exited", alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail is the end of a long stderr, for messages.
func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// The default log level is the README's: errors and warnings, among them
// one line per restart (a crash loop is never silent), and no lifecycle
// detail (started, stopping: -v).
func TestDefaultLogLevel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, once := filepath.Join(dir, "tend.toml"), filepath.Join(dir, "once")
	writeFile(t, cfg, fmt.Sprintf(`[service.flaky]
command = ["sh", "-c", "if [ -e %[1]s ]; then exec sleep 1000; fi; touch %[1]s; exit 3"]
`, once))
	errFile := filepath.Join(dir, "stderr")
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := tendWith(t, 60*time.Second, func(pid int) {
		waitFor(t, pid, "the restart", func() bool {
			b, _ := os.ReadFile(errFile)
			return strings.Contains(string(b), "restarting")
		})
		syscall.Kill(pid, syscall.SIGTERM)
	}, f, "--socket", filepath.Join(dir, "sock"), "-c", cfg)
	b, _ := os.ReadFile(errFile)
	stderr := string(b)
	if r.code != 0 {
		t.Errorf("exit %d\n%s", r.code, stderr)
	}
	if !strings.Contains(stderr, "tend: service exited; restarting service=flaky code=3") {
		t.Errorf("the restart is not logged at the default level:\n%s", stderr)
	}
	for _, info := range []string{"tend: started", "tend: stopping", "tend: shutting down"} {
		if strings.Contains(stderr, info) {
			t.Errorf("%q logged at the default level (it is -v's):\n%s", info, stderr)
		}
	}
}

// A restart pending when the shutdown begins must not start the service
// again: `tend restart` sends the stop signal; SIGTERM to tend arrives
// before the service has exited (it takes 1.5s to stop).
func TestRestartPendingAtShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, cfg, starts := filepath.Join(dir, "sock"), filepath.Join(dir, "tend.toml"), filepath.Join(dir, "starts")
	writeFile(t, cfg, fmt.Sprintf(`[service.slow]
command = ["sh", "-c", "trap 'sleep 1.5; exit 0' TERM; echo start >> %s; while :; do sleep 0.05; done"]
`, starts))
	count := func() int { b, _ := os.ReadFile(starts); return strings.Count(string(b), "start") }
	r := tend(t, 60*time.Second, func(pid int) {
		waitFor(t, pid, "first start", func() bool { return count() == 1 && exists(sock) })
		ctl := exec.Command(os.Args[0], "restart", "--socket", sock, "slow")
		ctl.Env = append(os.Environ(), tendUnderTest+"=1")
		if out, err := ctl.CombinedOutput(); err != nil {
			t.Errorf("tend restart: %v: %s", err, out)
		}
		syscall.Kill(pid, syscall.SIGTERM)
	}, "-v", "--socket", sock, "-c", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// The log, not the file: a process started during the shutdown may be
	// stopped before it writes anything.
	if n := strings.Count(r.stderr, "tend: started service=slow"); n != 1 || count() != 1 {
		t.Errorf("service started %d times; the restart pending at shutdown must be dropped\n%s", n, r.stderr)
	}
}

// With no process ever started (the only service cannot be), SIGTERM ends
// tend at once: nothing is left to wait for.
func TestNothingEverRan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.toml")
	// good: at once (ms); bad: at the grace. A 30 s grace keeps the two
	// far apart; the bound is 10 s (was 2 s with a 5 s grace).
	writeFile(t, cfg, "grace = \"30s\"\n[service.ghost]\ncommand = [\"/nonexistent\"]\nrestart = \"never\"\n")
	errFile := filepath.Join(dir, "stderr")
	var sent time.Time
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := tendWith(t, 60*time.Second, func(pid int) {
		waitFor(t, pid, "the failure", func() bool { b, _ := os.ReadFile(errFile); return strings.Contains(string(b), "service failed") })
		sent = time.Now()
		syscall.Kill(pid, syscall.SIGTERM)
	}, f, "-c", cfg)
	b, _ := os.ReadFile(errFile)
	if took := time.Since(sent); r.code != 0 || took > 10*time.Second {
		t.Fatalf("exit %d %v after SIGTERM (want 0, at once: well before the 30s grace)\n%s", r.code, took, b)
	}
}

// TestUsageErrorIsShort: a usage error prints the one line that matters and
// a pointer to --help, not the whole help text, and exits 2.
func TestUsageErrorIsShort(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--no-such-flag", "--", "true"}, {}, {"--grace", "soon", "--", "true"}} {
		r := tend(t, 30*time.Second, nil, args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 2 || len(lines) != 2 || !strings.HasPrefix(lines[0], "tend: ") || lines[1] != "see 'tend --help'" {
			t.Errorf("tend %q: exit %d, stderr:\n%s\nwant exit 2, one error line and \"see 'tend --help'\"", args, r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("tend %q: stdout %q, want nothing", args, r.stdout)
		}
	}
}

func TestDrainDeadline(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		graceEnd time.Time
		want     time.Time
	}{
		{"no shutdown started", time.Time{}, now.Add(logDrain)},
		{"grace spent", now.Add(-time.Second), now.Add(logDrain)},
		{"less than logDrain left", now.Add(time.Second), now.Add(logDrain)},
		{"rest of the grace", now.Add(25 * time.Second), now.Add(25 * time.Second)},
	}
	for _, tt := range tests {
		if got := drainDeadline(tt.graceEnd, now); !got.Equal(tt.want) {
			t.Errorf("%s: drainDeadline = %v, want %v", tt.name, got, tt.want)
		}
	}
}
