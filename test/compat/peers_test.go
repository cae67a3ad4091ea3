package compat

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

// knownDifferences are the scenarios where tend deliberately differs from
// the real tini 0.19 and dumb-init 1.2.5, each with its reason and where
// the README documents it. TestPeers requires each to fail against the
// peers (an entry that passes there is stale: the peer now behaves as tend,
// or the scenario no longer tells them apart) and every other scenario to
// pass. A pattern is matched against the full name of a scenario (a leaf
// test: Test/sub/...), anchored at both ends.
var knownDifferences = []struct {
	pattern string
	reason  string
	racy    bool // the peer may or may not show the difference (it races): either outcome is accepted
}{
	{`TestWhoGetsSignals/pid1/(tini_default:_the_child_alone|tini-static)`,
		"the shutdown sweep: when the child exits tend gives every process still alive one SIGTERM and waits for it within the grace; " +
			"tini exits at once and the kernel SIGKILLs the rest (README, compatibility table, \"both: the child exits\")", false},
	{`TestWhoGetsSignals/pid1/(tini_-g|TINI_KILL_PROCESS_GROUP|docker-init_-g|dumb-init:_the_group)`,
		"the shutdown sweep: tini -g and dumb-init forward the SIGTERM to the group but exit as soon as the child has, without waiting, " +
			"and as PID 1 its exit SIGKILLs the rest: the background process writes its \"got SIGTERM\" or not, as the race goes; " +
			"tend waits for it (README, compatibility table, \"both: the child exits\")", true},
	{`TestWhoGetsSignals/subreaper/(tini_default:_the_child_alone|tini_-g|TINI_KILL_PROCESS_GROUP|tini-static|docker-init_-g|dumb-init:_the_group)`,
		"the shutdown sweep as a subreaper: tend stops its descendants before it exits; tini (not even a subreaper without -s) " +
			"and dumb-init exit and leave them running (README, compatibility table, \"both: the child exits\" and tini -s)", false},
	{`TestReapWarnings/(pid1|subreaper)/-w=true`,
		"tini -w's warning is tini's text (\"Reaped zombie process with pid=N\"); tend's is its own words " +
			"(\"reaped a process that was not the main pid=N\"): README, \"Messages are tend's own words\", tini -w", false},
	{`TestSingleChildGrace/(pid1|subreaper)`,
		"TEND_GRACE: in single-child mode tend still SIGKILLs a child that ignores SIGTERM at its grace; " +
			"dumb-init has no grace and waits for ever (README, dumb-init -c row: \"at the grace only the child is SIGKILLed\")", false},
	{`TestStoppedGetsCont/(pid1|subreaper)/(dumb-init_|dumb-init_-c|tini_--)`,
		"SIGCONT after a stop signal to a stopped target, so it can act on it; tini and dumb-init send none and the " +
			"program stays stopped (README, signals: \"tini and dumb-init send no SIGCONT\")", false},
}

// peerRun is the suite run against the real peers, started in TestMain so
// that it runs beside the suite's own tests (both mostly wait), and read by
// TestPeers at the end.
var peerRun struct {
	skip string        // why the comparison cannot run here ("" when it runs)
	done chan struct{} // closed when the run is over
	out  bytes.Buffer
	err  error
	took time.Duration
}

// peerPaths are the real programs TEND_COMPAT_PEERS=1 links the faces to.
var peerPaths = []string{"/usr/bin/tini", "/usr/bin/tini-static", "/usr/bin/dumb-init"}

