// Package compat runs the built tend under the names of the inits it
// replaces (a symlink tini, tini-static, docker-init or dumb-init to it),
// with those programs' command lines, as PID 1 of a fresh PID namespace and
// as a subreaper, and checks what their documentation promises: who gets
// forwarded signals, single-child mode, rewrites, exit-code remapping, the
// parent-death signal, reaping warnings, job control on a terminal and the
// signal mask and dispositions the child inherits.
//
// The scenarios are written from the peers' documentation (README, --help),
// not from their test suites. Requirements as test/e2e: root and unshare(1).
// TEND_COMPAT_PEERS=1 runs them against the real /usr/bin/tini and
// /usr/bin/dumb-init instead (apt-get install tini dumb-init); TestPeers
// (peers_test.go) does so in every run where they are installed, and
// requires the scenarios where tend deliberately differs (its table
// knownDifferences, each with its reason) to fail there and every other
// one to pass.
package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
	"github.com/tend-sh/tend/test/internal/procfs"
)

var (
	env      *harness.Env
	testprog string
	links    string // directory of the tini/dumb-init/... symlinks to tend
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Config{
		Name:     "compat",
		Timeout:  20 * time.Second,
		KillWait: 5 * time.Second,
	}, func(e *harness.Env) {
		env, testprog = e, e.Testprog
		defer startPeers(e) // the run against the real peers (TestPeers), beside this one
		if e.BinDir == "" {
			return
		}
		links = filepath.Join(e.BinDir, "links")
		if err := os.Mkdir(links, 0o755); err != nil {
			panic(err)
		}
		for _, name := range []string{"tini", "tini-static", "docker-init", "dumb-init"} {
			target := e.Tend
			if os.Getenv("TEND_COMPAT_PEERS") == "1" {
				// The real programs, to check the scenarios against them.
				target = map[string]string{"tini": "/usr/bin/tini", "tini-static": "/usr/bin/tini-static", "docker-init": "/usr/bin/tini", "dumb-init": "/usr/bin/dumb-init"}[name]
			}
			if err := os.Symlink(target, filepath.Join(links, name)); err != nil {
				panic(err)
			}
		}
	}))
}

// as is the suite's environment with the init under test invoked by name.
func as(name string) *harness.Env {
	e := *env
	if name != "tend" && links != "" {
		e.Tend = filepath.Join(links, name)
	}
	return &e
}

// modes are the two ways an init runs: PID 1 of a namespace, or a
// subreaper under something else.
var modes = []struct {
	name   string
	direct bool
}{{"pid1", false}, {"subreaper", true}}

// groupScript is a main that shares its process group with a background
// sigprint: it records the signals it gets itself in main.out, and exits on
// SIGTERM.
func groupScript(dir string) []string {
	return []string{"sh", "-c", fmt.Sprintf(`trap 'echo USR1 >> %[1]s/main.out' USR1
trap 'echo TERM >> %[1]s/main.out; exit 0' TERM
%[2]s sigprint --out %[1]s/bg.out --ready %[1]s/bg.ready &
echo $$ > %[1]s/main.ready
while :; do wait; done`, dir, testprog)}
}

