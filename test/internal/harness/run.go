package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/procfs"
)

// Opts says how to start tend.
type Opts struct {
	// Direct runs tend directly (subreaper mode, not PID 1 of a namespace).
	Direct bool
	// Env is extra environment (TEND_* from the outer environment is dropped).
	Env []string
	// TTY, if set, is tend's stdin, stdout and stderr; tend gets a new
	// session with it as controlling terminal.
	TTY *os.File
	// Timeout is the hard deadline for the whole run (default Config.Timeout).
	Timeout time.Duration
	// Dir is tend's working directory (default: the test's).
	Dir string
	// Stdout is tend's stdout instead of DIR/tend.stdout.
	Stdout *os.File

	// Namespace mode only: what runs inside the namespace before tend.

	// Binds are bind mounts (src, dst) made before tend is exec'd.
	Binds [][2]string
	// Pre is a sh script run before tend is exec'd (after Binds).
	Pre string
	// Wrap is an argv prepended to tend's (e.g. a credential-changing
	// wrapper that execs the rest).
	Wrap []string
	// BeforeTend runs right after unshare was started, before Start waits
	// for tend (e.g. to open a gate the Pre script waits for).
	BeforeTend func()
}

// Run is one started tend.
type Run struct {
	T        *testing.T
	Dir      string // the test's scratch directory: tend.stdout, tend.stderr
	Cmd      *exec.Cmd
	OutPath  string // tend's stdout (unless Opts.Stdout or Opts.TTY)
	ErrPath  string // tend's stderr (unless Opts.TTY)
	Started  time.Time
	Deadline time.Time // Started + timeout: Poll and Wait fail after it
	TendPID  int       // host pid of tend (0 if it exited before it was seen)
	Direct   bool

	// Valid once Done is closed (Exited is true).
	Ended    time.Time
	Code     int // exit code (128+N when killed by signal N)
	Signaled bool

	env  *Env
	done chan struct{}

	mu    sync.Mutex
	extra []int // host pids (daemons) to kill on cleanup if still around
}

