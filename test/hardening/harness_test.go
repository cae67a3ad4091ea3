// Package hardening runs the built, static tend binary under hostile
// conditions — signal and fork storms, crash loops, log floods into a
// blocked stdout, hostile control-socket clients, exhausted resources — and
// checks that tend (PID 1) keeps working and still shuts down in an orderly
// way. It measures what it can (RSS, CPU time, zombie counts, latencies) and
// logs the numbers with t.Logf.
//
// The short variants run by default and keep the package well under 90 s
// on a 2-core machine. "go test ./test/hardening -args -soak" (or
// TEND_SOAK=1) runs the long variants: 5 s storms and more of everything.
//
// Requirements: root and a working unshare(1), as for test/e2e; without
// them the tests are skipped loudly, or fail when CI=true.
package hardening

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

var (
	soakFlag = flag.Bool("soak", false, "run the long (soak) variants; also TEND_SOAK=1")

	tendBin    string // path of the init under test
	testprog   string // path of the static test program
	binDir     string // where both live (0755)
	buildErr   error
	skipReason string
	pollEvery  = 5 * time.Millisecond
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func soak() bool { return *soakFlag || os.Getenv("TEND_SOAK") == "1" }

// pick returns short, or long under -soak.
func pick[T any](short, long T) T {
	if soak() {
		return long
	}
	return short
}

func testMain(m *testing.M) int {
	if reason := environmentProblem(); reason != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: tend hardening tests cannot run: %s (CI=true)\n", reason)
			return 1
		}
		skipReason = reason
		fmt.Fprintf(os.Stderr, "\n"+
			"############################################################\n"+
			"## SKIPPING tend hardening tests: %s\n"+
			"## (run as root with util-linux unshare; CI=true makes this fatal)\n"+
			"############################################################\n\n", reason)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "tend-hardening-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Non-root tends and services run these binaries: searchable directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = dir
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
	tendBin = filepath.Join(dir, "tend")
	if out, err := goBuild(root, tendBin, "./cmd/tend"); err != nil {
		buildErr = fmt.Errorf("building ./cmd/tend: %v\n%s", err, out)
		fmt.Fprintf(os.Stderr, "hardening: %v\n", buildErr)
	}
	if soak() {
		fmt.Fprintln(os.Stderr, "hardening: soak variants (long durations)")
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

func needEnv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip("SKIPPED: " + skipReason)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// scratch returns a fresh 0755 directory (non-root tends must be able to
// reach it) removed at the end of the test.
func scratch(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tend-hardening-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// opts says how to start tend.
type opts struct {
	env     []string      // extra environment (TEND_* from the outer env is dropped)
	timeout time.Duration // hard deadline for the whole test (default 30s)
	stdout  *os.File      // tend's stdout instead of dir/tend.stdout
	pre     string        // sh script run inside the namespace before tend (mounts...)
	wrap    []string      // argv prepended to tend's (inside the namespace), e.g. execas
	// beforeTend runs right after unshare was started, before start waits
	// for tend (e.g. to open a gate the pre script waits for).
	beforeTend func()
}

// run is one started tend, PID 1 of a fresh PID (and mount) namespace.
type run struct {
	t        *testing.T
	dir      string
	cmd      *exec.Cmd
	outPath  string
	errPath  string
	started  time.Time
	deadline time.Time
	tendPID  int // host pid of tend

	done     chan struct{}
	ended    time.Time // valid after done is closed
	code     int
	signaled bool
}

// start runs `unshare --pid --fork --mount-proc --kill-child -- [sh -c pre]
// [wrap...] tend args...` in dir and returns once tend's host pid is known.
// Cleanup SIGKILLs unshare (and so the whole namespace) if tend is still up.
func start(t *testing.T, dir string, o opts, args ...string) *run {
	t.Helper()
	needEnv(t)
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	r := &run{t: t, dir: dir, done: make(chan struct{})}
	r.outPath = filepath.Join(dir, "tend.stdout")
	r.errPath = filepath.Join(dir, "tend.stderr")
	argv := []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"}
	if o.pre != "" {
		argv = append(argv, "sh", "-c", o.pre+"\n"+`exec "$@"`, "sh")
	}
	argv = append(argv, o.wrap...)
	argv = append(append(argv, tendBin), args...)
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = &exec.Cmd{Path: path, Args: argv, Env: cleanEnv(o.env), Dir: dir}
	stdout := o.stdout
	if stdout == nil {
		f, err := os.Create(r.outPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stdout = f
	}
	stderr, err := os.Create(r.errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	r.cmd.Stdout, r.cmd.Stderr = stdout, stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.started = time.Now()
	r.deadline = r.started.Add(o.timeout)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	go func() {
		r.cmd.Wait()
		ended := time.Now()
		ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus)
		code, signaled := -1, false
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code, signaled = 128+int(ws.Signal()), true
		}
		r.ended, r.code, r.signaled = ended, code, signaled
		close(r.done)
	}()
	t.Cleanup(r.cleanup)
	if o.beforeTend != nil {
		o.beforeTend()
	}
	upid := r.cmd.Process.Pid
	// With a pre script or a wrapper, the namespace's first process is sh or
	// testprog, which execs tend: wait until the child's comm is "tend".
	r.poll("tend to be started by unshare", func() bool {
		for _, k := range taskChildren(upid) {
			if p, err := procfs.Read("/proc", k); err == nil && p.Comm == "tend" {
				r.tendPID = k
				return true
			}
		}
		return r.exited()
	})
	if r.tendPID == 0 {
		t.Fatalf("tend exited (code %d) before its pid was seen\n%s", r.code, r.diag())
	}
	return r
}

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
		r.t.Logf("cleanup: tend still running, killing its namespace\n%s", r.diag())
		// tend first (PID 1: the namespace goes down with it; --kill-child
		// alone is not enough when tend's credentials changed, which clears
		// the parent-death signal), through a pidfd taken while it still is
		// unshare's child, so a recycled pid is never hit.
		if fd, err := unix.PidfdOpen(r.tendPID, 0); err == nil {
			if slices.Contains(taskChildren(r.cmd.Process.Pid), r.tendPID) {
				unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			}
			unix.Close(fd)
		}
		unix.Kill(r.cmd.Process.Pid, unix.SIGKILL)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			r.t.Errorf("cleanup: pid %d did not die after SIGKILL", r.cmd.Process.Pid)
		}
	}
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
	for !cond() {
		if time.Now().After(r.deadline) {
			r.t.Fatalf("timed out after %v waiting for %s\n%s", time.Since(r.started).Round(time.Millisecond), what, r.diag())
		}
		time.Sleep(pollEvery)
	}
}