// TestWhoGetsSignals: tini signals the child alone unless -g or
// TINI_KILL_PROCESS_GROUP; dumb-init signals the child's group unless
// single-child mode; tend signals the group (and takes -g). At shutdown
// tend still gives the rest one SIGTERM, except in dumb-init's single-child
// mode.
func TestWhoGetsSignals(t *testing.T) {
	tests := []struct {
		name     string
		init     string
		args     []string
		env      []string
		bgUSR1   bool // the background process gets the forwarded USR1
		bgTERM   bool // ... and a SIGTERM (the group's, or tend's sweep)
		bgAlive  bool // ... and is left running when tend exits (subreaper)
		exitCode int
	}{
		{"tini default: the child alone", "tini", []string{"--"}, nil, false, true, false, 0},
		{"tini -g", "tini", []string{"-g", "--"}, nil, true, true, false, 0},
		{"TINI_KILL_PROCESS_GROUP", "tini", []string{"--"}, []string{"TINI_KILL_PROCESS_GROUP=1"}, true, true, false, 0},
		{"tini-static", "tini-static", []string{"--"}, nil, false, true, false, 0},
		{"docker-init -g", "docker-init", []string{"-g", "--"}, nil, true, true, false, 0},
		{"dumb-init: the group", "dumb-init", nil, nil, true, true, false, 0},
		{"dumb-init -c: the child alone, the rest left alone", "dumb-init", []string{"-c"}, nil, false, false, true, 0},
		{"dumb-init --single-child", "dumb-init", []string{"--single-child", "--"}, nil, false, false, true, 0},
		{"DUMB_INIT_SETSID=0", "dumb-init", nil, []string{"DUMB_INIT_SETSID=0"}, false, false, true, 0},
		{"tend -g --", "tend", []string{"-g", "--"}, nil, true, true, false, 0},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				dir := t.TempDir()
				args := append(append([]string(nil), tt.args...), groupScript(dir)...)
				r := as(tt.init).Start(t, dir, harness.Opts{Direct: m.direct, Env: tt.env}, args...)
				r.WaitFile(dir + "/main.ready")
				bgPID := r.WaitPID(dir + "/bg.ready")
				r.Signal(unix.SIGUSR1)
				r.WaitLines(dir+"/main.out", 1)
				r.Signal(unix.SIGTERM)
				r.ExpectExit(tt.exitCode)
				var want []string
				if tt.bgUSR1 {
					want = append(want, "got SIGUSR1")
				}
				if tt.bgTERM {
					want = append(want, "got SIGTERM")
				}
				if got := harness.ReadLines(dir + "/bg.out"); !reflect.DeepEqual(got, want) {
					t.Errorf("the background process got %q, want %q\n%s", got, want, r.Diag())
				}
				if got := harness.ReadLines(dir + "/main.out"); !reflect.DeepEqual(got, []string{"USR1", "TERM"}) {
					t.Errorf("the main got %q, want USR1 then TERM", got)
				}
				if !m.direct {
					return // the namespace is gone with its PID 1
				}
				alive := unix.Kill(bgPID, 0) == nil
				if alive {
					unix.Kill(bgPID, unix.SIGKILL)
				}
				if alive != tt.bgAlive {
					t.Errorf("background process alive after tend exited: %v, want %v", alive, tt.bgAlive)
				}
			})
		}
	}
}

// TestSessions: dumb-init puts the child in a session of its own, except in
// single-child mode, where it shares tend's session and process group.
func TestSessions(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		ownSess bool
	}{
		{"setsid", nil, true},
		{"single-child", []string{"-c"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append(append([]string(nil), tt.args...), testprog, "sigprint", "--ready", dir+"/ready")
			r := as("dumb-init").Start(t, dir, harness.Opts{Direct: true}, args...)
			pid := r.WaitPID(dir + "/ready")
			p, err := procfs.Read("/proc", pid)
			if err != nil {
				t.Fatal(err)
			}
			self, _ := procfs.Read("/proc", r.TendPID)
			if own := p.SID == pid && p.PGRP == pid; own != tt.ownSess {
				t.Errorf("child sid %d pgrp %d (pid %d), tend sid %d pgrp %d: own session %v, want %v", p.SID, p.PGRP, pid, self.SID, self.PGRP, own, tt.ownSess)
			}
			if !tt.ownSess && (p.SID != self.SID || p.PGRP != self.PGRP) {
				t.Errorf("single-child: child sid/pgrp %d/%d, tend's %d/%d", p.SID, p.PGRP, self.SID, self.PGRP)
			}
			// dumb-init keeps no directory busy: it moves to / once the child runs.
			r.Poll("tend's working directory to be /", func() bool {
				cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", r.TendPID))
				return cwd == "/"
			})
			wd, _ := os.Getwd() // tend's, as the harness started it
			if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != wd {
				t.Errorf("the child's working directory is %q, want tend's original %q", cwd, wd)
			}
			r.Signal(unix.SIGTERM)
			r.ExpectExit(0)
		})
	}
}

// TestWorkingDirectory: dumb-init starts its child in the directory it was
// started in and then moves itself to / (it keeps no mount busy), in both
// modes and with -c; tend in its own mode keeps its directory (services
// restarted later, reloads and relative paths resolve against it).
func TestWorkingDirectory(t *testing.T) {
	for _, m := range modes {
		for _, tt := range []struct {
			init     string
			args     []string
			tendInto string // where the init ends up: "/" or "" for where it started
		}{
			{"dumb-init", nil, "/"},
			{"dumb-init", []string{"-c"}, "/"},
			{"tend", []string{"--"}, ""},
		} {
			t.Run(m.name+"/"+tt.init+" "+strings.Join(tt.args, " "), func(t *testing.T) {
				dir := t.TempDir()
				wd := filepath.Join(dir, "work dir")
				if err := os.Mkdir(wd, 0o755); err != nil {
					t.Fatal(err)
				}
				args := append(append([]string(nil), tt.args...), testprog, "sigprint", "--ready", dir+"/ready")
				r := as(tt.init).Start(t, dir, harness.Opts{Direct: m.direct, Dir: wd}, args...)
				r.WaitFile(dir + "/ready")
				child := hostPID(r, "testprog")
				if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", child)); cwd != wd {
					t.Errorf("the child's working directory is %q, want the one the init was started in, %q", cwd, wd)
				}
				want := tt.tendInto
				if want == "" {
					want = wd
				}
				r.Poll("the init's working directory to be "+want, func() bool {
					cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", r.TendPID))
					return cwd == want
				})
				r.Signal(unix.SIGTERM)
				r.ExpectExit(0)
			})
		}
	}
}

