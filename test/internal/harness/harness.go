// Package harness is the machinery shared by the suites that run the built,
// static tend binary (test/e2e, test/hardening): building tend and testprog
// once per test binary, checking the environment (root and a working
// unshare(1): skipped loudly without them, fatal when CI=true), starting
// tend as PID 1 of a fresh PID namespace (or directly, as a subreaper), and
// a Run with the polling, waiting, signalling and diagnostic helpers the
// tests use. Every process a Run starts is cleaned up by pid, never by name.
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PollEvery is how often Run.Poll re-checks its condition.
const PollEvery = 5 * time.Millisecond

// Config is what differs between the suites that use the harness.
type Config struct {
	// Name of the suite ("e2e"): in the skip banner, the CI failure,
	// the binaries' temporary directory and log lines.
	Name string
	// TendBinEnv makes TEND_BIN=/path/to/binary run the suite against
	// another init (e.g. /usr/bin/tini) instead of building ./cmd/tend.
	TendBinEnv bool
	// Timeout is the hard deadline of a Run when Opts.Timeout is zero.
	Timeout time.Duration
	// KillWait is how long cleanup waits for a SIGKILLed tend to be reaped
	// before it fails the test.
	KillWait time.Duration
	// RequireTend makes Start wait until the namespace's first process is
	// tend itself (comm "tend": past any Opts.Pre script or Opts.Wrap
	// wrapper, which exec it) and fail the test when tend exits before
	// that. Without it Start returns as soon as unshare's child exists, and
	// only logs when tend exited before its pid was seen (fine for
	// exit-code tests; Signal fails then).
	RequireTend bool
	// DiagProcs caps the descendants Run.Diag lists (0: all of them).
	DiagProcs int
	// DiagStdoutTail and DiagStderrTail cap how many bytes of tend's output
	// Run.Diag shows, from the end (0: all of it).
	DiagStdoutTail, DiagStderrTail int
}

// Env is the environment of a suite, set up once by Main.
type Env struct {
	Config
	Tend     string // path of the init under test
	Testprog string // path of the static test program
	BinDir   string // where both were built (0755); empty under TEND_BIN/skip

	// SkipReason is set when root/unshare are missing (and CI != true):
	// every test is skipped with it.
	SkipReason string
	// BuildErr is set when tend failed to build: every test fails with it.
	BuildErr error
}

// BinRootEnv names the variable that puts Main's build directory under a
// given directory instead of $TMPDIR (only the binaries: the tests' own
// temporary directories, which hold sockets with a 108-byte path limit,
// stay where they were).
const BinRootEnv = "TEND_HARNESS_BIN_ROOT"

// Main is the body of a suite's TestMain: it checks the environment,
// builds testprog and tend into a fresh 0755 directory (removed afterwards),
// hands the Env to use, runs the tests and returns the exit code for
// os.Exit. An unusable environment skips every test loudly, or fails the
// suite when CI=true; a testprog that does not build fails the suite; a tend
// that does not build fails every test (Env.Need).
func Main(m *testing.M, c Config, use func(*Env)) int {
	env := &Env{Config: c}
	if reason := environmentProblem(); reason != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: tend %s tests cannot run: %s (CI=true)\n", c.Name, reason)
			return 1
		}
		env.SkipReason = reason
		ReportSkip(c.Name, reason)
		fmt.Fprintf(os.Stderr, "\n"+
			"############################################################\n"+
			"## SKIPPING tend %s tests: %s\n"+
			"## (run as root with util-linux unshare; CI=true makes this fatal)\n"+
			"############################################################\n\n", c.Name, reason)
		use(env)
		return m.Run()
	}
	// BinRootEnv: a suite that runs its own binary again (test/compat's
	// run against the peers) gives the child a directory of its own to
	// build in and removes it itself, whatever becomes of the child.
	dir, err := os.MkdirTemp(os.Getenv(BinRootEnv), "tend-"+c.Name+"-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Non-root tends and services (--user, user = ...) run these binaries:
	// the directory must be searchable.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.BinDir = dir
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.Testprog = filepath.Join(dir, "testprog")
	if out, err := goBuild(root, env.Testprog, "./test/testprog"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: building testprog: %v\n%s", err, out)
		return 1
	}
	if bin := os.Getenv("TEND_BIN"); c.TendBinEnv && bin != "" {
		env.Tend = bin
		fmt.Fprintf(os.Stderr, "%s: testing TEND_BIN=%s instead of ./cmd/tend\n", c.Name, bin)
	} else {
		env.Tend = filepath.Join(dir, "tend")
		if out, err := goBuild(root, env.Tend, "./cmd/tend"); err != nil {
			env.BuildErr = fmt.Errorf("building ./cmd/tend: %v\n%s", err, out)
			fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, env.BuildErr)
		}
	}
	use(env)
	return m.Run()
}

// moduleRoot is the directory of the go.mod above the working directory
// (a test binary runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: no go.mod above the working directory")
		}
		dir = parent
	}
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

// Need skips the test when the environment cannot run tend, and fails it
// when tend did not build. Start calls it; tests that do not start tend
// call it first.
func (e *Env) Need(t *testing.T) {
	t.Helper()
	if e.SkipReason != "" {
		t.Skip("SKIPPED: " + e.SkipReason)
	}
	if e.BuildErr != nil {
		t.Fatal(e.BuildErr)
	}
}

// Tprog is the argv of a testprog subcommand.
func (e *Env) Tprog(args ...string) []string { return append([]string{e.Testprog}, args...) }

// ReportSkip records that a whole suite is skipped. `go test ./...` hides
// the output of a package that passes, so a banner alone is invisible: when
// TEND_SKIP_REPORT names a file (make unit sets it), one line per skipped
// suite is appended to it and make prints them after the run.
func ReportSkip(suite, reason string) {
	path := os.Getenv("TEND_SKIP_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "TEND_SKIP_REPORT: %v\n", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "SKIPPED: tend %s tests: %s\n", suite, reason)
}
