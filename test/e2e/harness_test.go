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
//
// The machinery (building, starting, polling, diagnostics, cleanup) is in
// test/internal/harness, shared with test/hardening.
package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

var (
	env      *harness.Env
	tendBin  string // path of the init under test
	testprog string // path of the static test program
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Config{
		Name:       "e2e",
		TendBinEnv: true,
		// A run's hard deadline only bounds a hang: the runs take a few
		// seconds, longer at a load average of ~100.
		Timeout:  30 * time.Second,
		KillWait: 5 * time.Second,
	}, func(e *harness.Env) {
		env, tendBin, testprog = e, e.Tend, e.Testprog
	}))
}

// skipHere skips t for something this machine lacks (what: the tests'
// subject, e.g. "e2e OOM"), and writes why to the skip report
// (TEND_SKIP_REPORT) once per what and why: go test hides a passing
// package's skips, so without the report a suite that never runs here
// would not show.
func skipHere(t *testing.T, what, why string) {
	t.Helper()
	skipMu.Lock()
	if !skipped[what+"\x00"+why] {
		skipped[what+"\x00"+why] = true
		harness.ReportSkip(what, why)
	}
	skipMu.Unlock()
	t.Skip("SKIPPED: " + why)
}

var (
	skipMu  sync.Mutex
	skipped = map[string]bool{}
)

// needEnv is called first by every e2e test that does not start tend.
func needEnv(t *testing.T) {
	t.Helper()
	env.Need(t)
}

// opts says how to start tend: Direct (subreaper mode), Env, TTY, Timeout
// (default 30s), Binds (namespace mode only).
type opts = harness.Opts

// run is one started tend, with the e2e-only helpers below.
type run struct{ *harness.Run }

// start runs `[unshare ...] tend args...` in a fresh t.TempDir() and returns
// once tend's host pid is known. Cleanup kills everything it started, by pid.
func start(t *testing.T, o opts, args ...string) *run {
	t.Helper()
	return startIn(t, t.TempDir(), o, args...)
}

func startIn(t *testing.T, dir string, o opts, args ...string) *run {
	t.Helper()
	return &run{env.Start(t, dir, o, args...)}
}

var (
	readLines    = harness.ReadLines
	taskChildren = harness.TaskChildren
	cleanEnv     = harness.CleanEnv
	q            = harness.Q
)

// mtime of path; fails if it is missing.
func (r *run) mtime(path string) time.Time {
	r.T.Helper()
	st, err := os.Stat(path)
	if err != nil {
		r.T.Fatalf("%v\n%s", err, r.Diag())
	}
	return st.ModTime()
}

// promptExit bounds how long after the last cleanup finished tend may
// exit: good is milliseconds, bad is the grace (a tend waiting it out: 10 s
// at least in these tests, the default). Half the shortest grace leaves
// room for a loaded machine on both sides (at a load average of ~100 the
// scheduler alone made it 533 ms once; the exit as the test sees it came
// 3.5 s after tend acted once at ~70).
const promptExit = 5 * time.Second

// doneBeforeExit checks that a cleanup file exists, was written before tend
// exited, and that tend exited promptly (promptExit) after it.
func (r *run) doneBeforeExit(path, wantFirstLine string) string {
	r.T.Helper()
	if !r.Exited() {
		r.T.Fatal("doneBeforeExit called before tend exited")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.T.Fatalf("cleanup file missing after tend exited: %v\n%s", err, r.Diag())
	}
	content := string(b)
	if first, _, _ := strings.Cut(content, "\n"); first != wantFirstLine {
		r.T.Errorf("%s: first line %q, want %q", filepath.Base(path), first, wantFirstLine)
	}
	mt := r.mtime(path)
	// mtime uses the coarse clock (a few ms behind): allow a little slack.
	if mt.After(r.Ended.Add(20 * time.Millisecond)) {
		r.T.Errorf("%s written %v AFTER tend exited", filepath.Base(path), mt.Sub(r.Ended))
	}
	if lag := r.Ended.Sub(mt); lag > promptExit {
		r.T.Errorf("tend exited %v after the last cleanup finished (want < %v: it must not wait out the grace)\n%s", lag.Round(time.Millisecond), promptExit, r.Diag())
	}
	return content
}
