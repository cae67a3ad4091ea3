package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/procfs"
)

var (
	graceLine      = regexp.MustCompile(`(?m)^tend: grace period (\S+) expired; killed (\d+) process\(es\): (.*)$`)
	looseGraceLine = regexp.MustCompile(`(?m)grace period (\S+) expired; killed (\d+) process\(es\): (.*)$`)
)

// checkCount checks how many stop signals a trapterm/worker/daemon received.
func checkCount(t *testing.T, content string, want int) {
	t.Helper()
	if !strings.Contains(content, fmt.Sprintf("count=%d\n", want)) {
		t.Errorf("cleanup file %q: want count=%d (number of SIGTERM/SIGINT the process received)", content, want)
	}
}

// Scenario: `sh -c 'testprog trapterm --file F; echo after'` + SIGTERM.
// The shell dies of SIGTERM (group forwarding) => 143, but tend must wait for
// trapterm's cleanup, and trapterm gets SIGTERM exactly once.
func TestShellWrapperForeground(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, ready := dir+"/F", dir+"/R"
	r := startIn(t, dir, opts{}, "--", "sh", "-c",
		fmt.Sprintf("%s trapterm --file %s --ready %s --delay 300ms; echo after", q(testprog), q(f), q(ready)))
	r.WaitFile(ready)
	r.Signal(unix.SIGTERM)
	r.ExpectExit(143)
	content := r.doneBeforeExit(f, "done SIGTERM")
	checkCount(t, content, 1)
	if strings.Contains(r.Stdout(), "after") {
		t.Errorf("the shell survived SIGTERM and printed %q", r.Stdout())
	}
}

// Scenario: `sh -c 'testprog daemon --file F; exec testprog sleep 1d'` +
// SIGTERM. The double-forked setsid daemon (adopted by tend as PID 1) must get
// SIGTERM once and finish its cleanup before tend exits.
func TestShellWrapperDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, ready := dir+"/F", dir+"/R"
	r := startIn(t, dir, opts{}, "--", "sh", "-c",
		fmt.Sprintf("%s daemon --file %s --ready %s --delay 300ms; exec %s sleep 1d", q(testprog), q(f), q(ready), q(testprog)))
	r.WaitFile(ready)
	// the main (now `testprog sleep`) must also be up before we signal
	r.Poll("the main to exec testprog sleep", func() bool {
		for _, p := range r.Descendants() {
			if p.PPID == r.TendPID && p.Comm == "testprog" {
				return true
			}
		}
		return false
	})
	r.Signal(unix.SIGTERM)
	r.ExpectExit(143)
	content := r.doneBeforeExit(f, "done SIGTERM")
	checkCount(t, content, 1)
}

// Scenario: `sh -c 'testprog worker --file F --delay 1s & exit 0'`, no
// signal. The main exits 0 at once; the background worker gets SIGTERM,
// finishes; tend exits 0 right after the worker's cleanup (about the delay,
// well within the default 10s grace).
func TestShellBackgroundWorker(t *testing.T) {
	// not parallel: asserts timing
	t.Run("pid1-in-namespace", func(t *testing.T) { backgroundWorker(t, false) })
	t.Run("subreaper-direct", func(t *testing.T) { backgroundWorker(t, true) })
}

func backgroundWorker(t *testing.T, direct bool) {
	dir := t.TempDir()
	f, ready := dir+"/F", dir+"/R"
	// waitfile: the worker must have its handler installed before the shell
	// exits, or the SIGTERM would kill it by default action (a test race,
	// not a tend bug).
	r := startIn(t, dir, opts{Direct: direct}, "--", "sh", "-c",
		fmt.Sprintf("%s worker --file %s --ready %s --delay 1s & %s waitfile %s; exit 0",
			q(testprog), q(f), q(ready), q(testprog), q(ready)))
	if pid := r.WaitPID(ready); direct {
		r.KillOnCleanup(pid) // host pid: must not outlive tend
	}
	readyAt := r.mtime(ready)
	r.ExpectExit(0)
	content := r.doneBeforeExit(f, "done SIGTERM")
	checkCount(t, content, 1)
	took := r.Ended.Sub(readyAt)
	// The upper bound stays 2 s below the 10s default grace (what a tend
	// that did not notice the worker's exit would take) and leaves 7 s
	// for a loaded machine (the exit as the test sees it lagged 3.5 s
	// once at a load average of ~70).
	if took < time.Second || took > 8*time.Second {
		t.Errorf("tend exited %v after the worker was ready; want about the worker's 1s cleanup (1s..8s, grace 10s)\n%s", took.Round(time.Millisecond), r.Diag())
	}
}

