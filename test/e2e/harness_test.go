// Package e2e runs the built, static tend binary as PID 1 of a fresh PID
// namespace (unshare --pid --fork --mount-proc --kill-child) and checks what a
// user sees: exit codes, cleanup files written before tend exited, timing.
//
// Requirements: root and a working unshare(1). Without them the tests are
// skipped loudly, or fail when CI=true.
//
// TEND_BIN=/path/to/binary runs the suite against another init (e.g.
// /usr/bin/tini) instead of building ./cmd/tend; tests that use tend-only
// flags are expected to fail then.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/procfs"
)

var (
	tendBin     string // path of the init under test
	testprog    string // path of the static test program
	buildErr    error  // set when tend failed to build: every e2e test fails
	skipReason  string // set when root/unshare are missing (and CI != true)
	pollEvery   = 5 * time.Millisecond
	defaultWait = 15 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if reason := environmentProblem(); reason != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: tend e2e tests cannot run: %s (CI=true)\n", reason)
			return 1
		}
		skipReason = reason
		fmt.Fprintf(os.Stderr, "\n"+
			"############################################################\n"+
			"## SKIPPING tend e2e tests: %s\n"+
			"## (run as root with util-linux unshare; CI=true makes this fatal)\n"+
			"############################################################\n\n", reason)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "tend-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// --user tests run binaries as nobody: the directory must be searchable.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testprog = filepath.Join(dir, "testprog")
	if out, err := goBuild(root, testprog, "./test/testprog"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: building testprog: %v\n%s", err, out)
		return 1
	}
	if bin := os.Getenv("TEND_BIN"); bin != "" {
		tendBin = bin
		fmt.Fprintf(os.Stderr, "e2e: testing TEND_BIN=%s instead of ./cmd/tend\n", bin)
	} else {
		tendBin = filepath.Join(dir, "tend")
		if out, err := goBuild(root, tendBin, "./cmd/tend"); err != nil {
			buildErr = fmt.Errorf("building ./cmd/tend: %v\n%s", err, out)
			fmt.Fprintf(os.Stderr, "e2e: %v\n", buildErr)
		}
	}
	return m.Run()
}

func goBuild(root, out, pkg string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}

func environmentProblem() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return "unshare(1) not found"
	}
	if out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--", "true").CombinedOutput(); err != nil {
		return fmt.Sprintf("unshare --pid --fork --mount-proc does not work: %v: %s", err, bytes.TrimSpace(out))
	}
	return ""
}

// needEnv is called first by every e2e test.
func needEnv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip("SKIPPED: " + skipReason)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// opts says how to start tend.
type opts struct {
	direct  bool          // run tend directly (subreaper mode, not PID 1)
	env     []string      // extra environment (TEND_* from the outer env is dropped)
	tty     *os.File      // if set: stdin/stdout/stderr, new session, controlling tty
	timeout time.Duration // hard deadline for the whole test (default 15s)
	binds   [][2]string   // namespace mode only: bind-mount src over dst before exec'ing tend
}

// run is one started tend.
type run struct {
	t        *testing.T
	dir      string // per-test scratch directory
	cmd      *exec.Cmd
	outPath  string
	errPath  string
	started  time.Time
	deadline time.Time
	tendPID  int // host pid of tend
	direct   bool

	done     chan struct{}
	ended    time.Time // valid after done is closed
	code     int       // exit code (128+N when killed by signal N)
	signaled bool

	mu    sync.Mutex
	extra []int // host pids (daemons) to kill on cleanup if still around
}

// start runs `[unshare ...] tend args...` and returns once tend's host pid
// is known. Cleanup kills everything it started, by pid.
func start(t *testing.T, o opts, args ...string) *run {
	t.Helper()
	return startIn(t, t.TempDir(), o, args...)
}