// TestRewrite: dumb-init's -r S:R forwards S as R; R = 0 drops S.
func TestRewrite(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			out := dir + "/out"
			r := as("dumb-init").Start(t, dir, harness.Opts{Direct: m.direct},
				"-r", "10:12", "--rewrite", "1:0", "-r", "28:0", "--", testprog, "sigprint", "--out", out, "--ready", dir+"/ready")
			r.WaitFile(dir + "/ready")
			r.Signal(unix.SIGUSR1)
			r.WaitLines(out, 1)
			r.Signal(unix.SIGHUP)
			r.Signal(unix.SIGWINCH)
			r.Signal(unix.SIGTERM)
			r.ExpectExit(0)
			if got, want := harness.ReadLines(out), []string{"got SIGUSR2", "got SIGTERM"}; !reflect.DeepEqual(got, want) {
				t.Errorf("the child got %q, want %q (USR1 as USR2, HUP and WINCH dropped)", got, want)
			}
		})
	}
}

// TestExitCodeRemap: tini's -e CODE turns CODE into 0; other codes pass.
func TestExitCodeRemap(t *testing.T) {
	for _, m := range modes {
		for _, tt := range []struct {
			args []string
			want int
		}{
			{[]string{"-e", "3", "--", testprog, "exit", "3"}, 0},
			{[]string{"-e", "3", "-e", "4", "--", testprog, "exit", "4"}, 0},
			{[]string{"-e", "3", "--", testprog, "exit", "5"}, 5},
			{[]string{"-e", "143", "--", testprog, "killself", "TERM"}, 0},
			{[]string{"--", testprog, "killself", "TERM"}, 143},
		} {
			t.Run(m.name+"/"+strings.Join(tt.args[:len(tt.args)-3], " ")+"/"+tt.args[len(tt.args)-1], func(t *testing.T) {
				r := as("tini").Start(t, t.TempDir(), harness.Opts{Direct: m.direct}, tt.args...)
				r.ExpectExit(tt.want)
			})
		}
	}
}

// TestUsageErrors: the peers' exit code (1) and stream (stderr) for a
// command line they refuse; -h, --version, -l on the peers' streams.
func TestUsageErrors(t *testing.T) {
	env.Need(t)
	for _, tt := range []struct {
		init   string
		args   []string
		code   int
		stdout bool // the text is on stdout (else stderr)
	}{
		{"tini", []string{"-x", "--", "true"}, 1, false},
		{"tini", nil, 1, false},
		{"tini", []string{"-e", "300", "--", "true"}, 1, false},
		{"tini", []string{"-p", "SIGNOPE", "--", "true"}, 1, false},
		{"tini", []string{"-h"}, 0, true},
		{"tini", []string{"--version"}, 0, true},
		{"tini", []string{"-l"}, 0, true},
		{"docker-init", []string{"--version"}, 0, true},
		{"dumb-init", []string{"--nope", "true"}, 1, false},
		{"dumb-init", nil, 1, false},
		{"dumb-init", []string{"-r", "15:99", "true"}, 1, false},
		{"dumb-init", []string{"-h"}, 0, false},
		{"dumb-init", []string{"--version"}, 0, false},
		{"dumb-init", []string{"-V"}, 0, false},
	} {
		t.Run(tt.init+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(links, tt.init), tt.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			on, off := stderr.String(), stdout.String()
			if tt.stdout {
				on, off = off, on
			}
			if on == "" || off != "" {
				t.Errorf("want the text on std%s only: stdout %q, stderr %q", map[bool]string{true: "out", false: "err"}[tt.stdout], stdout.String(), stderr.String())
			}
		})
	}
}

// TestLongPrefixes: dumb-init reads its command line with getopt_long,
// which takes an unambiguous prefix of a long option (--single for
// --single-child, --rew for --rewrite) and refuses an ambiguous one (--ver:
// --verbose or --version?) with exit 1. The program's own exit code (7)
// shows that it ran.
func TestLongPrefixes(t *testing.T) {
	env.Need(t)
	prog := []string{"sh", "-c", "exit 7"}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--single"}, 7},
		{[]string{"--single-c", "--"}, 7},
		{[]string{"--rew", "15:3"}, 7},
		{[]string{"--rew=15:3", "--r", "10:0"}, 7},
		{[]string{"--verb"}, 7},
		{[]string{"--vers"}, 0},
		{[]string{"--he"}, 0},
		{[]string{"--ver"}, 1},
		{[]string{"--v"}, 1},
		{[]string{"--single=1"}, 1},
		{[]string{"--rewritex", "15:3"}, 1},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(links, "dumb-init"), append(append([]string(nil), tt.args...), prog...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if tt.code == 1 && stderr.Len() == 0 {
				t.Errorf("refused without a word on stderr")
			}
		})
	}
}