// Scenario: ignoreterm with --grace 1s + SIGTERM. tend SIGKILLs it at grace
// expiry: exit 137 (not 143), after 1s..8s, and logs the grace line naming
// the pid.
func TestGraceExpiry(t *testing.T) {
	// not parallel: asserts timing
	dir := t.TempDir()
	ready := dir + "/R"
	r := startIn(t, dir, opts{}, "--grace", "1s", "--", testprog, "ignoreterm", "--ready", ready)
	pid := r.WaitPID(ready)
	sent := time.Now()
	r.Signal(unix.SIGTERM)
	r.ExpectExit(137)
	took := r.Ended.Sub(sent)
	// good: the 1s grace; bad: before it (no grace) or the 10s default
	// (the flag ignored); 7 s of room for a loaded machine (the leftover
	// case below took 6.3 s at a load average of ~75), 2 s below the bad.
	if took < time.Second || took > 8*time.Second {
		t.Errorf("tend exited %v after SIGTERM, want between 1s and 8s with --grace 1s\n%s", took.Round(time.Millisecond), r.Diag())
	}
	m := graceLine.FindStringSubmatch(r.Stderr())
	if m == nil {
		t.Errorf("stderr has no line of the form `tend: grace period <D> expired; killed <N> process(es): <pid> (<cmd>), ...`:\n%s", r.Stderr())
		if m = looseGraceLine.FindStringSubmatch(r.Stderr()); m == nil {
			t.FailNow()
		}
	}
	if m[1] != "1s" || m[2] != "1" {
		t.Errorf("grace line %q: want period 1s and 1 process", m[0])
	}
	if !strings.Contains(m[3], fmt.Sprintf("%d (", pid)) || !strings.Contains(m[3], "testprog") {
		t.Errorf("grace line %q does not name pid %d (testprog)", m[0], pid)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Stderr()), "\n") {
		if !strings.HasPrefix(line, "tend: ") {
			t.Errorf("stderr line without `tend: ` prefix: %q", line)
		}
	}
}

// The main exits 3 by itself, leaving a process that ignores SIGTERM: it is
// SIGKILLed at --grace expiry (logged), and the exit code stays the main's.
func TestGraceLeftoverKeepsExitCode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := dir + "/R"
	r := startIn(t, dir, opts{}, "--grace", "1s", "--", "sh", "-c",
		fmt.Sprintf("%s ignoreterm --ready %s & %s waitfile %s; exit 3", q(testprog), q(ready), q(testprog), q(ready)))
	pid := r.WaitPID(ready)
	r.ExpectExit(3)
	// good: the 1s grace (the ready file's coarse mtime: 100 ms slack);
	// bad: before it or the 10s default. 5 s was too tight: 6.279 s at a
	// load average of ~75; 8 s stays 2 s below the bad.
	if took := r.Ended.Sub(r.mtime(ready)); took < 900*time.Millisecond || took > 8*time.Second {
		t.Errorf("tend exited %v after the leftover started; want about the 1s grace\n%s", took.Round(time.Millisecond), r.Diag())
	}
	m := looseGraceLine.FindStringSubmatch(r.Stderr())
	if m == nil || !strings.Contains(m[3], fmt.Sprintf("%d (", pid)) {
		t.Errorf("want a grace-expiry line naming the leftover pid %d; stderr:\n%s", pid, r.Stderr())
	}
}