// startPeers starts this test binary again with TEND_COMPAT_PEERS=1 (every
// scenario but TestPeers, verbose), unless this is that run, TestPeers is
// not among the tests this run selects, the suite cannot run here, or a
// peer is not installed (scripts/test-deps installs them).
func startPeers(e *harness.Env) {
	peerRun.done = make(chan struct{})
	flag.Parse() // testing's -test.run and -test.skip (TestMain runs before m.Run parses them)
	switch {
	case os.Getenv("TEND_COMPAT_PEERS") == "1":
		peerRun.skip = "this is the run against the peers"
	case flagValue("test.list") != "":
		// go test -list (make fuzz asks every package for its fuzz
		// targets) runs no test: nobody would wait for the run either.
		peerRun.skip = "only listing tests"
	case !selects(flagValue("test.run"), flagValue("test.skip"), "TestPeers"):
		// Nobody would wait for it: this binary would exit while the run
		// goes on, and that run, writing to a pipe no one reads any more,
		// dies of SIGPIPE at its first line, leaving its build directory
		// (an 11 MB tend-compat-bin-* in $TMPDIR per `go test -run X`).
		peerRun.skip = "TestPeers is not selected"
	case e.SkipReason != "":
		peerRun.skip = e.SkipReason
	case e.BuildErr != nil:
		peerRun.skip = "tend did not build"
	}
	for _, p := range peerPaths {
		if _, err := os.Stat(p); err != nil && peerRun.skip == "" {
			peerRun.skip = fmt.Sprintf("%s is not installed (scripts/test-deps installs tini and dumb-init)", p)
		}
	}
	if peerRun.skip != "" {
		close(peerRun.done)
		return
	}
	go func() {
		defer close(peerRun.done)
		// A hang guard: the run is ~4 minutes of mostly waiting (the
		// expected differences wait out their scenarios' hang guards).
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.v", "-test.count=1", "-test.skip=^TestPeers$", "-test.timeout=11m")
		env, cleanup := peerEnv()
		defer cleanup()
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = &peerRun.out, &peerRun.out
		start := time.Now()
		peerRun.err = cmd.Run()
		peerRun.took = time.Since(start)
	}()
}

// peerEnv is the environment of a run against the peers, and what removes
// the directory that run builds its binaries in: this process removes it
// after the run, even one that was killed (a run that did not get to
// remove its own left an 11 MB tend-compat-bin-* in $TMPDIR per make test).
func peerEnv() ([]string, func()) {
	env := append(os.Environ(), "TEND_COMPAT_PEERS=1")
	root, err := os.MkdirTemp("", "tend-compat-peers-")
	if err == nil {
		// Non-root services run the binaries below it: searchable, as
		// the build directory itself is.
		err = os.Chmod(root, 0o755)
	}
	if err != nil {
		os.RemoveAll(root)
		return env, func() {}
	}
	return append(env, harness.BinRootEnv+"="+root), func() { os.RemoveAll(root) }
}

// flagValue is the value of a command-line flag of the test binary, or "".
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// selects reports whether go test's -run and -skip patterns select the
// top-level test called name: run is empty or its first /-separated
// element (the one top-level names are matched against) matches name; skip
// is empty, has more than one element (it then skips subtests only), or
// does not match name. A pattern that does not compile counts as matching
// (go test fails on it anyway).
func selects(run, skip, name string) bool {
	matches := func(pattern string) bool {
		top, _, _ := strings.Cut(pattern, "/")
		re, err := regexp.Compile(top)
		return err != nil || re.MatchString(name)
	}
	skipsTop := skip != "" && !strings.Contains(skip, "/") && matches(skip)
	return (run == "" || matches(run)) && !skipsTop
}

