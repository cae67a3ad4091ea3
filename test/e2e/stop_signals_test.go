package e2e

// How tend signals processes when it stops services and at shutdown:
// SIGCONT after every stop signal, "already signalled" groups scoped to
// the current shutdown, stop_timeout for what is left of a group, the
// grace line's count, and the signals caught before the first child.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
	"github.com/tend-sh/tend/test/internal/procfs"
)

// waitStopped waits for a descendant of tend that is a testprog in state T
// (stopped) and returns its host pid.
func (r *run) waitStopped() int {
	r.T.Helper()
	pid := 0
	r.Poll("a stopped testprog", func() bool {
		for _, p := range r.Descendants() {
			if p.Comm == "testprog" && p.State == 'T' {
				pid = p.PID
				return true
			}
		}
		return false
	})
	return pid
}

// procState is /proc/PID/stat of a host pid, for "did not exit in time"
// messages.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}

// A stopped process that tend signals at shutdown also gets SIGCONT, so it
// runs its own cleanup instead of waiting, stopped, for the grace's
// SIGKILL — the main itself and the members of its process group too
// (before, only the final sweep sent SIGCONT, and it skips the main's
// group: the main was SIGKILLed at the grace, exit 137).
func TestStoppedProcessesContinuedAtShutdown(t *testing.T) {
	t.Parallel()
	// Long, so that the bad outcome (the grace) is far from the good one
	// (ms) plus the exit's lag on a loaded machine (3.5 s seen).
	const grace = 12 * time.Second
	cases := []struct {
		name   string
		direct bool
		argv   func(f, ready string) []string
		code   int
	}{
		{"main stopped", false, func(f, ready string) []string {
			return []string{testprog, "trapterm", "--file", f, "--ready", ready, "--delay", "100ms"}
		}, 0},
		{"main stopped, subreaper", true, func(f, ready string) []string {
			return []string{testprog, "trapterm", "--file", f, "--ready", ready, "--delay", "100ms"}
		}, 0},
		// The shell dies of the SIGTERM (143); the worker it stopped, in
		// the main's group, must still get to finish.
		{"member of the main's group stopped", false, func(f, ready string) []string {
			return []string{"sh", "-c", fmt.Sprintf("%s worker --file %s --ready %s --delay 100ms & %s waitfile %s; kill -STOP $!; wait",
				q(testprog), q(f), q(ready), q(testprog), q(ready))}
		}, 143},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			f, ready := dir+"/F", dir+"/R"
			args := append([]string{"--grace", grace.String(), "--"}, c.argv(f, ready)...)
			r := startIn(t, dir, opts{Direct: c.direct, Timeout: 30 * time.Second}, args...)
			r.WaitFile(ready)
			if c.code == 0 { // the main is the one to stop
				for _, p := range r.Descendants() {
					if p.PPID == r.TendPID && p.Comm == "testprog" {
						if err := unix.Kill(p.PID, unix.SIGSTOP); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			pid := r.waitStopped()
			if c.direct {
				r.KillOnCleanup(pid)
			}
			sent := time.Now()
			r.Signal(unix.SIGTERM)
			select {
			case <-r.Done():
			case <-time.After(grace + 10*time.Second):
				t.Fatalf("tend did not exit; stopped process: %s\n%s", procState(pid), r.Diag())
			}
			r.ExpectCode(c.code)
			if took := r.Ended.Sub(sent); took >= grace {
				t.Errorf("tend exited %v after SIGTERM: the stopped process waited out the %v grace", took.Round(time.Millisecond), grace)
			}
			checkCount(t, r.doneBeforeExit(f, "done SIGTERM"), 1)
		})
	}
}

// stopTimeoutConfig is one service whose leader exits on SIGTERM while a
// member of its group (started by the shell before it execs the leader)
// ignores SIGTERM; each member writes MEMBERS/<pid>.
func stopTimeoutConfig(t *testing.T, dir string, stopTimeout time.Duration) (cfg, records, members string) {
	records = filepath.Join(dir, "records")
	members = filepath.Join(dir, "members")
	if err := os.Mkdir(members, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`%s ignoreterm --ready %s/$$ & %s waitfile %s/$$ && exec %s svc --name w --log %s --ready %s`,
		q(testprog), q(members), q(testprog), q(members), q(testprog), q(records), q(dir+"/w-ready"))
	cfg = writeConfig(t, dir, fmt.Sprintf(`
[service.w]
command = ["sh", "-c", %s]
restart = "always"
stop_timeout = %s
`, tomlStr(script), tomlStr(stopTimeout.String())))
	return cfg, records, members
}

// liveMembers returns the host pids of the ignoreterm members still alive
// (zombies excluded).
func (r *run) liveMembers() []int {
	var pids []int
	for _, p := range r.Descendants() {
		if p.State == 'Z' || p.Comm != "testprog" {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
		if strings.Contains(string(cmdline), "ignoreterm") {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// A stop_timeout SIGKILLs the whole process group at the timeout, also
// when the leader exited on the stop signal and only members that ignore
// it are left: they must not survive `tend stop` or pile up over `tend
// restart`s (before, three restarts left three members behind).
func TestStopTimeoutKillsLeftoverGroup(t *testing.T) {
	t.Parallel()
	const stopTimeout = 500 * time.Millisecond
	cases := []struct {
		name     string
		restarts int // then `tend stop` when 0
		want     int // live members once the timeouts ran out
	}{
		{"stop", 0, 0},
		{"three restarts", 3, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sock := filepath.Join(dir, "sock")
			cfg, records, _ := stopTimeoutConfig(t, dir, stopTimeout)
			r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock)
			r.waitSvcRecord(records, "start", "w")
			if c.restarts == 0 {
				r.cli(sock, "stop", "w")
				r.waitSvcRecord(records, "stop", "w")
			}
			for i := 1; i <= c.restarts; i++ {
				r.cli(sock, "restart", "w")
				r.Poll(fmt.Sprintf("start record %d of w", i+1), func() bool {
					return len(filterSvcRecords(readSvcRecords(t, records), "start", "w")) > i
				})
			}
			// The last stop's timeout plus generous room for a loaded
			// machine: members that are not killed live forever.
			deadline := time.Now().Add(stopTimeout + 10*time.Second)
			for len(r.liveMembers()) != c.want && time.Now().Before(deadline) {
				time.Sleep(harness.PollEvery)
			}
			if got := r.liveMembers(); len(got) != c.want {
				var states []string
				for _, pid := range got {
					states = append(states, procState(pid))
				}
				t.Errorf("%d member(s) that ignore SIGTERM still alive %v after the stop_timeout, want %d:\n  %s\n%s",
					len(got), stopTimeout+10*time.Second, c.want, strings.Join(states, "\n  "), r.Diag())
			}
			r.Signal(unix.SIGTERM)
			r.ExpectExit(0)
		})
	}
}

// cli runs `tend ARGS --socket SOCK` and fails the test unless it exits 0.
func (r *run) cli(sock string, args ...string) {
	r.T.Helper()
	if out, err := tendCommand(sock, args...); err != nil {
		r.T.Fatalf("tend %s: %v\n%s\n%s", strings.Join(args, " "), err, out, r.Diag())
	}
}

// tendCommand runs `tend ARGS --socket SOCK` (10 s at most) and returns
// its combined output.
func tendCommand(sock string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tendBin, append(args, "--socket", sock)...)
	cmd.Env = cleanEnv(nil)
	state := harness.StateOnCancel(cmd)
	out, err := cmd.CombinedOutput()
	if s := state(); s != "" {
		out = append(out, "\n--- the CLI did not finish within 10s:\n"+s...)
	}
	return string(out), err
}

// After `tend stop a`, a setsid daemon that got a's old PID (so its group
// has a's old group number) is a different process group: the shutdown
// sweep must give it its SIGTERM (before, the number was remembered as
// "signalled" forever, the daemon was skipped and SIGKILLed at the grace).
// The PID reuse is forced through ns_last_pid in tend's PID namespace.
func TestSweepAfterStopWithReusedGroupID(t *testing.T) {
	t.Parallel()
	// Long, so that the bad outcome (the grace) is far from the good one
	// (ms) plus the exit's lag on a loaded machine (3.5 s seen).
	const grace = 12 * time.Second
	dir := t.TempDir()
	sock := filepath.Join(dir, "sock")
	records := filepath.Join(dir, "records")
	f, dready, trigger := dir+"/F", dir+"/D", dir+"/P"
	// spawner: once the trigger holds a's old pid P, set the namespace's
	// last pid to P-1 so the next fork (the daemon; echo and $((...)) are
	// builtins) gets P, then start it in a session of its own.
	spawner := fmt.Sprintf(`%s waitfile --timeout 60s %s && P=$(cat %s) && echo $((P-1)) > /proc/sys/kernel/ns_last_pid && { setsid %s trapterm --file %s --ready %s --delay 100ms & } && exec %s sleep 1d`,
		q(testprog), q(trigger), q(trigger), q(testprog), q(f), q(dready), q(testprog))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
grace = %s

[service.a]
command = %s

[service.spawner]
command = ["sh", "-c", %s]
`, tomlStr(grace.String()),
		tomlArgv(tprog("svc", "--name", "a", "--log", records, "--ready", dir+"/a-ready")...),
		tomlStr(spawner)))
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock)
	aPID := r.WaitPID(dir + "/a-ready")
	r.cli(sock, "stop", "a")
	r.waitSvcRecord(records, "stop", "a")
	r.Poll("a to be stopped (its process reaped)", func() bool {
		out, _ := tendCommand(sock, "status", "a")
		return strings.Contains(out, "stopped")
	})
	harness.WriteFileAtomic(t, trigger, strconv.Itoa(aPID)+"\n")
	if got := r.WaitPID(dready); got != aPID {
		t.Fatalf("the daemon got pid %d, not a's old pid %d (something else forked in the namespace)\n%s", got, aPID, r.Diag())
	}
	sent := time.Now()
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	if took := r.Ended.Sub(sent); took >= grace {
		t.Errorf("tend exited %v after SIGTERM: the daemon was not swept and waited out the %v grace", took.Round(time.Millisecond), grace)
	}
	if m := looseGraceLine.FindString(r.Stderr()); m != "" {
		t.Errorf("a process was SIGKILLed at the grace: %s", m)
	}
	checkCount(t, r.doneBeforeExit(f, "done SIGTERM"), 1)
}

// The grace line counts every process tend SIGKILLed, also those that
// appeared after its first listing (before, only the first pass was
// counted). A watcher W, started after V and 500 other sleepers (so W has
// a higher pid and is killed last in a pass, which goes in pid order),
// forks sleepers as fast as it can from the moment V dies: while tend
// kills the 500, W adds processes its listing did not have. The truth is
// what tend reaped with 137 (every killed process ends up tend's: its
// parent was killed too) plus the main.
func TestGraceLineCountsEveryKill(t *testing.T) {
	t.Parallel()
	reaped137 := regexp.MustCompile(`(?m)^tend: reaped pid=\d+ code=137$`)
	for _, direct := range []bool{false, true} {
		name := "pid1-in-namespace"
		if direct {
			name = "subreaper-direct"
		}
		t.Run(name, func(t *testing.T) { // one at a time: 500 processes each
			dir := t.TempDir()
			fifo, ready := dir+"/fifo", dir+"/R"
			script := fmt.Sprintf(`trap '' TERM
mkfifo %[1]s
sleep 1000 > %[1]s &
for i in $(seq 500); do sleep 1000 & done
{ read x < %[1]s; while :; do sleep 1000 & done; } &
%[2]s touch %[3]s
wait`, q(fifo), q(testprog), q(ready))
			// A script file: the main's command line (in the grace line)
			// stays on one line.
			harness.WriteFileAtomic(t, dir+"/script", script)
			r := startIn(t, dir, opts{Direct: direct, Timeout: 40 * time.Second}, "-vv", "--grace", "1s", "--", "sh", dir+"/script")
			r.WaitFile(ready)
			r.Poll("the 501 sleepers", func() bool {
				n := 0
				for _, p := range r.Descendants() {
					if p.Comm == "sleep" {
						n++
					}
				}
				return n >= 501
			})
			r.Signal(unix.SIGTERM)
			r.ExpectExit(137)
			m := looseGraceLine.FindStringSubmatch(r.Stderr())
			if m == nil {
				t.Fatalf("no grace line on stderr\n%s", r.Diag())
			}
			logged, _ := strconv.Atoi(m[2])
			truth := len(reaped137.FindAllString(r.Stderr(), -1)) + 1 // + the main
			if pids := strings.Count(m[3], " ("); pids != logged {
				t.Errorf("grace line says %d process(es) but lists %d", logged, pids)
			}
			// The reaped lines are the whole truth only if tend logged
			// them all: at load averages of ~75-90 it dropped some of its
			// own lines ("147 of tend's own log line(s) dropped": the log
			// queue is bounded by design), or stopped waiting for the
			// reaps (KillWait, "exiting anyway" after 3 s: 797 killed,
			// none reaped in time; tend then says what /proc shows is
			// left). Then they are a lower bound.
			s := r.Stderr()
			complete := !strings.Contains(s, "log line(s) dropped") && !strings.Contains(s, "exiting anyway")
			switch {
			case complete && logged != truth:
				t.Errorf("grace line counts %d process(es); tend reaped %d killed by SIGKILL (and the main)\n%s", logged, truth, r.Diag())
			case !complete && logged < truth:
				t.Errorf("grace line counts %d process(es); tend reaped at least %d killed by SIGKILL (and the main)\n%s", logged, truth, r.Diag())
			case !complete:
				t.Logf("tend's log is incomplete (lines dropped, or it exited before reaping all): checked only that the grace line's %d ≥ the %d reaped", logged, truth)
			}
			t.Logf("killed %d, %d of them seen reaped (502 processes before the kill)", logged, truth)
		})
	}
}

// Every signal whose default would stop tend (TSTP, TTIN, TTOU) or kill it
// (STKFLT: a Go program dies of it until it is caught) is caught before
// the first child starts. The first service sends them to tend from its
// first instant, while tend is still starting the 40 services after it
// (and before, registering the rest of its signals); tend must neither
// stop nor die, and shuts down normally afterwards.
func TestSignalsFromTheFirstChild(t *testing.T) {
	t.Parallel()
	for _, direct := range []bool{false, true} {
		name := "pid1-in-namespace"
		if direct {
			name = "subreaper-direct"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			done := dir + "/done"
			// Ignored (so inherited over exec): tend forwards them to every
			// service's group.
			const ignore = `trap '' TSTP TTIN TTOU 16`
			spray := fmt.Sprintf(`%s; i=0; while [ $i -lt 100 ]; do kill -TSTP $PPID; kill -TTIN $PPID; kill -TTOU $PPID; kill -16 $PPID; i=$((i+1)); done; : > %s; exec sleep 1000`, ignore, q(done))
			var cfg strings.Builder
			fmt.Fprintf(&cfg, "[service.spray]\ncommand = [\"sh\", \"-c\", %s]\n", tomlStr(spray))
			for i := range 40 {
				fmt.Fprintf(&cfg, "\n[service.filler%d]\ncommand = [\"sh\", \"-c\", %s]\n", i, tomlStr(ignore+"; exec sleep 1000"))
			}
			path := writeConfig(t, dir, cfg.String())
			r := startIn(t, dir, opts{Direct: direct, Timeout: 30 * time.Second}, "-c", path, "--socket", dir+"/sock")
			r.Poll("the spray service to finish", func() bool {
				if r.Exited() {
					t.Fatalf("tend exited (code %d) while the first child signalled it\n%s", r.Code, r.Diag())
				}
				if p, err := procfs.Read("/proc", r.TendPID); err == nil && p.State == 'T' {
					t.Errorf("tend is stopped: %s", procState(r.TendPID))
					unix.Kill(r.TendPID, unix.SIGCONT)
					return true
				}
				_, err := os.Stat(done)
				return err == nil
			})
			r.AliveFor(100*time.Millisecond, "after the signals")
			if p, err := procfs.Read("/proc", r.TendPID); err == nil && p.State == 'T' {
				t.Errorf("tend is stopped: %s", procState(r.TendPID))
				unix.Kill(r.TendPID, unix.SIGCONT)
			}
			r.Signal(unix.SIGTERM)
			r.ExpectExit(0)
		})
	}
}