// A second SIGTERM during shutdown is forwarded again but does not extend
// the grace: --grace 8s, SIGTERM at 0s and 4s => exit at ~8s, not at ~12s
// (4s + the grace, restarted). The bound sits 1 s before the earliest exit
// of a tend that restarted its grace at the second SIGTERM (measured from
// when it was actually sent) and leaves ~3 s for the exit and the reap to
// be scheduled on a loaded machine: with grace 4s, SIGTERM at 0s and 2s
// and a bound of 5.2s, tend exited 5.587s after the first SIGTERM at a
// load average of ~35 (good 4s, bad 6s: too little room on either side);
// with grace 3s and the second SIGTERM at 2.5s, the main had not yet
// written its second line when the grace ran out (load average ~100).
func TestSecondSigtermDoesNotExtendGrace(t *testing.T) {
	// not parallel: asserts timing
	const grace = 8 * time.Second
	dir := t.TempDir()
	ready, out := dir+"/R", dir+"/S"
	r := startIn(t, dir, opts{Timeout: 30 * time.Second}, "--grace", grace.String(), "--", testprog, "sigprint", "--stay", "--out", out, "--ready", ready)
	r.WaitFile(ready)
	sent := time.Now()
	r.Signal(unix.SIGTERM)
	r.WaitLines(out, 1)
	time.Sleep(time.Until(sent.Add(grace / 2))) // deliberate offset, not synchronisation
	sent2 := time.Now()
	if sent2.Sub(sent) > grace-time.Second {
		t.Fatalf("the second SIGTERM could only be sent %v after the first, too close to the %v grace for the test to mean anything\n%s",
			sent2.Sub(sent).Round(time.Millisecond), grace, r.Diag())
	}
	r.Signal(unix.SIGTERM)
	r.WaitLines(out, 2)
	r.ExpectExit(137)
	// When tend acted: the mtime of its stderr, whose only line is the
	// grace line, written as it SIGKILLs the main. The exit comes later
	// by the reap, unshare's exit and the test's own wake-up: 3.5 s later
	// once at a load average of ~70 (exit 11.546 s after the first
	// SIGTERM, the grace line at ~8 s). Without that single line (another
	// message), the exit time is used.
	took := r.Ended.Sub(sent)
	acted, what := took, "exited"
	if lines := strings.Split(strings.TrimSpace(r.Stderr()), "\n"); len(lines) == 1 && graceLine.MatchString(lines[0]) {
		acted, what = r.mtime(r.ErrPath).Sub(sent), "logged the grace expiry"
	} else {
		t.Logf("stderr is not just the grace line: timing the exit instead\n%s", r.Stderr())
	}
	// good: the grace after the first SIGTERM (+ scheduling); bad: the
	// grace after the second one, at least sent2+grace.
	bad := sent2.Add(grace).Sub(sent)
	if took < grace-100*time.Millisecond || acted < grace-100*time.Millisecond || acted > bad-time.Second {
		t.Errorf("tend %s %v after the first SIGTERM (exited after %v); want ~%v (the grace), and well before %v (a grace restarted by the second SIGTERM)\n%s",
			what, acted.Round(time.Millisecond), took.Round(time.Millisecond), grace, bad.Round(time.Millisecond), r.Diag())
	}
	t.Logf("tend %s %v after the first SIGTERM, exited after %v (grace %v, a restarted grace: %v)", what, acted.Round(time.Millisecond), took.Round(time.Millisecond), grace, bad.Round(time.Millisecond))
	if got := readLines(out); len(got) != 2 || got[0] != "got SIGTERM" || got[1] != "got SIGTERM" {
		t.Errorf("main received %q, want the SIGTERM forwarded twice", got)
	}
}

// SIGINT also starts the shutdown; the main gets SIGINT itself.
func TestSigintShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, ready := dir+"/F", dir+"/R"
	r := startIn(t, dir, opts{}, "--", testprog, "trapterm", "--file", f, "--ready", ready, "--delay", "100ms")
	r.WaitFile(ready)
	r.Signal(unix.SIGINT)
	r.ExpectExit(0)
	checkCount(t, r.doneBeforeExit(f, "done SIGINT"), 1)
	if s := r.Stderr(); s != "" {
		t.Errorf("tend should be quiet by default, stderr:\n%s", s)
	}
}

// Scenario: 5000 orphans are all reaped: a follow-up pscheck in the same
// namespace sees no zombie and nothing but itself, its shell and tend.
// Reaping must cost tend little: the shell prints tend's own CPU ticks
// (/proc/1/stat utime, stime) once the orphans were made, and those are
// bounded, not the wall clock, which is the 5000 Go processes' start-up
// (45-80 s at load averages of 20-25 on 2 cores, whatever tend does).
func TestOrphansReaped(t *testing.T) {
	// not parallel: forks 5000 processes
	dir := t.TempDir()
	r := startIn(t, dir, opts{Timeout: 180 * time.Second}, "--", "sh", "-c",
		fmt.Sprintf("%s orphans --count 5000 && cut -d' ' -f14,15 /proc/1/stat && %s pscheck --settle 10s", q(testprog), q(testprog)))
	r.ExpectExit(0)
	lines := strings.SplitN(r.Stdout(), "\n", 3)
	if len(lines) < 2 {
		t.Fatalf("want tend's CPU ticks and pscheck's line, got %q\n%s", r.Stdout(), r.Diag())
	}
	if !strings.Contains(lines[1], " zombies=0 others=0") {
		t.Errorf("pscheck after 5000 orphans: %q, want zombies=0 others=0\n%s", lines[1], r.Diag())
	}
	var utime, stime int
	if _, err := fmt.Sscanf(lines[0], "%d %d", &utime, &stime); err != nil {
		t.Fatalf("tend's CPU ticks %q: %v", lines[0], err)
	}
	// Measured: 0.3-0.8 s of CPU for 2000 orphans (USER_HZ 100), so ~2 s
	// for 5000; one /proc scan per exit, a quadratic cost, is far above.
	cpu := time.Duration(utime+stime) * 10 * time.Millisecond
	t.Logf("tend spent %v of CPU (user %d, sys %d ticks) reaping 5000 orphans; the run took %v", cpu, utime, stime, r.Ended.Sub(r.Started).Round(time.Millisecond))
	if cpu > 20*time.Second {
		t.Errorf("tend spent %v of CPU reaping 5000 orphans (want < 20s)\n%s", cpu, r.Diag())
	}
}