// outcomeLine is go test -v's verdict line of a test or subtest.
var outcomeLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(`)

// leafOutcomes maps each leaf test (one with no subtests) of a go test -v
// output to PASS, FAIL or SKIP.
func leafOutcomes(out []byte) map[string]string {
	all := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := outcomeLine.FindStringSubmatch(sc.Text()); m != nil {
			all[m[2]] = m[1]
		}
	}
	leaves := map[string]string{}
	for name, v := range all {
		parent := false
		for other := range all {
			if strings.HasPrefix(other, name+"/") {
				parent = true
				break
			}
		}
		if !parent {
			leaves[name] = v
		}
	}
	return leaves
}

// TestPeers: every scenario of this suite run against the real tini and
// dumb-init passes there too, except the known, documented differences
// (knownDifferences), which must fail there. It runs in make test wherever
// the peers are installed; without them it is skipped loudly (the skip
// report), and under CI=true it fails.
func TestPeers(t *testing.T) {
	if peerRun.skip != "" {
		if os.Getenv("TEND_COMPAT_PEERS") == "1" {
			t.Skip(peerRun.skip)
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("the comparison with the real tini and dumb-init cannot run (CI=true): %s", peerRun.skip)
		}
		harness.ReportSkip("compat peers", peerRun.skip)
		t.Skip("SKIPPED: " + peerRun.skip)
	}
	<-peerRun.done
	out := peerRun.out.Bytes()
	t.Logf("the run against the peers took %v (exit: %v)", peerRun.took.Round(time.Second), peerRun.err)
	leaves := leafOutcomes(out)
	if len(leaves) < 20 {
		t.Fatalf("the run against the peers reported %d scenarios; its output:\n%s", len(leaves), out)
	}
	expected := make([]*regexp.Regexp, len(knownDifferences))
	for i, d := range knownDifferences {
		expected[i] = regexp.MustCompile("^(" + d.pattern + ")$")
	}
	matched := make([]int, len(knownDifferences))
	var names []string
	for name := range leaves {
		names = append(names, name)
	}
	slices.Sort(names)
	bad := false
	for _, name := range names {
		got := leaves[name]
		known := -1
		for i, re := range expected {
			if re.MatchString(name) {
				known = i
				matched[i]++
				break
			}
		}
		switch {
		case known >= 0 && knownDifferences[known].racy:
			t.Logf("%s: %s against the peers (a racy known difference: either is accepted)", name, got)
		case known >= 0 && got != "FAIL" && !peersRace(t, name, "FAIL"):
			bad = true
			t.Errorf("%s: %s against the peers, but it is a known difference (%s): a stale entry in knownDifferences", name, got, knownDifferences[known].reason)
		case known < 0 && got == "FAIL" && !peersRace(t, name, "PASS"):
			bad = true
			t.Errorf("%s: the peers differ from tend here, and this is not a known, documented difference", name)
		case known < 0 && got == "SKIP":
			t.Logf("%s: skipped against the peers", name)
		}
	}
	for i, n := range matched {
		if n == 0 {
			bad = true
			t.Errorf("known difference %q matches no scenario of the run", knownDifferences[i].pattern)
		}
	}
	if bad {
		t.Logf("the run against the peers:\n%s", out)
	}
}

// peerRetries is how many more times a scenario whose outcome against the
// peers was a surprise is run against them alone.
const peerRetries = 2

// peersRace runs the scenario name against the peers again, alone, up to
// peerRetries times, and reports whether it ever gave want, the outcome
// the table expects: then the surprise was the peer racing with itself
// (seen: real dumb-init -c left stopped with its child running once in
// three, tini -g as a subreaper signalling in time once), not a change of
// behaviour, and it is logged rather than failed. A surprise every time
// is a real difference.
func peersRace(t *testing.T, name, want string) bool {
	t.Helper()
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	for try := 1; try <= peerRetries; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.v", "-test.count=1", "-test.run="+strings.Join(parts, "/"), "-test.timeout=150s")
		env, cleanup := peerEnv()
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		cancel()
		cleanup()
		got := leafOutcomes(out)[name]
		if got == want {
			t.Logf("%s: %s against the peers on retry %d: the peer races here (logged, not failed)", name, want, try)
			return true
		}
		t.Logf("%s: retry %d against the peers: %s", name, try, got)
	}
	return false
}

// TestSelects: the peer run starts only when TestPeers will wait for it
// (startPeers): with -run picking other tests it was started anyway, and
// its build directory was left behind in $TMPDIR when this binary exited.
func TestSelects(t *testing.T) {
	for _, tt := range []struct {
		run, skip string
		want      bool
	}{
		{"", "", true},
		{"^TestPeers$", "", true},
		{"Peers", "", true},
		{"TestExactSignals|TestPeers", "", true},
		{"TestPeers/x", "", true},
		{"TestExactSignals", "", false},
		{"^TestPeersX$", "", false},
		{"TestExactSignals/pid1", "", false},
		{"", "^TestPeers$", false},
		{"", "TestExactSignals", true},
		{"TestPeers", "TestPeers", false},
		{"", "TestPeers/x", true},
	} {
		if got := selects(tt.run, tt.skip, "TestPeers"); got != tt.want {
			t.Errorf("selects(run %q, skip %q) = %v, want %v", tt.run, tt.skip, got, tt.want)
		}
	}
}

// TestListStartsNoPeerRun: `go test -list` (make fuzz asks every package
// for its fuzz targets so) runs this binary's TestMain but no test; it
// started the run against the peers, which nobody waited for, and its
// directories were left in $TMPDIR.
func TestListStartsNoPeerRun(t *testing.T) {
	if env == nil || env.SkipReason != "" || os.Getenv("TEND_COMPAT_PEERS") == "1" {
		t.Skip("the suite does not run here, or this is the run against the peers")
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.list=^Fuzz")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("-test.list: %v\n%s", err, out)
	}
	time.Sleep(time.Second) // a run started in the background would have made its directory by now
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("go test -list left %v in $TMPDIR", names)
	}
}