// waitFile waits for path to exist and returns its content; it fails early
// when tend exits first.
func (r *run) waitFile(path string) string {
	r.t.Helper()
	var content []byte
	var exitedAt time.Time
	r.poll("file "+filepath.Base(path), func() bool {
		if b, err := os.ReadFile(path); err == nil {
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

func (r *run) signal(sig unix.Signal) {
	r.t.Helper()
	if err := unix.Kill(r.tendPID, sig); err != nil {
		r.t.Fatalf("kill(%d, %v): %v\n%s", r.tendPID, sig, err, r.diag())
	}
}

// waitExit waits at most within for tend to exit and returns the time from
// now to its exit; it fails the test fatally on timeout.
func (r *run) waitExit(within time.Duration) time.Duration {
	r.t.Helper()
	t0 := time.Now()
	select {
	case <-r.done:
		return r.ended.Sub(t0)
	case <-time.After(within):
		r.t.Fatalf("tend did not exit within %v\n%s", within, r.diag())
		return 0
	}
}

// expectCode checks tend's exit code once it has exited.
func (r *run) expectCode(want int) {
	r.t.Helper()
	<-r.done
	if r.code != want || r.signaled {
		how := "exited with"
		if r.signaled {
			how = "was killed by a signal, status"
		}
		r.t.Errorf("tend %s %d, want exit code %d\n%s", how, r.code, want, r.diag())
	}
}

// alive fails the test when tend has exited.
func (r *run) alive(why string) {
	r.t.Helper()
	if r.exited() {
		r.t.Fatalf("tend exited (code %d) but should still run: %s\n%s", r.code, why, r.diag())
	}
}

func (r *run) stdout() string { b, _ := os.ReadFile(r.outPath); return string(b) }
func (r *run) stderr() string { b, _ := os.ReadFile(r.errPath); return string(b) }

// noPanic fails when tend's stderr shows a Go panic, a runtime fatal error or
// an internal error.
func (r *run) noPanic() {
	r.t.Helper()
	for _, line := range strings.Split(r.stderr(), "\n") {
		if servicePrefixed.MatchString(line) {
			continue // a service's own output, relayed (its crash is not tend's)
		}
		for _, bad := range []string{"panic:", "fatal error:", "internal error", "goroutine ", "runtime: "} {
			if strings.Contains(line, bad) {
				r.t.Errorf("tend's stderr contains %q\n%s", bad, r.diag())
				return
			}
		}
	}
}

// servicePrefixed matches a service's relayed output line, "name | ..." or
// a continuation "name + ...".
var servicePrefixed = regexp.MustCompile(`^[A-Za-z0-9_.-]+ *[|+] `)

// descendants of tend on the host.
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

// diag describes the run for failure messages (output truncated).
func (r *run) diag() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- command: %q\n", r.cmd.Args)
	if r.exited() {
		fmt.Fprintf(&b, "--- tend exited with %d (signaled=%v) after %v\n", r.code, r.signaled, r.ended.Sub(r.started).Round(time.Millisecond))
	} else if r.tendPID != 0 {
		fmt.Fprintf(&b, "--- tend (host pid %d) still running; descendants (pid ppid state comm):\n", r.tendPID)
		ds := r.descendants()
		for i, p := range ds {
			if i == 40 {
				fmt.Fprintf(&b, "    ... %d more\n", len(ds)-40)
				break
			}
			fmt.Fprintf(&b, "    %d %d %c %s\n", p.PID, p.PPID, p.State, p.Comm)
		}
	}
	fmt.Fprintf(&b, "--- stdout (tail):\n%s\n--- stderr (tail):\n%s", tail(r.stdout(), 3000), tail(r.stderr(), 6000))
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[... %d bytes cut ...]", len(s)-n) + s[len(s)-n:]
}

// --- /proc measurements -----------------------------------------------------

// rssKiB is VmRSS of pid in KiB.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	return statusField(t, pid, "VmRSS")
}

// statusField reads a numeric field ("VmRSS", "Threads") of /proc/pid/status.
func statusField(t *testing.T, pid int, name string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading status of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.Atoi(f[0])
				if err == nil {
					return n
				}
			}
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}

var clkTck = 100.0 // USER_HZ: 100 on every Linux architecture Go supports

// cpuTime is utime+stime of pid (its own, not its children's).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	u, s, _, _, err := statTimes(pid)
	if err != nil {
		t.Fatalf("reading stat of %d: %v", pid, err)
	}
	return u + s
}