// pscheck while the workload runs: tend as PID 1 has no zombie children and
// the main is in its own session and process group.
func TestNamespaceLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := startIn(t, dir, opts{}, "--", "sh", "-c",
		fmt.Sprintf("%s exit 0 & %s exit 0 & %s pscheck --settle 5s", q(testprog), q(testprog), q(testprog)))
	r.ExpectExit(0)
	out := r.Stdout()
	if !strings.Contains(out, "zombies=0 others=0") {
		t.Errorf("pscheck: want zombies=0 others=0:\n%s", out)
	}
	// lines: pid ppid pgrp sid state comm; the shell is the main (pid 2)
	var shLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, " sh") {
			shLine = l
		}
	}
	var pid, ppid, pgrp, sid int
	var state byte
	if _, err := fmt.Sscanf(shLine, "%d %d %d %d %c", &pid, &ppid, &pgrp, &sid, &state); err != nil {
		t.Fatalf("no sh line in pscheck output (%v):\n%s", err, out)
	}
	if ppid != 1 || pgrp != pid || sid != pid {
		t.Errorf("main shell: pid %d ppid %d pgrp %d sid %d; want ppid 1 (tend) and its own session and process group", pid, ppid, pgrp, sid)
	}
}

// Scenario: --pre-stop runs (and is waited for) before the main gets SIGTERM.
// The command line is split with shell-word rules (quotes), not run by a shell.
func TestPreStop(t *testing.T) {
	t.Parallel()
	for _, viaEnv := range []bool{false, true} {
		name := "flag"
		if viaEnv {
			name = "env"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			f, ready, p := dir+"/F", dir+"/R", dir+"/P"
			pre := fmt.Sprintf("%s touch --delay 300ms %s", q(testprog), q(p))
			o, args := opts{}, []string{}
			if viaEnv {
				o.Env = []string{"TEND_PRE_STOP=" + pre}
			} else {
				args = append(args, "--pre-stop", pre)
			}
			args = append(args, "--", testprog, "trapterm", "--file", f, "--ready", ready, "--check", p, "--delay", "0s")
			r := startIn(t, dir, o, args...)
			r.WaitFile(ready)
			r.Signal(unix.SIGTERM)
			r.ExpectExit(0)
			content := r.doneBeforeExit(f, "done SIGTERM")
			if !strings.Contains(content, "check=yes") {
				t.Errorf("main got SIGTERM before the pre-stop command had finished (%q)", content)
			}
		})
	}
	t.Run("main-exits-by-itself", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := dir + "/P"
		r := startIn(t, dir, opts{}, "--pre-stop", fmt.Sprintf("%s touch %s", q(testprog), q(p)), "--", testprog, "exit", "0")
		r.ExpectExit(0)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("pre-stop did not run when the main exited by itself: %v", err)
		}
	})
}

// Scenario: --hold keeps tend running after a failed main; SIGTERM then
// makes it exit with the main's code.
func TestHold(t *testing.T) {
	t.Parallel()
	hold := func(t *testing.T, o opts, args []string, want int) {
		dir := t.TempDir()
		ready := dir + "/R"
		args = append(args, "--", "sh", "-c", fmt.Sprintf("%s touch %s; exit 4", q(testprog), q(ready)))
		r := startIn(t, dir, o, args...)
		r.WaitFile(ready)
		r.Poll("the main to exit and be reaped", func() bool { return r.Exited() || len(r.Descendants()) == 0 })
		r.AliveFor(300*time.Millisecond, "--hold and the main failed with 4")
		r.Signal(unix.SIGTERM)
		r.ExpectExit(want)
		if !strings.Contains(r.Stderr(), "tend: ") {
			t.Errorf("--hold: tend should log that the main failed; stderr empty")
		}
	}
	t.Run("flag", func(t *testing.T) { t.Parallel(); hold(t, opts{}, []string{"--hold"}, 4) })
	t.Run("env", func(t *testing.T) { t.Parallel(); hold(t, opts{Env: []string{"TEND_HOLD=true"}}, nil, 4) })
	t.Run("remap-to-3", func(t *testing.T) { t.Parallel(); hold(t, opts{}, []string{"--hold", "--remap-exit", "4:3"}, 3) })
	t.Run("success-does-not-hold", func(t *testing.T) {
		t.Parallel()
		r := start(t, opts{}, "--hold", "--", testprog, "exit", "0")
		r.ExpectExit(0)
	})
	t.Run("remapped-to-0-does-not-hold", func(t *testing.T) {
		t.Parallel()
		r := start(t, opts{}, "--hold", "--remap-exit", "4:0", "--", testprog, "exit", "4")
		r.ExpectExit(0)
	})
	t.Run("env-false", func(t *testing.T) {
		t.Parallel()
		r := start(t, opts{Env: []string{"TEND_HOLD=0"}}, "--", testprog, "exit", "4")
		r.ExpectExit(4)
	})
}