// TestExecFailure: a program dumb-init cannot execute is reported on
// stderr as "[dumb-init] PROGRAM: " and the C library's text for the error,
// and dumb-init exits 2 (the code its child exits with after execvp failed).
func TestExecFailure(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "notexec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		for _, tt := range []struct {
			prog, text string
		}{
			{"no-such-program-tend", "No such file or directory"},
			{"/no/such/dir/prog", "No such file or directory"},
			{notExec, "Permission denied"},
			{"/", "Permission denied"},
		} {
			t.Run(m.name+"/"+tt.prog, func(t *testing.T) {
				r := as("dumb-init").Start(t, t.TempDir(), harness.Opts{Direct: m.direct}, tt.prog, "arg")
				r.ExpectExit(2)
				want := "[dumb-init] " + tt.prog + ": " + tt.text + "\n"
				if got := r.Stderr(); got != want {
					t.Errorf("stderr %q, want exactly %q", got, want)
				}
			})
		}
	}
}

// TestReapWarnings: tini -w warns for every reaped process that is not the
// child; without -w reaping is silent.
func TestReapWarnings(t *testing.T) {
	for _, m := range modes {
		for _, warn := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/-w=%v", m.name, warn), func(t *testing.T) {
				dir := t.TempDir()
				args := []string{"--", "sh", "-c", testprog + " orphans --count 3 && sleep 0.5"}
				if warn {
					args = append([]string{"-w"}, args...)
				}
				r := as("tini").Start(t, dir, harness.Opts{Direct: m.direct}, args...)
				r.ExpectExit(0)
				n := strings.Count(r.Stderr(), "reaped a process that was not the main")
				if warn && n < 3 {
					t.Errorf("%d reaping warnings, want at least the 3 orphans\n%s", n, r.Diag())
				}
				if !warn && n != 0 {
					t.Errorf("%d reaping warnings without -w\n%s", n, r.Diag())
				}
			})
		}
	}
}

// TestParentDeathSignal: with -p SIGTERM, tend gets SIGTERM when the
// process that started it dies, and shuts down as on docker stop: the
// child's cleanup runs. Both as tini and as tend. The parent is a shell
// killed with SIGKILL.
func TestParentDeathSignal(t *testing.T) {
	env.Need(t)
	for _, init := range []string{"tini", "tend"} {
		t.Run(init, func(t *testing.T) {
			dir := t.TempDir()
			done := dir + "/cleanup"
			bin := as(init).Tend
			parent := exec.Command("sh", "-c", fmt.Sprintf(`%s -p SIGTERM -- %s trapterm --file %s --ready %s/ready & echo $! > %s/tend.pid; wait`,
				bin, testprog, done, dir, dir))
			parent.Env = harness.CleanEnv(nil)
			parent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := parent.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			wait := func(what string, cond func() bool) {
				t.Helper()
				for !cond() {
					if time.Now().After(deadline) {
						t.Fatalf("timed out waiting for %s", what)
					}
					time.Sleep(harness.PollEvery)
				}
			}
			var tendPID int
			wait("the ready file", func() bool {
				b, err := os.ReadFile(dir + "/tend.pid")
				tendPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				_, err2 := os.Stat(dir + "/ready")
				return err == nil && tendPID != 0 && err2 == nil
			})
			t.Cleanup(func() {
				if p, err := procfs.Read("/proc", tendPID); err == nil && p.PPID != 0 && strings.HasPrefix(p.Comm, init[:3]) {
					t.Logf("tend %d still there; killing it: %+v", tendPID, p)
					unix.Kill(tendPID, unix.SIGKILL)
				}
			})
			parent.Process.Kill()
			parent.Wait()
			wait("the child's cleanup after the parent died", func() bool { _, err := os.Stat(done); return err == nil })
			wait("tend to exit", func() bool { return unix.Kill(tendPID, 0) != nil })
		})
	}
}