// Start runs `[unshare --pid --fork --mount-proc --kill-child -- [sh -c
// binds+pre] [wrap...]] tend args...` with its output in dir and returns
// once tend's host pid is known. Cleanup kills everything it started, by
// pid.
func (e *Env) Start(t *testing.T, dir string, o Opts, args ...string) *Run {
	t.Helper()
	e.Need(t)
	if o.Timeout == 0 {
		o.Timeout = e.Timeout
	}
	r := &Run{T: t, Dir: dir, Direct: o.Direct, env: e, done: make(chan struct{})}
	r.OutPath = filepath.Join(dir, "tend.stdout")
	r.ErrPath = filepath.Join(dir, "tend.stderr")
	var argv []string
	if o.Direct {
		if len(o.Binds) > 0 || o.Pre != "" || len(o.Wrap) > 0 {
			t.Fatal("harness: Binds, Pre and Wrap need namespace mode, not Direct")
		}
		argv = append([]string{e.Tend}, args...)
	} else {
		argv = []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"}
		if len(o.Binds) > 0 || o.Pre != "" {
			// unshare makes mounts private: the binds stay in the namespace.
			script := ""
			for _, b := range o.Binds {
				script += fmt.Sprintf("mount --bind %s %s && ", Q(b[0]), Q(b[1]))
			}
			if o.Pre != "" {
				script += o.Pre + "\n"
			}
			argv = append(argv, "sh", "-c", script+`exec "$@"`, "sh")
		}
		argv = append(argv, o.Wrap...)
		argv = append(append(argv, e.Tend), args...)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	r.Cmd = &exec.Cmd{Path: path, Args: argv, Env: CleanEnv(o.Env), Dir: o.Dir}
	if o.TTY != nil {
		r.Cmd.Stdin, r.Cmd.Stdout, r.Cmd.Stderr = o.TTY, o.TTY, o.TTY
		r.Cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		// Plain files (not pipes): Wait never blocks on a leftover holding a pipe.
		stdout := o.Stdout
		if stdout == nil {
			f, err := os.Create(r.OutPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			stdout = f
		}
		stderr, err := os.Create(r.ErrPath)
		if err != nil {
			t.Fatal(err)
		}
		defer stderr.Close()
		r.Cmd.Stdout, r.Cmd.Stderr = stdout, stderr
		// Own process group so that nothing we send by group hits the test.
		r.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	r.Started = time.Now()
	r.Deadline = r.Started.Add(o.Timeout)
	if err := r.Cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	go func() {
		r.Cmd.Wait()
		ended := time.Now()
		ws := r.Cmd.ProcessState.Sys().(syscall.WaitStatus)
		code, signaled := -1, false
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code, signaled = 128+int(ws.Signal()), true
		}
		r.Ended, r.Code, r.Signaled = ended, code, signaled
		close(r.done)
	}()
	t.Cleanup(r.cleanup)
	if o.BeforeTend != nil {
		o.BeforeTend()
	}
	if o.Direct {
		r.TendPID = r.Cmd.Process.Pid
		return r
	}
	upid := r.Cmd.Process.Pid
	r.Poll("tend to be started by unshare", func() bool {
		for _, k := range TaskChildren(upid) {
			if !e.RequireTend {
				r.TendPID = k
				return true
			}
			// With a pre script or a wrapper, the namespace's first process
			// is sh or a wrapper, which execs tend: wait until it is tend.
			if p, err := procfs.Read("/proc", k); err == nil && p.Comm == "tend" {
				r.TendPID = k
				return true
			}
		}
		return r.Exited()
	})
	if r.TendPID == 0 {
		if e.RequireTend {
			t.Fatalf("tend exited (code %d) before its pid was seen\n%s", r.Code, r.Diag())
		}
		// tend exited at once (e.g. a usage error): fine for exit-code
		// tests; Signal fails the test if it is needed.
		t.Logf("tend exited (code %d) before its pid was seen", r.Code)
	}
	return r
}

func (r *Run) cleanup() {
	if !r.Exited() {
		if r.Direct {
			r.T.Logf("cleanup: tend still running, killing it\n%s", r.Diag())
			// Its descendants first, round after round while tend (the
			// subreaper) is alive to adopt what they fork meanwhile (a fork
			// loop would otherwise leave children behind, re-parented to
			// the host's init once tend is gone); then tend.
			for range 100 {
				procs, _ := procfs.List("/proc")
				live := 0
				for _, k := range procfs.Descendants(procs, r.TendPID) {
					if p, err := procfs.Read("/proc", k); err == nil && p.State != 'Z' {
						unix.Kill(k, unix.SIGKILL)
						live++
					}
				}
				if live == 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			unix.Kill(r.TendPID, unix.SIGKILL)
		} else {
			r.T.Logf("cleanup: tend still running, killing its namespace\n%s", r.Diag())
			// tend first (PID 1: the namespace goes down with it; --kill-child
			// alone is not enough when tend's credentials changed, which clears
			// the parent-death signal), through a pidfd taken while it still is
			// unshare's child, so a recycled pid is never hit.
			if r.TendPID != 0 {
				if fd, err := unix.PidfdOpen(r.TendPID, 0); err == nil {
					if slices.Contains(TaskChildren(r.Cmd.Process.Pid), r.TendPID) {
						unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
					}
					unix.Close(fd)
				}
			}
			unix.Kill(r.Cmd.Process.Pid, unix.SIGKILL)
		}
		select {
		case <-r.done:
		case <-time.After(r.env.KillWait):
			state := ProcState(r.Cmd.Process.Pid)
			if r.TendPID != 0 && r.TendPID != r.Cmd.Process.Pid {
				state += "    tend:\n" + ProcState(r.TendPID)
			}
			r.T.Errorf("cleanup: pid %d did not die within %v of SIGKILL\n%s", r.Cmd.Process.Pid, r.env.KillWait, state)
		}
	}
	r.mu.Lock()
	extra := r.extra
	r.mu.Unlock()
	for _, pid := range extra {
		if p, err := procfs.Read("/proc", pid); err == nil && p.Comm == "testprog" {
			if killedAlready(pid, r.env.KillWait) {
				// tend SIGKILLed it and gave up waiting (its killWait) before
				// the kernel ran its exit: at a load average of ~290 a
				// killed process outlived tend's 3 s. Killed, not leaked.
				r.T.Logf("cleanup: testprog pid %d, SIGKILLed, was still dying after tend exited", pid)
				continue
			}
			r.T.Errorf("cleanup: leftover testprog pid %d still alive after tend exited; killing it\n%s", pid, ProcState(pid))
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// killedAlready waits up to d for pid, a process tend should have killed,
// to be gone, and reports whether it is gone, a zombie, or dying with a
// SIGKILL pending.
func killedAlready(pid int, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(PollEvery) {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return true
		}
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "State:") && (strings.Contains(l, "zombie") || strings.Contains(l, "dead")) {
				return true
			}
		}
		if time.Now().After(end) {
			return sigkillPending(string(st))
		}
	}
}

// sigkillPending reports whether a /proc/PID/status text shows SIGKILL
// pending (SigPnd or ShdPnd, bit 8).
func sigkillPending(status string) bool {
	for _, l := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&(1<<(unix.SIGKILL-1)) != 0 {
			return true
		}
	}
	return false
}

// KillOnCleanup registers a host pid (e.g. a daemon) to be killed at
// cleanup if it is still a testprog then (it fails the test).
func (r *Run) KillOnCleanup(pid int) {
	r.mu.Lock()
	r.extra = append(r.extra, pid)
	r.mu.Unlock()
}

// Done is closed once tend has exited and Ended, Code and Signaled are set.
func (r *Run) Done() <-chan struct{} { return r.done }

// Exited reports whether tend has exited.
func (r *Run) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Poll calls cond every few ms until it is true; at the deadline the test
// fails with diagnostics.
func (r *Run) Poll(what string, cond func() bool) {
	r.T.Helper()
	for !cond() {
		if time.Now().After(r.Deadline) {
			r.T.Fatalf("timed out after %v waiting for %s\n%s", time.Since(r.Started).Round(time.Millisecond), what, r.Diag())
		}
		time.Sleep(PollEvery)
	}
}

// WaitFile waits for path to exist and returns its content. It fails early
// if tend exits first (the file can then never appear).
func (r *Run) WaitFile(path string) string {
	r.T.Helper()
	var content []byte
	var exitedAt time.Time
	r.Poll("file "+filepath.Base(path), func() bool {
		if b, err := os.ReadFile(path); err == nil {
			content = b
			return true
		}
		if r.Exited() {
			if exitedAt.IsZero() {
				exitedAt = time.Now()
			} else if time.Since(exitedAt) > 200*time.Millisecond {
				r.T.Fatalf("tend exited (code %d) while waiting for %s\n%s", r.Code, filepath.Base(path), r.Diag())
			}
		}
		return false
	})
	return string(content)
}

// WaitPID waits for a ready/pid file and returns the pid in it.
func (r *Run) WaitPID(path string) int {
	r.T.Helper()
	s := strings.TrimSpace(r.WaitFile(path))
	pid, err := strconv.Atoi(s)
	if err != nil {
		r.T.Fatalf("%s: not a pid: %q", path, s)
	}
	return pid
}

// WaitLines waits until file path has at least n lines and returns them.
func (r *Run) WaitLines(path string, n int) []string {
	r.T.Helper()
	var lines []string
	r.Poll(fmt.Sprintf("%d line(s) in %s", n, filepath.Base(path)), func() bool {
		lines = ReadLines(path)
		return len(lines) >= n
	})
	return lines
}

// Signal sends sig to tend's host pid.
func (r *Run) Signal(sig unix.Signal) {
	r.T.Helper()
	if r.TendPID == 0 {
		r.T.Fatalf("cannot send %v: tend's pid is unknown (it exited at once?)\n%s", sig, r.Diag())
	}
	if err := unix.Kill(r.TendPID, sig); err != nil {
		r.T.Fatalf("kill(%d, %v): %v\n%s", r.TendPID, sig, err, r.Diag())
	}
}

// Wait waits until the run's deadline for tend to exit and returns its exit
// code; it fails the test fatally on timeout.
func (r *Run) Wait() int {
	r.T.Helper()
	select {
	case <-r.done:
		return r.Code
	case <-time.After(time.Until(r.Deadline)):
		r.T.Fatalf("tend did not exit within %v\n%s", time.Since(r.Started).Round(time.Millisecond), r.Diag())
		return -1
	}
}

// WaitExit waits at most within for tend to exit and returns the time from
// now to its exit; it fails the test fatally on timeout.
func (r *Run) WaitExit(within time.Duration) time.Duration {
	r.T.Helper()
	t0 := time.Now()
	select {
	case <-r.done:
		return r.Ended.Sub(t0)
	case <-time.After(within):
		r.T.Fatalf("tend did not exit within %v\n%s", within, r.Diag())
		return 0
	}
}

// ExpectExit waits (Wait) and checks the exit code.
func (r *Run) ExpectExit(want int) {
	r.T.Helper()
	r.Wait()
	r.checkCode(want)
}

// ExpectCode checks tend's exit code once it has exited (it waits without
// a deadline: call it after WaitExit).
func (r *Run) ExpectCode(want int) {
	r.T.Helper()
	<-r.done
	r.checkCode(want)
}

func (r *Run) checkCode(want int) {
	r.T.Helper()
	if r.Code != want || r.Signaled {
		how := "exited with"
		if r.Signaled {
			how = "was killed by a signal, status"
		}
		r.T.Errorf("tend %s %d, want exit code %d\n%s", how, r.Code, want, r.Diag())
	}
}

// Alive fails the test when tend has exited.
func (r *Run) Alive(why string) {
	r.T.Helper()
	if r.Exited() {
		r.T.Fatalf("tend exited (code %d) but should still run: %s\n%s", r.Code, why, r.Diag())
	}
}

// AliveFor fails the test if tend exits within d.
func (r *Run) AliveFor(d time.Duration, why string) {
	r.T.Helper()
	select {
	case <-r.done:
		r.T.Fatalf("tend exited (code %d) %v later, but it should still be running: %s\n%s",
			r.Code, time.Since(r.Started).Round(time.Millisecond), why, r.Diag())
	case <-time.After(d):
	}
}

// Stdout is what tend wrote to OutPath so far.
func (r *Run) Stdout() string { b, _ := os.ReadFile(r.OutPath); return string(b) }

// Stderr is what tend wrote to ErrPath so far.
func (r *Run) Stderr() string { b, _ := os.ReadFile(r.ErrPath); return string(b) }

// Descendants of tend on the host (its main, shells, adopted daemons...).
func (r *Run) Descendants() []procfs.Proc {
	procs, _ := procfs.List("/proc")
	want := map[int]bool{}
	for _, pid := range procfs.Descendants(procs, r.TendPID) {
		want[pid] = true
	}
	var out []procfs.Proc
	for _, p := range procs {
		if want[p.PID] {
			out = append(out, p)
		}
	}
	return out
}

// Diag describes the run for failure messages: the command line, how tend
// exited or else its remaining descendants, its stdout and stderr (tails,
// as Config says) and the files in Dir.
func (r *Run) Diag() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- command: %q\n", r.Cmd.Args)
	if r.Exited() {
		fmt.Fprintf(&b, "--- tend exited with %d (signaled=%v) after %v\n", r.Code, r.Signaled, r.Ended.Sub(r.Started).Round(time.Millisecond))
	} else if r.TendPID != 0 {
		fmt.Fprintf(&b, "--- tend (host pid %d) still running\n", r.TendPID)
		b.WriteString(ProcState(r.TendPID))
		b.WriteString("--- its descendants (pid ppid pgrp sid state comm):\n")
		ds := r.Descendants()
		for i, p := range ds {
			if n := r.env.DiagProcs; n > 0 && i == n {
				fmt.Fprintf(&b, "    ... %d more\n", len(ds)-n)
				break
			}
			fmt.Fprintf(&b, "    %d %d %d %d %c %s\n", p.PID, p.PPID, p.PGRP, p.SID, p.State, p.Comm)
		}
	}
	diagOutput(&b, "stdout", r.Stdout(), r.env.DiagStdoutTail)
	diagOutput(&b, "stderr", r.Stderr(), r.env.DiagStderrTail)
	fmt.Fprintf(&b, "--- files in %s:", r.Dir)
	ents, _ := os.ReadDir(r.Dir)
	for _, e := range ents {
		if n := e.Name(); n != "tend.stdout" && n != "tend.stderr" {
			b.WriteString(" " + n)
		}
	}
	return b.String()
}

// diagOutput writes "--- name:" and s, or its last n bytes if n > 0.
func diagOutput(b *strings.Builder, name, s string, n int) {
	if n > 0 {
		name += " (tail)"
		s = Tail(s, n)
	}
	fmt.Fprintf(b, "--- %s:\n%s", name, s)
	if s != "" && !strings.HasSuffix(s, "\n") {
		b.WriteString("\n")
	}
}

// ProcState is what the kernel says of pid, for a "did not exit in time"
// failure: its /proc/PID/stat line, where it sleeps (wchan), its signal
// masks and thread count, so that the failure explains itself.
func ProcState(pid int) string {
	var b strings.Builder
	dir := fmt.Sprintf("/proc/%d/", pid)
	if stat, err := os.ReadFile(dir + "stat"); err == nil {
		fmt.Fprintf(&b, "    /proc/%d/stat: %s", pid, stat)
	} else {
		fmt.Fprintf(&b, "    /proc/%d/stat: %v\n", pid, err)
		return b.String()
	}
	if w, err := os.ReadFile(dir + "wchan"); err == nil {
		fmt.Fprintf(&b, "    wchan: %s\n", w)
	}
	if st, err := os.ReadFile(dir + "status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			for _, k := range []string{"State:", "Threads:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:"} {
				if strings.HasPrefix(l, k) {
					b.WriteString("    " + l + "\n")
				}
			}
		}
	}
	return b.String()
}

// StateOnCancel makes cmd, made by exec.CommandContext and not yet
// started, record what the kernel says of its process (ProcState) just
// before the context's end kills it; the returned func gives that record
// ("" when it was not killed), for the "did not finish in time" failure.
func StateOnCancel(cmd *exec.Cmd) func() string {
	var mu sync.Mutex
	var state string
	cmd.Cancel = func() error {
		s := ProcState(cmd.Process.Pid)
		mu.Lock()
		state = s
		mu.Unlock()
		return cmd.Process.Kill()
	}
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return state
	}
}