// Scenario: subreaper mode without a namespace. tend (not PID 1) adopts the
// shell's setsid daemon and stops it on SIGTERM before exiting.
func TestSubreaperDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, ready, pidfile := dir+"/F", dir+"/R", dir+"/P"
	r := startIn(t, dir, opts{Direct: true}, "--", "sh", "-c",
		fmt.Sprintf("%s daemon --file %s --ready %s --pidfile %s --delay 300ms; exec %s sleep 1d",
			q(testprog), q(f), q(ready), q(pidfile), q(testprog)))
	r.WaitFile(ready)
	dpid := r.WaitPID(pidfile)
	r.KillOnCleanup(dpid)
	var mainPID int
	r.Poll("the daemon to be adopted by tend and the main to exec", func() bool {
		d, err := procfs.Read("/proc", dpid)
		if err != nil || d.PPID != r.TendPID {
			return false
		}
		for _, p := range r.Descendants() {
			if p.PPID == r.TendPID && p.PID != dpid && p.Comm == "testprog" {
				mainPID = p.PID
				return true
			}
		}
		return false
	})
	if d, _ := procfs.Read("/proc", dpid); d.SID != dpid {
		t.Errorf("daemon pid %d is not a session leader (sid %d)", dpid, d.SID)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(143)
	content := r.doneBeforeExit(f, "done SIGTERM")
	checkCount(t, content, 1)
	for _, pid := range []int{dpid, mainPID} {
		if p, err := procfs.Read("/proc", pid); err == nil && p.Comm == "testprog" {
			t.Errorf("pid %d (%c) still exists after tend exited", pid, p.State)
		}
	}
}

// --grace platform (what an injected tend gets when the platform gives no
// figure): a SIGTERM starts a shutdown with no deadline of tend's own, so a
// main that ignores SIGTERM outlives tend's 10s default; the platform's
// SIGKILL (sent here) ends it.
func TestGracePlatformSignalHasNoDeadline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := dir + "/R"
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "--grace", "platform", "--", testprog, "ignoreterm", "--ready", ready)
	r.WaitPID(ready)
	r.Signal(unix.SIGTERM)
	// good: alive until the platform kills; bad: SIGKILLed at the 10s
	// default. A loaded machine only delays tend's kill, never advances it.
	r.AliveFor(12*time.Second, "--grace platform: no deadline of tend's own after SIGTERM")
	if looseGraceLine.MatchString(r.Stderr()) {
		t.Errorf("tend logged a grace expiry:\n%s", r.Stderr())
	}
	r.Signal(unix.SIGKILL)
	r.Wait()
}

// --grace platform, the main exits by itself leaving a process that
// ignores SIGTERM: nobody else would end the container, so tend's own
// default grace (10s) still applies, and the exit code stays the main's.
func TestGracePlatformMainExitUsesDefault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := dir + "/R"
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "--grace", "platform", "--", "sh", "-c",
		fmt.Sprintf("%s ignoreterm --ready %s & %s waitfile %s; exit 3", q(testprog), q(ready), q(testprog), q(ready)))
	r.WaitPID(ready)
	r.ExpectExit(3)
	// good: the 10s default; bad: never (an unbounded wait). 25 s leaves
	// room for a loaded machine.
	if took := r.Ended.Sub(r.mtime(ready)); took < 9900*time.Millisecond || took > 25*time.Second {
		t.Errorf("tend exited %v after the leftover started; want about the 10s default grace\n%s", took.Round(time.Millisecond), r.Diag())
	}
	if m := looseGraceLine.FindStringSubmatch(r.Stderr()); m == nil || m[1] != "10s" {
		t.Errorf("want a grace-expiry line for 10s; stderr:\n%s", r.Stderr())
	}
}