// TestParentDeathSignalPID1: as PID 1 of a namespace, tend's parent is
// unshare, whose --kill-child asks the kernel to SIGKILL tend when unshare
// dies. tini's -p SIGTERM replaces that with SIGTERM, so the child's cleanup
// still runs; without -p the SIGKILL cuts it (the control case).
func TestParentDeathSignalPID1(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		cleanup bool
	}{
		{"-p SIGTERM", []string{"-p", "SIGTERM"}, true},
		{"no -p", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			done := dir + "/cleanup"
			args := append(append([]string(nil), tt.args...), "--", testprog, "trapterm", "--file", done, "--delay", "200ms", "--ready", dir+"/ready")
			r := as("tini").Start(t, dir, harness.Opts{}, args...)
			r.WaitFile(dir + "/ready")
			tendPID := r.TendPID
			if err := r.Cmd.Process.Kill(); err != nil { // unshare
				t.Fatal(err)
			}
			<-r.Done()
			r.Poll("tend to be gone", func() bool { return unix.Kill(tendPID, 0) != nil })
			if _, err := os.Stat(done); (err == nil) != tt.cleanup {
				t.Errorf("cleanup done: %v, want %v\n%s", err == nil, tt.cleanup, r.Diag())
			}
		})
	}
}

// TestInheritedSignals: tini hands its child the signal mask and ignored
// signals it was given; tend does the same as far as the Go runtime lets it
// know them; dumb-init starts its child with none blocked and none ignored.
func TestInheritedSignals(t *testing.T) {
	const (
		block  = "USR1,ALRM,40"           // signals the runtime leaves blocked
		ignore = "HUP,INT,TSTP,TTOU,CONT" // signals the runtime leaves ignored
	)
	bit := func(sigs ...int) uint64 {
		var m uint64
		for _, s := range sigs {
			m |= 1 << (s - 1)
		}
		return m
	}
	wantBlk := bit(10, 14, 40)
	wantIgn := bit(1, 2, 18, 20, 22)
	for _, m := range modes {
		for _, tt := range []struct {
			init             string
			args             []string
			blocked, ignored bool
		}{
			{"tini", []string{"--"}, true, true},
			{"tend", []string{"--"}, true, true},
			{"dumb-init", nil, false, false},
		} {
			t.Run(m.name+"/"+tt.init, func(t *testing.T) {
				dir := t.TempDir()
				e := as(tt.init)
				wrap := []string{testprog, "sigexec", "--block", block, "--ignore", ignore, "--"}
				args := append(append([]string(nil), tt.args...), "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status")
				var r *harness.Run
				if m.direct {
					// Run sigexec as "the init", which execs the real one.
					d := *e
					d.Tend = testprog
					r = d.Start(t, dir, harness.Opts{Direct: true}, append(append(wrap[1:], e.Tend), args...)...)
				} else {
					r = e.Start(t, dir, harness.Opts{Wrap: wrap}, args...)
				}
				r.ExpectExit(0)
				blk, ign := statusMasks(t, r.Stdout())
				if got := blk&wantBlk == wantBlk; got != tt.blocked {
					t.Errorf("SigBlk %016x: has %s blocked: %v, want %v", blk, block, got, tt.blocked)
				}
				if !tt.blocked && blk != 0 {
					t.Errorf("SigBlk %016x, want nothing blocked", blk)
				}
				if got := ign&wantIgn == wantIgn; got != tt.ignored {
					t.Errorf("SigIgn %016x: has %s ignored: %v, want %v", ign, ignore, got, tt.ignored)
				}
				if !tt.ignored && ign&0x7fffffff != 0 {
					t.Errorf("SigIgn %016x, want none of 1-31 ignored", ign)
				}
			})
		}
	}
}

func statusMasks(t *testing.T, out string) (blk, ign uint64) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		switch k {
		case "SigBlk":
			blk = n
		case "SigIgn":
			ign = n
		}
	}
	return blk, ign
}

