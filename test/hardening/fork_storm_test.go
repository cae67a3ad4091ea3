package hardening

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
	"github.com/tend-sh/tend/test/internal/procfs"
)

// nsTree walks tend's process tree from the host (through the children
// files, much cheaper than listing all of /proc) and counts its processes
// and zombies (tend itself not included), and the zombies that are tend's
// own children (orphans waiting for tend to reap them).
func nsTree(tendPID int) (procs, zombies, tendZombies int) {
	queue := []int{tendPID}
	seen := map[int]bool{tendPID: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range harness.TaskChildren(cur) {
			if seen[c] {
				continue
			}
			seen[c] = true
			p, err := procfs.Read("/proc", c)
			if err != nil {
				continue
			}
			procs++
			if p.State == 'Z' {
				zombies++
				if cur == tendPID {
					tendZombies++
				}
				continue
			}
			queue = append(queue, c)
		}
	}
	return procs, zombies, tendZombies
}

// TestForkStorm: a main creating orphans as fast as it can. tend reaps them
// as they come (never all of them waiting at once), tend does not occupy a
// CPU, nothing is left at the end, SIGTERM → exit 0.
func TestForkStorm(t *testing.T) {
	dir := scratch(t)
	rdy := filepath.Join(dir, "storm.done")
	counts := filepath.Join(dir, "storm.count")
	d := pick(1500*time.Millisecond, 5*time.Second)
	// The workload runs at nice 10, as a batch job beside a service would:
	// what is measured is whether tend reaps as the orphans come, not how
	// a loaded machine schedules (see the bounds below).
	r := start(t, dir, opts{Timeout: 150 * time.Second}, "--grace", "5s", "--", "nice", "-n", "10", testprog, "forkstorm",
		"--duration", d.String(), "--min", "200", "--workers", "4", "--fanout", "10", "--count-file", counts, "--ready", rdy)
	// tend's own CPU and that of the processes it reaped (the leaves), from
	// now on.
	u0, s0, cu0, cs0, err := statTimes(r.TendPID)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var maxZ, maxTZ, maxP, samples int
	for {
		if _, _, _, _, err := statTimes(r.TendPID); err != nil {
			break
		}
		p, z, tz := nsTree(r.TendPID)
		maxZ, maxTZ, maxP = max(maxZ, z), max(maxTZ, tz), max(maxP, p)
		samples++
		if r.Exited() {
			break
		}
		if fileExists(rdy) {
			break
		}
		// The storm ends by its own clock; a nice 10 workload on a
		// loaded machine may take long to see it and write its files.
		if time.Since(t0) > d+90*time.Second {
			t.Fatalf("the fork storm did not end\n%s", r.Diag())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Alive("after the fork storm")
	stormWall := time.Since(t0)
	u1, s1, cu1, cs1, err := statTimes(r.TendPID)
	if err != nil {
		t.Fatal(err)
	}
	content := r.WaitFile(counts)
	var orphans, failures int
	var cpuNS int64
	if _, err := fmt.Sscanf(content, "orphans=%d failures=%d cpu_ns=%d", &orphans, &failures, &cpuNS); err != nil {
		t.Fatalf("%s: %q: %v", counts, content, err)
	}
	tendCPU := (u1 - u0) + (s1 - s0)
	leavesCPU := (cu1 - cu0) + (cs1 - cs0)
	workCPU := time.Duration(cpuNS) + leavesCPU
	t.Logf("fork storm: %d orphans in %v (%.0f/s), %d failed rounds; %d samples: max %d zombies (max %d of them tend's own children), max %d processes in the namespace",
		orphans, stormWall.Round(time.Millisecond), float64(orphans)/stormWall.Seconds(), failures, samples, maxZ, maxTZ, maxP)
	t.Logf("CPU: tend %v (user %v, sys %v; %.0f µs per orphan; %.0f%% of wall), workload %v (main+middles %v, reaped leaves %v): tend/workload = %.2f",
		tendCPU, u1-u0, s1-s0, float64(tendCPU.Microseconds())/float64(max(orphans, 1)), 100*tendCPU.Seconds()/stormWall.Seconds(), workCPU, time.Duration(cpuNS), leavesCPU, tendCPU.Seconds()/workCPU.Seconds())
	if orphans < 100 {
		t.Errorf("only %d orphans were created: the storm did not happen\n%s", orphans, r.Diag())
	}
	// How many zombies a sample catches is the orphan rate times how long
	// tend waited for a CPU: at load averages of 50-120 on this 2-core
	// machine tend got 70-120 ms of CPU in a 1.5 s storm and samples caught
	// 286 of 730 and 1161 of 1630 orphans waiting, while tend's own cost
	// stayed ~5-11 µs per orphan. So the peak is logged, not bounded here
	// (the benchmark's orphans row compares it with the peers in the same
	// run); what is asserted is structural: tend reaps during the storm
	// (a sample never finds every orphan waiting) and leaves none behind
	// (checked below: a lost SIGCHLD would leave zombies for good).
	if orphans > 0 && maxTZ >= orphans {
		t.Errorf("a sample found all %d orphans waiting to be reaped: tend does not reap during the storm", orphans)
	}
	// tend's CPU per orphan, nearly all of it kernel time, ranged from 5 µs
	// to 2.2 ms between runs on this shared machine (load averages 30-120).
	// perf (a 3 s storm, tend's pid): 17% in d_walk, under wait4 →
	// release_task → proc_invalidate_siblings_dcache: reaping a process
	// makes the kernel drop its /proc dentries, in the reaper's context, and
	// this test's own /proc sampling (and everything else reading /proc on
	// the host) creates them; 29% is context switching. Any init pays the
	// same. Next to the workload's CPU it is typically 1-15% but was once
	// 148%, so that ratio is logged. What is
	// asserted is that tend did not occupy a whole CPU during the storm,
	// as a reaper or event loop that spins would (this is not a guarantee
	// on a machine loaded enough to starve a spinning tend too).
	if tendCPU >= 9*stormWall/10 {
		t.Errorf("tend used %v of CPU in a %v storm: it spins", tendCPU, stormWall.Round(time.Millisecond))
	}

	// Everything is reaped: only the main is left, no zombie.
	var p, z int
	settle := time.Now()
	r.Poll("the namespace to settle (only the main left, no zombies)", func() bool {
		p, z, _ = nsTree(r.TendPID)
		return p == 1 && z == 0
	})
	t.Logf("settled %v after the storm: %d process(es), %d zombies", time.Since(settle).Round(time.Millisecond), p, z)

	r.Signal(unix.SIGTERM)
	// Only the main is left and it exits on SIGTERM: milliseconds. A main
	// that never got it is SIGKILLed at the 5 s grace (137, checked); the
	// 4 s bound stays below that with room for a loaded machine.
	took := r.WaitExit(15 * time.Second)
	t.Logf("SIGTERM: tend exited %v later", took.Round(time.Millisecond))
	r.ExpectCode(0)
	if took > 4*time.Second {
		t.Errorf("tend took %v to exit after SIGTERM (want < 4s, below the 5s grace)", took)
	}
	if s := r.Stderr(); strings.TrimSpace(s) != "" {
		t.Logf("tend's stderr:\n%s", tail(s, 2000))
	}
	r.noPanic()
}

func fileExists(path string) bool {
	_, err := statFile(path)
	return err == nil
}