// statTimes returns utime, stime, cutime, cstime of pid.
func statTimes(pid int) (u, s, cu, cs time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return
	}
	str := string(b)
	i := strings.LastIndexByte(str, ')')
	f := strings.Fields(str[i+1:])
	// f[0] is field 3 (state); utime is field 14, so f[11].
	if len(f) < 15 {
		err = fmt.Errorf("short stat %q", str)
		return
	}
	conv := func(s string) time.Duration {
		n, _ := strconv.ParseFloat(s, 64)
		return time.Duration(n / clkTck * float64(time.Second))
	}
	return conv(f[11]), conv(f[12]), conv(f[13]), conv(f[14]), nil
}

// fdCount is the number of open file descriptors of pid.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("reading fds of %d: %v", pid, err)
	}
	return len(ents)
}

// --- config helpers -----------------------------------------------------------

func tomlStr(s string) string { return strconv.Quote(s) }

func tomlArgv(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = tomlStr(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func tprog(args ...string) []string { return append([]string{testprog}, args...) }

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "tend.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// --- misc ---------------------------------------------------------------------

// stats is a tiny collector of durations or counts.
type stats struct {
	mu  sync.Mutex
	n   int
	max float64
	sum float64
}

func (s *stats) add(v float64) {
	s.mu.Lock()
	s.n++
	s.sum += v
	s.max = max(s.max, v)
	s.mu.Unlock()
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d mean=%.3g max=%.3g", s.n, s.sum/float64(s.n), s.max)
}

func statFile(path string) (os.FileInfo, error) { return os.Stat(path) }