// TestJobControl: Ctrl-Z in an interactive shell stops a dumb-init job as
// a whole, and fg resumes it. tend is the job (the terminal's foreground
// group); it gets SIGTSTP, stops the child (in a session of its own: with
// SIGSTOP, dumb-init's default rewrite; in single-child mode the child is in
// tend's group and got the SIGTSTP too, and tend forwards it) and then
// stops itself, so the shell sees the job stop and takes the terminal back.
// fg's SIGCONT resumes tend, which passes it on. Not as PID 1: the kernel
// does not let a namespace's init stop itself.
func TestJobControl(t *testing.T) {
	for _, tt := range []struct {
		name     string
		args     []string
		child    []string
		wantOut  []string // what the child (sigprint) reports
		wantCode int
	}{
		{"setsid", nil, []string{"sigprint", "--cont"}, []string{"got SIGCONT", "got SIGTERM"}, 0},
		{"single-child", []string{"-c"}, []string{"sleep", "1h"}, nil, 143},
	} {
		t.Run(tt.name, func(t *testing.T) {
			master, pts := harness.OpenPTY(t)
			screen := harness.DrainPTY(master)
			dir := t.TempDir()
			out, ready := dir+"/out", dir+"/ready"
			sh := *env
			sh.Tend = "/bin/sh"
			r := sh.Start(t, dir, harness.Opts{Direct: true, TTY: pts}, "-i")
			pts.Close()
			fg := func() int { pg, _ := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPGRP); return pg }
			r.Poll("the shell to own the terminal", func() bool { return fg() == r.TendPID })
			child := append(append([]string{testprog}, tt.child...), "--out", out, "--ready", ready)
			if tt.child[0] == "sleep" {
				child = append([]string{testprog}, tt.child...)
			}
			cmdline := filepath.Join(links, "dumb-init") + " " + strings.Join(append(tt.args, child...), " ")
			if tt.child[0] == "sleep" {
				cmdline = "touch " + ready + "; " + cmdline
			}
			if _, err := master.Write([]byte(cmdline + "\n")); err != nil {
				t.Fatal(err)
			}
			r.WaitFile(ready)
			var tendPID, childPID int
			r.Poll("dumb-init and its child", func() bool {
				for _, k := range harness.TaskChildren(r.TendPID) {
					if p, err := procfs.Read("/proc", k); err == nil && p.Comm == "dumb-init" {
						tendPID = k
					}
				}
				if tendPID != 0 {
					if kids := harness.TaskChildren(tendPID); len(kids) == 1 {
						childPID = kids[0]
					}
				}
				return childPID != 0 && fg() == tendPID
			})
			state := func(pid int) byte { p, _ := procfs.Read("/proc", pid); return p.State }
			if _, err := master.Write([]byte{0x1a}); err != nil { // ^Z
				t.Fatal(err)
			}
			r.Poll("tend and its child to stop, and the shell to take the terminal back", func() bool {
				return state(tendPID) == 'T' && state(childPID) == 'T' && fg() == r.TendPID
			})
			if _, err := master.Write([]byte("fg\n")); err != nil {
				t.Fatal(err)
			}
			r.Poll("tend and its child to run again after fg", func() bool {
				return state(tendPID) != 'T' && state(childPID) != 'T' && fg() == tendPID
			})
			if len(tt.wantOut) > 0 {
				r.WaitLines(out, len(tt.wantOut)-1)
			}
			if err := unix.Kill(tendPID, unix.SIGTERM); err != nil {
				t.Fatal(err)
			}
			r.Poll("dumb-init to exit", func() bool { return fg() == r.TendPID })
			if _, err := master.Write([]byte("exit $?\n")); err != nil {
				t.Fatal(err)
			}
			r.ExpectExit(tt.wantCode)
			got := harness.ReadLines(out)
			if len(got) > len(tt.wantOut) && slices.Contains(got, "got SIGTERM") {
				// tend follows every stop signal with a SIGCONT (so that a
				// stopped process can act on it); it may be printed before
				// or after the SIGTERM. Only the one after fg is asserted.
				if i := slices.Index(got[1:], "got SIGCONT"); i >= 0 {
					got = slices.Delete(slices.Clone(got), i+1, i+2)
				}
			}
			if !reflect.DeepEqual(got, tt.wantOut) {
				t.Errorf("the child got %q, want %q", harness.ReadLines(out), tt.wantOut)
			}
			t.Logf("terminal: %q", screen())
		})
	}
}

// TestTerminalOwner: when tend leads the terminal's session (docker run
// -it), dumb-init's child gets the terminal: it is the foreground process
// group, so Ctrl-C reaches it directly.
func TestTerminalOwner(t *testing.T) {
	master, pts := harness.OpenPTY(t)
	harness.DrainPTY(master)
	dir := t.TempDir()
	out, ready := dir+"/out", dir+"/ready"
	r := as("dumb-init").Start(t, dir, harness.Opts{Direct: true, TTY: pts}, testprog, "sigprint", "--out", out, "--ready", ready)
	pts.Close()
	child := r.WaitPID(ready)
	r.Poll("the child to be the terminal's foreground group", func() bool {
		pg, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPGRP)
		return err == nil && pg == child
	})
	if _, err := master.Write([]byte{0x03}); err != nil { // ^C
		t.Fatal(err)
	}
	r.WaitLines(out, 1)
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	if got, want := harness.ReadLines(out), []string{"got SIGINT", "got SIGTERM"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the child got %q, want %q", got, want)
	}
}

