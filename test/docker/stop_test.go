package docker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// beforeDockerKill bounds a clean stop: it must end before Docker's own
// stop timeout (-t 10) would SIGKILL the container. Anything shorter would
// only measure how loaded the machine is.
const beforeDockerKill = 9500 * time.Millisecond

// peerStop bounds tini's stops, which tini ends at once (its failure is
// the cleanup cut short, not the time): only a hang guard. Its exit code
// 143, not 137, already shows Docker did not SIGKILL it; docker stop
// itself returned 10.9 s after such an exit once, at a load average of 45.
const peerStop = 30 * time.Second

// stopCase is one `docker stop` scenario (1a-1d): the same shell command runs
// once with tend as ENTRYPOINT and once under `docker run --init`.
type stopCase struct {
	key    string
	script string   // run as sh -c SCRIPT
	env    []string // docker run -e
	// expectations per init, as observed (tini's are its known failures)
	want map[string]stopWant
}

type stopWant struct {
	cleanup  bool          // the cleanup file /out/F was written
	exit     int           // container exit code
	min, max time.Duration // how long docker stop may take
	logLine  string        // must appear in docker logs
}

var stopCases = []stopCase{
	{
		key:    "1a",
		script: `testprog trapterm --file /out/F --delay 1s --ready /out/R; echo after`,
		want: map[string]stopWant{
			// The shell dies of the forwarded SIGTERM (143); tend waits for
			// trapterm's cleanup before exiting.
			withTend.name: {cleanup: true, exit: 143, min: time.Second, max: beforeDockerKill},
			// tini signals only the shell, which dies; tini exits and the
			// kernel SIGKILLs trapterm in the middle of its cleanup.
			withTini.name: {cleanup: false, exit: 143, max: peerStop},
		},
	},
	{
		key:    "1b",
		script: `testprog daemon --file /out/F --ready /out/R; exec testprog sleep 1d`,
		want: map[string]stopWant{
			withTend.name: {cleanup: true, exit: 143, min: time.Second, max: beforeDockerKill},
			withTini.name: {cleanup: false, exit: 143, max: peerStop},
		},
	},
	{
		key:    "1c",
		script: `testprog worker --file /out/F --delay 1s --ready /out/R & while [ ! -e /out/R ]; do sleep 0.05; done; exec testprog sleep 1d`,
		want: map[string]stopWant{
			withTend.name: {cleanup: true, exit: 143, min: time.Second, max: beforeDockerKill},
			withTini.name: {cleanup: false, exit: 143, max: peerStop},
		},
	},
	{
		key:    "1d",
		script: `exec testprog ignoreterm --ready /out/R`,
		env:    []string{"TEND_GRACE=2s"},
		want: map[string]stopWant{
			withTend.name: {exit: 137, min: 1500 * time.Millisecond, max: beforeDockerKill,
				logLine: "tend: grace period 2s expired; killed 1 process(es)"},
			// TEND_GRACE means nothing to tini: Docker's own 10s timeout.
			withTini.name: {exit: 137, min: 9 * time.Second, max: 20 * time.Second},
		},
	},
}

// TestStop is scenario 1: docker stop -t 10 on workloads whose cleanup tini
// cuts short.
func TestStop(t *testing.T) {
	needDocker(t)
	t.Parallel()
	for _, sc := range stopCases {
		for _, k := range []initKind{withTend, withTini} {
			t.Run(sc.key+"/"+k.name, func(t *testing.T) {
				k.need(t)
				t.Parallel()
				runStopCase(t, sc, k)
			})
		}
	}
}

func runStopCase(t *testing.T, sc stopCase, k initKind) {
	want := sc.want[k.name]
	ctx := deadline(t, 60*time.Second)
	var opts []string
	for _, e := range sc.env {
		opts = append(opts, "-e", e)
	}
	c := start(t, ctx, k, opts, "sh", "-c", sc.script)
	c.waitFile("R")
	took := c.stop(10)
	code := c.wait()
	content, cleaned := c.read("F")
	logs := c.logs()
	t.Logf("%s under %s: docker stop took %v, exit %d, cleanup file: %v %q", sc.key, k.name, took.Round(time.Millisecond), code, cleaned, content)

	// Record what happened (before asserting, so the table shows reality).
	var cell string
	switch {
	case sc.key == "1d" && k.name == withTend.name && strings.Contains(logs, "grace period") && took < 9*time.Second:
		cell = fmt.Sprintf("✅ SIGKILLed by tend when its 2s grace ran out, exit %d", code)
	case sc.key == "1d" && took >= 9*time.Second:
		cell = fmt.Sprintf("❌ no grace of its own: SIGKILLed by Docker at its 10s timeout, exit %d", code)
	case sc.key == "1d":
		cell = fmt.Sprintf("stop took %.1fs, exit %d", took.Seconds(), code)
	case cleaned:
		cell = fmt.Sprintf("✅ cleanup done, exit %d", code)
	default:
		cell = fmt.Sprintf("❌ cleanup cut short, exit %d", code)
	}
	record(k, sc.key, cell)

	if sc.key != "1d" {
		if cleaned != want.cleanup {
			t.Errorf("cleanup file written = %v, want %v (content %q)", cleaned, want.cleanup, content)
		}
		if cleaned && k.name == withTend.name {
			// Exactly one SIGTERM reached the cleanup process.
			if content != "done SIGTERM\ncount=1\n" {
				t.Errorf("cleanup file = %q, want %q", content, "done SIGTERM\ncount=1\n")
			}
		}
	}
	if code != want.exit {
		t.Errorf("exit code %d, want %d", code, want.exit)
	}
	if took < want.min || took > want.max {
		t.Errorf("docker stop took %v, want between %v and %v", took, want.min, want.max)
	}
	if want.logLine != "" && !strings.Contains(logs, want.logLine) {
		t.Errorf("docker logs lack %q:\n%s", want.logLine, logs)
	}
}
