package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/cgroup"
)

// v1Hierarchies returns tend's (the test's) cgroup v1 cpu and pids
// directories, skipping where they are not both mounted and writable.
func v1Hierarchies(t *testing.T) (cpu, pids string) {
	t.Helper()
	cg, err := cgroup.Self()
	if err != nil || cg.CPU == "" || cg.Pids == "" {
		skipHere(t, "e2e limits reload", fmt.Sprintf("no cgroup v1 cpu and pids controllers here (%v)", err))
	}
	for _, d := range []string{cg.CPU, cg.Pids} {
		if unix.Access(d, unix.W_OK) != nil {
			skipHere(t, "e2e limits reload", d+" is not writable")
		}
	}
	return cg.CPU, cg.Pids
}

func cgroupProcs(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return strings.TrimSpace(string(b))
}

// Scenario: a reload takes a limit (cpu_max) away from a service, then
// removes the service. The cgroup directory of the limit taken away is not
// left behind: every child cgroup tend made is gone once tend has exited
// (the service removed: already when it is).
func TestLimitsReloadCgroupsRemoved(t *testing.T) {
	needEnv(t)
	cpu, pids := v1Hierarchies(t)
	dir := t.TempDir()
	name := fmt.Sprintf("lr%d", os.Getpid())
	cpuDir, pidsDir := filepath.Join(cpu, "tend."+name), filepath.Join(pids, "tend."+name)
	def := func(limits string) string {
		return fmt.Sprintf("[service.%s]\ncommand = %s\n%s\n\n[service.keep]\ncommand = %s\n",
			name, tomlArgv(tprog("sleep", "60s")...), limits, tomlArgv(tprog("sleep", "60s")...))
	}
	cfg := writeConfig(t, dir, def("pids_max = 50\ncpu_max = 0.5"))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg)
	var first string
	r.Poll("the service in both child cgroups", func() bool {
		first = cgroupProcs(pidsDir)
		return first != "" && cgroupProcs(cpuDir) == first
	})

	// 1. cpu_max taken away: the service restarts in its pids cgroup only.
	cfgWriteFile(t, cfg, def("pids_max = 50"))
	r.Signal(unix.SIGHUP)
	r.Poll("the service restarted in its pids cgroup", func() bool {
		p := cgroupProcs(pidsDir)
		return p != "" && p != first
	})
	r.Poll("the cpu child cgroup removed", func() bool {
		_, err := os.Stat(cpuDir)
		return os.IsNotExist(err)
	})

	// 2. The service removed: its cgroup goes with it.
	cfgWriteFile(t, cfg, fmt.Sprintf("[service.keep]\ncommand = %s\n", tomlArgv(tprog("sleep", "60s")...)))
	r.Signal(unix.SIGHUP)
	r.Poll("the pids child cgroup removed with the service", func() bool {
		_, err := os.Stat(pidsDir)
		return os.IsNotExist(err)
	})
	r.Signal(unix.SIGTERM)
	r.Wait()
	for _, d := range []string{cpuDir, pidsDir} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("child cgroup %s left after tend exited: %v\n%s", d, err, r.Diag())
		}
	}
}