// TestTerminalHandOver: dumb-init leading its terminal's session (docker
// run -it) lets go of the terminal (TIOCNOTTY) and its child takes it in a
// session of its own: the child leads the terminal's session. The kernel
// answers the detach with SIGHUP and SIGCONT to the terminal's foreground
// group; dumb-init drops exactly the first of each, so the child gets no
// hang-up, and the user's own SIGHUP and SIGCONT sent afterwards reach it.
// Also when the init is then SIGKILLed, the child, leading its own
// session, gets nothing (it is left running: killed by the test).
func TestTerminalHandOver(t *testing.T) {
	master, pts := harness.OpenPTY(t)
	harness.DrainPTY(master)
	dir := t.TempDir()
	out, ready := dir+"/out", dir+"/ready"
	r := as("dumb-init").Start(t, dir, harness.Opts{Direct: true, TTY: pts}, testprog, "sigprint", "--cont", "--stay", "--out", out, "--ready", ready)
	pts.Close()
	child := r.WaitPID(ready)
	killed := false
	t.Cleanup(func() { // on failure; a success kills it below
		if !killed {
			unix.Kill(child, unix.SIGKILL)
		}
	})
	p, err := procfs.Read("/proc", child)
	if err != nil {
		t.Fatal(err)
	}
	if p.SID != child {
		t.Errorf("the child's session is %d, want its own (%d)", p.SID, child)
	}
	if sid, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGSID); err != nil || sid != child {
		t.Errorf("the terminal's session is %d (%v), want the child's (%d)", sid, err, child)
	}
	want := []string{"got SIGHUP", "got SIGCONT", "got SIGQUIT"}
	for i, sig := range []unix.Signal{unix.SIGHUP, unix.SIGCONT, unix.SIGQUIT} {
		r.Signal(sig)
		r.WaitLines(out, i+1)
	}
	r.Signal(unix.SIGKILL)
	r.Wait()
	// The child must still be there, having got nothing more: give a
	// hang-up time to arrive (it would have come with the init's exit).
	time.Sleep(200 * time.Millisecond)
	if got := harness.ReadLines(out); !reflect.DeepEqual(got, want) {
		t.Errorf("the child got %q, want exactly %q (no hang-up of the hand-over, none at the init's death)", got, want)
	}
	if err := unix.Kill(child, 0); err != nil {
		t.Errorf("the child is gone after the init was SIGKILLed: %v", err)
	}
	unix.Kill(child, unix.SIGKILL)
	killed = true
}

// TestSingleChildGrace: in single-child mode only the child is tend's to
// stop: one that ignores SIGTERM is SIGKILLed at tend's grace (TEND_GRACE),
// and a process it left in the background is not touched.
func TestSingleChildGrace(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			script := fmt.Sprintf(`%[1]s sigprint --out %[2]s/bg.out --ready %[2]s/bg.ready &
exec %[1]s ignoreterm --ready %[2]s/main.ready`, testprog, dir)
			r := as("dumb-init").Start(t, dir, harness.Opts{Direct: m.direct, Env: []string{"TEND_GRACE=1s"}}, "-c", "sh", "-c", script)
			r.WaitFile(dir + "/main.ready")
			bg := r.WaitPID(dir + "/bg.ready")
			r.Signal(unix.SIGTERM)
			took := r.WaitExit(15 * time.Second)
			r.ExpectCode(137)
			if took < 900*time.Millisecond {
				t.Errorf("tend exited %v after SIGTERM, before its 1s grace", took)
			}
			if got := harness.ReadLines(dir + "/bg.out"); len(got) != 0 {
				t.Errorf("the background process got %q, want nothing", got)
			}
			if !strings.Contains(r.Stderr(), "killed 1 process(es)") {
				t.Errorf("stderr does not report the one kill:\n%s", r.Stderr())
			}
			if m.direct {
				if unix.Kill(bg, 0) != nil {
					t.Errorf("the background process %d is gone, want it left alone", bg)
				} else {
					unix.Kill(bg, unix.SIGKILL)
				}
			}
		})
	}
}

// hostPID is the host pid of tend's one descendant named comm (the ready
// file holds the pid in tend's namespace, which the host cannot signal).
func hostPID(r *harness.Run, comm string) int {
	r.T.Helper()
	pid := 0
	r.Poll("tend's descendant "+comm, func() bool {
		for _, p := range r.Descendants() {
			if p.Comm == comm && p.State != 'Z' {
				pid = p.PID
				return true
			}
		}
		return false
	})
	return pid
}