func startIn(t *testing.T, dir string, o opts, args ...string) *run {
	t.Helper()
	needEnv(t)
	if o.timeout == 0 {
		o.timeout = defaultWait
	}
	r := &run{t: t, dir: dir, direct: o.direct, done: make(chan struct{})}
	r.outPath = filepath.Join(dir, "tend.stdout")
	r.errPath = filepath.Join(dir, "tend.stderr")
	var argv []string
	if o.direct {
		argv = append([]string{tendBin}, args...)
	} else {
		argv = []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"}
		if len(o.binds) > 0 {
			// unshare makes mounts private: the binds stay in the namespace.
			script := ""
			for _, b := range o.binds {
				script += fmt.Sprintf("mount --bind %s %s && ", q(b[0]), q(b[1]))
			}
			argv = append(argv, "sh", "-c", script+`exec "$@"`, "sh")
		}
		argv = append(append(argv, tendBin), args...)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = &exec.Cmd{Path: path, Args: argv, Env: cleanEnv(o.env)}
	if o.tty != nil {
		r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = o.tty, o.tty, o.tty
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		// Plain files (not pipes): Wait never blocks on a leftover holding a pipe.
		stdout, err := os.Create(r.outPath)
		if err != nil {
			t.Fatal(err)
		}
		defer stdout.Close()
		stderr, err := os.Create(r.errPath)
		if err != nil {
			t.Fatal(err)
		}
		defer stderr.Close()
		r.cmd.Stdout, r.cmd.Stderr = stdout, stderr
		// Own process group so that nothing we send by group hits the test.
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	r.started = time.Now()
	r.deadline = r.started.Add(o.timeout)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	go func() {
		r.cmd.Wait()
		r.ended = time.Now()
		ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Exited():
			r.code = ws.ExitStatus()
		case ws.Signaled():
			r.code, r.signaled = 128+int(ws.Signal()), true
		default:
			r.code = -1
		}
		close(r.done)
	}()
	t.Cleanup(r.cleanup)
	if o.direct {
		r.tendPID = r.cmd.Process.Pid
	} else {
		upid := r.cmd.Process.Pid
		r.poll("tend to be started by unshare", func() bool {
			kids := taskChildren(upid)
			if len(kids) > 0 {
				r.tendPID = kids[0]
				return true
			}
			return r.exited()
		})
		if r.tendPID == 0 {
			// tend exited at once (e.g. a usage error): fine for exit-code
			// tests; signal() fails the test if it is needed.
			t.Logf("tend exited (code %d) before its pid was seen", r.code)
		}
	}
	return r
}

// cleanEnv is os.Environ() without TEND_* plus extra.
func cleanEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEND_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// taskChildren lists the children of every thread of pid.
func taskChildren(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func (r *run) cleanup() {
	if !r.exited() {
		r.t.Logf("cleanup: tend still running, killing it\n%s", r.diag())
		if r.direct {
			procs, _ := procfs.List("/proc")
			kids := procfs.Descendants(procs, r.tendPID)
			unix.Kill(r.tendPID, unix.SIGKILL)
			for _, k := range kids {
				unix.Kill(k, unix.SIGKILL)
			}
		} else {
			// --kill-child: tend gets SIGKILL, the namespace goes down with it.
			unix.Kill(r.cmd.Process.Pid, unix.SIGKILL)
		}
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			r.t.Errorf("cleanup: pid %d did not die after SIGKILL", r.cmd.Process.Pid)
		}
	}
	r.mu.Lock()
	extra := r.extra
	r.mu.Unlock()
	for _, pid := range extra {
		if p, err := procfs.Read("/proc", pid); err == nil && p.Comm == "testprog" {
			r.t.Errorf("cleanup: leftover testprog pid %d still alive after tend exited; killing it", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// killOnCleanup registers a host pid (e.g. a daemon) to be killed at cleanup.
func (r *run) killOnCleanup(pid int) {
	r.mu.Lock()
	r.extra = append(r.extra, pid)
	r.mu.Unlock()
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// poll calls cond every few ms until it is true; at the deadline the test
// fails with diagnostics.
func (r *run) poll(what string, cond func() bool) {
	r.t.Helper()
	for {
		if cond() {
			return
		}
		if time.Now().After(r.deadline) {
			r.t.Fatalf("timed out after %v waiting for %s\n%s", time.Since(r.started).Round(time.Millisecond), what, r.diag())
		}
		time.Sleep(pollEvery)
	}
}

// waitFile waits for path to exist and returns its content. It fails early
// if tend exits first (the file can then never appear).
func (r *run) waitFile(path string) string {
	r.t.Helper()
	var content []byte
	exitedAt := time.Time{}
	r.poll("file "+filepath.Base(path), func() bool {
		b, err := os.ReadFile(path)
		if err == nil {
			content = b
			return true
		}
		if r.exited() {
			if exitedAt.IsZero() {
				exitedAt = time.Now()
			} else if time.Since(exitedAt) > 200*time.Millisecond {
				r.t.Fatalf("tend exited (code %d) while waiting for %s\n%s", r.code, filepath.Base(path), r.diag())
			}
		}
		return false
	})
	return string(content)
}

// waitPID waits for a ready/pid file and returns the pid in it.
func (r *run) waitPID(path string) int {
	r.t.Helper()
	s := strings.TrimSpace(r.waitFile(path))
	pid, err := strconv.Atoi(s)
	if err != nil {
		r.t.Fatalf("%s: not a pid: %q", path, s)
	}
	return pid
}

// waitLines waits until file path has at least n lines and returns them.
func (r *run) waitLines(path string, n int) []string {
	r.t.Helper()
	var lines []string
	r.poll(fmt.Sprintf("%d line(s) in %s", n, filepath.Base(path)), func() bool {
		lines = readLines(path)
		return len(lines) >= n
	})
	return lines
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// signal sends sig to tend's host pid.
func (r *run) signal(sig unix.Signal) {
	r.t.Helper()
	if r.tendPID == 0 {
		r.t.Fatalf("cannot send %v: tend's pid is unknown (it exited at once?)\n%s", sig, r.diag())
	}
	if err := unix.Kill(r.tendPID, sig); err != nil {
		r.t.Fatalf("kill(%d, %v): %v", r.tendPID, sig, err)
	}
}

// wait waits for tend to exit and returns its exit code.
func (r *run) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(time.Until(r.deadline)):
		r.t.Fatalf("tend did not exit within %v\n%s", time.Since(r.started).Round(time.Millisecond), r.diag())
		return -1
	}
}

// expectExit waits and checks the exit code.
func (r *run) expectExit(want int) {
	r.t.Helper()
	if got := r.wait(); got != want || r.signaled {
		how := "exited with"
		if r.signaled {
			how = "was killed by signal, status"
		}
		r.t.Errorf("tend %s %d, want exit code %d\n%s", how, got, want, r.diag())
	}
}

// aliveFor fails if tend exits within d.
func (r *run) aliveFor(d time.Duration, why string) {
	r.t.Helper()
	select {
	case <-r.done:
		r.t.Fatalf("tend exited (code %d) %v later, but it should still be running: %s\n%s",
			r.code, time.Since(r.started).Round(time.Millisecond), why, r.diag())
	case <-time.After(d):
	}
}

func (r *run) stdout() string { b, _ := os.ReadFile(r.outPath); return string(b) }
func (r *run) stderr() string { b, _ := os.ReadFile(r.errPath); return string(b) }

// descendants of tend on the host (its main, shells, adopted daemons...).
func (r *run) descendants() []procfs.Proc {
	procs, _ := procfs.List("/proc")
	want := map[int]bool{}
	for _, pid := range procfs.Descendants(procs, r.tendPID) {
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

// diag describes the run for failure messages.
func (r *run) diag() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- command: %q\n", r.cmd.Args)
	if r.exited() {
		fmt.Fprintf(&b, "--- tend exited with %d after %v\n", r.code, r.ended.Sub(r.started).Round(time.Millisecond))
	} else if r.tendPID != 0 {
		fmt.Fprintf(&b, "--- tend (host pid %d) still running; its descendants (pid ppid pgrp sid state comm):\n", r.tendPID)
		for _, p := range r.descendants() {
			fmt.Fprintf(&b, "    %d %d %d %d %c %s\n", p.PID, p.PPID, p.PGRP, p.SID, p.State, p.Comm)
		}
	}
	fmt.Fprintf(&b, "--- stdout:\n%s--- stderr:\n%s--- files in %s:", r.stdout(), r.stderr(), r.dir)
	ents, _ := os.ReadDir(r.dir)
	for _, e := range ents {
		if n := e.Name(); n != "tend.stdout" && n != "tend.stderr" {
			b.WriteString(" " + n)
		}
	}
	return b.String()
}

// mtime of path; fails if it is missing.
func (r *run) mtime(path string) time.Time {
	r.t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		r.t.Fatalf("%v\n%s", err, r.diag())
	}
	return st.ModTime()
}

// doneBeforeExit checks that a cleanup file exists, was written before tend
// exited, and that tend exited promptly (no fixed sleeps) after it.
func (r *run) doneBeforeExit(path, wantFirstLine string, prompt time.Duration) string {
	r.t.Helper()
	if !r.exited() {
		r.t.Fatal("doneBeforeExit called before tend exited")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatalf("cleanup file missing after tend exited: %v\n%s", err, r.diag())
	}
	content := string(b)
	if first, _, _ := strings.Cut(content, "\n"); first != wantFirstLine {
		r.t.Errorf("%s: first line %q, want %q", filepath.Base(path), first, wantFirstLine)
	}
	mt := r.mtime(path)
	// mtime uses the coarse clock (a few ms behind): allow a little slack.
	if mt.After(r.ended.Add(20 * time.Millisecond)) {
		r.t.Errorf("%s written %v AFTER tend exited", filepath.Base(path), mt.Sub(r.ended))
	}
	if lag := r.ended.Sub(mt); lag > prompt {
		r.t.Errorf("tend exited %v after the last cleanup finished (want < %v: no fixed sleeps)", lag.Round(time.Millisecond), prompt)
	}
	return content
}

// q single-quotes s for sh.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
