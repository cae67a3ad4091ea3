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
// them the tests are skipped loudly, or fail when CI=true. The machinery
// (building, starting, polling, diagnostics, cleanup) is in
// test/internal/harness, shared with test/e2e.
package hardening

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

var (
	soakFlag = flag.Bool("soak", false, "run the long (soak) variants; also TEND_SOAK=1")

	env      *harness.Env
	tendBin  string // path of the init under test
	testprog string // path of the static test program
)

func TestMain(m *testing.M) {
	flag.Parse()
	if soak() {
		fmt.Fprintln(os.Stderr, "hardening: soak variants (long durations)")
	}
	os.Exit(harness.Main(m, harness.Config{
		Name: "hardening",
		// A run's hard deadline only bounds a hang (see the tests for the
		// bounds that guard a promise).
		Timeout:        60 * time.Second,
		KillWait:       10 * time.Second,
		RequireTend:    true,
		DiagProcs:      40,
		DiagStdoutTail: 3000,
		DiagStderrTail: 6000,
	}, func(e *harness.Env) {
		env, tendBin, testprog = e, e.Tend, e.Testprog
	}))
}

func soak() bool { return *soakFlag || os.Getenv("TEND_SOAK") == "1" }

// pick returns short, or long under -soak.
func pick[T any](short, long T) T {
	if soak() {
		return long
	}
	return short
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

// opts says how to start tend: Env, Timeout (default 60s), Stdout, and
// inside the namespace before tend: Pre (sh script), Wrap (argv prepended
// to tend's), BeforeTend (runs right after unshare was started).
type opts = harness.Opts

// run is one started tend, PID 1 of a fresh PID (and mount) namespace, with
// the hardening-only helpers below.
type run struct{ *harness.Run }

// start runs `unshare --pid --fork --mount-proc --kill-child -- [sh -c pre]
// [wrap...] tend args...` in dir and returns once tend itself runs (past the
// pre script and the wrapper) and its host pid is known. Cleanup SIGKILLs
// tend and unshare (and so the whole namespace) if tend is still up.
func start(t *testing.T, dir string, o opts, args ...string) *run {
	t.Helper()
	o.Dir = dir
	return &run{env.Start(t, dir, o, args...)}
}

// noPanic fails when tend's stderr shows a Go panic, a runtime fatal error or
// an internal error.
func (r *run) noPanic() {
	r.T.Helper()
	for _, line := range strings.Split(r.Stderr(), "\n") {
		if servicePrefixed.MatchString(line) {
			continue // a service's own output, relayed (its crash is not tend's)
		}
		for _, bad := range []string{"panic:", "fatal error:", "internal error", "goroutine ", "runtime: "} {
			if strings.Contains(line, bad) {
				r.T.Errorf("tend's stderr contains %q\n%s", bad, r.Diag())
				return
			}
		}
	}
}

// servicePrefixed matches a service's relayed output line, "name | ..." or
// a continuation "name + ...".
var servicePrefixed = regexp.MustCompile(`^[A-Za-z0-9_.-]+ *[|+] `)

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

// Shared with test/e2e.
var (
	tomlArgv    = harness.TOMLArgv
	writeConfig = harness.WriteConfig
	cleanEnv    = harness.CleanEnv
	q           = harness.Q
	tail        = harness.Tail
)

func tprog(args ...string) []string { return env.Tprog(args...) }

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