// TestExactSignals: a running program gets exactly the signals sent to the
// init, in order: SIGTERM, SIGQUIT, SIGINT, SIGTERM, and no SIGCONT after
// the stop signals (tend sends one only to a stopped target:
// TestStoppedGetsCont). As dumb-init, tini and tend; the program keeps
// running through them all (sigprint --stay) and is then SIGKILLed. With
// SIGTERM rewritten to SIGQUIT (dumb-init -r 15:3, tend --rewrite) it gets
// the rewritten forms, and no SIGCONT after them either.
func TestExactSignals(t *testing.T) {
	sent := []unix.Signal{unix.SIGTERM, unix.SIGQUIT, unix.SIGINT, unix.SIGTERM}
	plain := []string{"got SIGTERM", "got SIGQUIT", "got SIGINT", "got SIGTERM"}
	rewritten := []string{"got SIGQUIT", "got SIGQUIT", "got SIGINT", "got SIGQUIT"}
	for _, m := range modes {
		for _, tt := range []struct {
			init string
			args []string
			want []string
		}{
			{"dumb-init", nil, plain},
			{"dumb-init", []string{"-c"}, plain},
			{"dumb-init", []string{"-r", "15:3"}, rewritten},
			{"dumb-init", []string{"-c", "-r", "15:3"}, rewritten},
			{"tini", []string{"--"}, plain},
			{"tini", []string{"-g", "--"}, plain},
			{"tend", []string{"--"}, plain},
			{"tend", []string{"--rewrite", "TERM:QUIT", "--"}, rewritten},
		} {
			want := tt.want
			t.Run(m.name+"/"+tt.init+" "+strings.Join(tt.args, " "), func(t *testing.T) {
				dir := t.TempDir()
				out := dir + "/out"
				args := append(append([]string(nil), tt.args...), testprog, "sigprint", "--cont", "--stay", "--out", out, "--ready", dir+"/ready")
				r := as(tt.init).Start(t, dir, harness.Opts{Direct: m.direct, Env: []string{"TEND_GRACE=60s"}}, args...)
				r.WaitFile(dir + "/ready")
				child := hostPID(r, "testprog")
				for i, sig := range sent {
					r.Signal(sig)
					r.WaitLines(out, i+1) // one at a time: the order is the point
				}
				unix.Kill(child, unix.SIGKILL)
				r.ExpectExit(137)
				if got := harness.ReadLines(out); !reflect.DeepEqual(got, want) {
					t.Errorf("the program got %q, want exactly %q\n%s", got, want, r.Diag())
				}
			})
		}
	}
}

// TestStoppedGetsCont: a program stopped (SIGSTOP) when the stop signal
// arrives gets SIGCONT after it, so that it can act on it and exit within
// the grace instead of being SIGKILLed at its end. Where tend deliberately
// differs: dumb-init and tini send no SIGCONT, and the program stays
// stopped (TEND_COMPAT_PEERS=1 fails here).
func TestStoppedGetsCont(t *testing.T) {
	for _, m := range modes {
		for _, tt := range []struct {
			init string
			args []string
		}{
			{"dumb-init", nil},
			{"dumb-init", []string{"-c"}},
			{"tini", []string{"--"}},
			{"tend", []string{"--"}},
		} {
			t.Run(m.name+"/"+tt.init+" "+strings.Join(tt.args, " "), func(t *testing.T) {
				dir := t.TempDir()
				out := dir + "/out"
				args := append(append([]string(nil), tt.args...), testprog, "sigprint", "--out", out, "--ready", dir+"/ready")
				// The grace (60 s) is far beyond the bound (30 s, a hang
				// guard): an exit within it is the program's own.
				r := as(tt.init).Start(t, dir, harness.Opts{Direct: m.direct, Env: []string{"TEND_GRACE=60s"}, Timeout: 30 * time.Second}, args...)
				r.WaitFile(dir + "/ready")
				child := hostPID(r, "testprog")
				if err := unix.Kill(child, unix.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				r.Poll("the program to be stopped", func() bool {
					p, err := procfs.Read("/proc", child)
					return err == nil && p.State == 'T'
				})
				r.Signal(unix.SIGTERM)
				r.ExpectExit(0)
				if got := harness.ReadLines(out); !slices.Contains(got, "got SIGTERM") {
					t.Errorf("the program got %q, want SIGTERM among them", got)
				}
			})
		}
	}
}

// TestNotifySocketPassedThrough: tini and dumb-init pass NOTIFY_SOCKET to
// the program behind them, which says itself when it is ready; tend in
// their names does the same and sends nothing of its own (tend's own face
// says READY=1 itself and hides the socket: test/e2e TestNotifyUpward).
func TestNotifySocketPassedThrough(t *testing.T) {
	for _, init := range []string{"tini", "dumb-init"} {
		t.Run(init, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "manager.sock")
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
				t.Fatal(err)
			}
			seen := filepath.Join(dir, "seen")
			r := as(init).Start(t, dir, harness.Opts{Env: []string{"NOTIFY_SOCKET=" + sock}}, "--", "sh", "-c",
				`echo "[$NOTIFY_SOCKET]" > `+seen+`.tmp && mv `+seen+`.tmp `+seen+` && exec sleep 1000`)
			if got := strings.TrimSpace(r.WaitFile(seen)); got != "["+sock+"]" {
				t.Errorf("the child saw NOTIFY_SOCKET %s, want [%s] passed through", got, sock)
			}
			r.Signal(unix.SIGTERM)
			r.Wait()
			buf := make([]byte, 512)
			if n, _, err := unix.Recvfrom(fd, buf, 0); err == nil {
				t.Errorf("%s sent the manager %q: a stand-in sends nothing of its own", init, buf[:n])
			}
		})
	}
}
