package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// usageReport is the usage part of `tend status --json` and GET /status.
type usageReport struct {
	Services []struct {
		Name        string   `json:"name"`
		CPUSeconds  *float64 `json:"cpu_seconds"`
		MemoryBytes *uint64  `json:"memory_bytes"`
		Processes   *int     `json:"processes"`
	} `json:"services"`
	Orphans *struct {
		CPUSeconds  float64 `json:"cpu_seconds"`
		MemoryBytes uint64  `json:"memory_bytes"`
		Processes   int     `json:"processes"`
	} `json:"orphans"`
	Container *struct {
		MemoryBytes *uint64  `json:"memory_bytes"`
		CPUSeconds  *float64 `json:"cpu_seconds"`
	} `json:"container"`
}

func parseUsage(t *testing.T, what, body string) usageReport {
	t.Helper()
	var rep usageReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, body)
	}
	return rep
}

// metricValue returns the value of the sample line that starts with name
// (with its labels), or fails.
func metricValue(t *testing.T, metrics, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("metrics lack %s:\n%s", name, metrics)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// Scenario: services of a known footprint show it in tend status, its JSON,
// GET /status and /metrics: a shell whose child touches 64 MiB (the sum of
// its process group), a process that burned 1 CPU-second; a daemon that
// double-forked out of a oneshot is counted in the orphans row.
func TestUsage(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	memReady, cpuReady := filepath.Join(dir, "mem.ready"), filepath.Join(dir, "cpu.ready")
	daemonPID := filepath.Join(dir, "daemon.pid")
	const mib = 1 << 20
	memArgv := strings.Join(tprog("touch-mem", "--ready", memReady, strconv.Itoa(64*mib)), " ")
	cfg := writeConfig(t, dir,
		"[service.mem]\ncommand = "+tomlArgv("/bin/sh", "-c", memArgv+" & wait")+"\n"+
			"[service.cpu]\ncommand = "+tomlArgv(tprog("burn-cpu", "--ready", cpuReady, "1")...)+"\n"+
			"[service.launcher]\noneshot = true\ncommand = "+tomlArgv(tprog("daemon", "--file", filepath.Join(dir, "daemon.done"), "--pidfile", daemonPID)...)+"\n")
	sock := filepath.Join(dir, "ctl.sock")
	addr := "127.0.0.1:" + strconv.Itoa(cfgFreePort(t))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg, "--socket", sock, "--http", addr)
	r.WaitFile(memReady)
	r.WaitFile(daemonPID)
	r.WaitFile(cpuReady) // once it used its CPU second: later on a loaded machine

	code, out, errs := tendCtl(t, sock, "status", "--json")
	if code != 0 {
		t.Fatalf("tend status --json: code %d: %s\n%s", code, errs, r.Diag())
	}
	rep := parseUsage(t, "tend status --json", out)
	by := map[string]int{}
	for i, s := range rep.Services {
		by[s.Name] = i
		if s.CPUSeconds == nil || s.MemoryBytes == nil || s.Processes == nil {
			t.Errorf("%s: no cpu_seconds, memory_bytes or processes in the JSON:\n%s", s.Name, out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	mem, cpu, launcher := rep.Services[by["mem"]], rep.Services[by["cpu"]], rep.Services[by["launcher"]]
	// The shell and its child; the child's Go runtime and the shell add a
	// few MiB to the 64 touched.
	if m := *mem.MemoryBytes; m < 64*mib || m >= 64*mib+48*mib || *mem.Processes != 2 {
		t.Errorf("mem: %d bytes (%.1f MiB) in %d processes; want 64 MiB to 112 MiB in 2 (sh and touch-mem)", m, float64(m)/mib, *mem.Processes)
	}
	if c := *cpu.CPUSeconds; c < 0.9 || c > 30 || *cpu.Processes != 1 {
		t.Errorf("cpu: %.2f CPU seconds in %d processes; want at least 0.9 in 1", c, *cpu.Processes)
	}
	if *launcher.Processes != 0 || *launcher.MemoryBytes != 0 {
		t.Errorf("launcher (done): %d processes, %d bytes; want none: its daemon left the session", *launcher.Processes, *launcher.MemoryBytes)
	}
	if rep.Orphans == nil || rep.Orphans.Processes != 1 || rep.Orphans.MemoryBytes == 0 {
		t.Errorf("orphans: %+v; want the daemon, 1 process with some memory\n%s", rep.Orphans, out)
	}

	// The container's own figures, from the cgroup tend runs in (here
	// the test's own, which holds at least the 64 MiB touched), where the
	// memory controller is mounted.
	if cgroupMemoryReadable() {
		if c := rep.Container; c == nil || c.MemoryBytes == nil || *c.MemoryBytes < 64*mib || c.CPUSeconds == nil || *c.CPUSeconds < 0.9 {
			t.Errorf("container: want memory_bytes >= 64 MiB and cpu_seconds >= 0.9 from tend's cgroup:\n%s", out)
		}
	}

	// The table: CPU and MEM columns, the orphans row.
	_, text, _ := tendCtl(t, sock, "status")
	if !regexpLine(text, `^NAME +STATE .* HEALTH +CPU +MEM$`) ||
		!regexpLine(text, `^mem +running +\d+ .* \d+\.\d+s +\d+(\.\d)?Mi$`) ||
		!regexpLine(text, `^cpu +running +\d+ .* \d+\.\d+s +\d+(\.\d)?Mi$`) ||
		!regexpLine(text, `^\(orphans\) +- +1 proc .* \d+\.\d+s +\d+(\.\d)?(Ki|Mi)$`) {
		t.Errorf("tend status: want CPU and MEM columns and an (orphans) row:\n%s", text)
	}

	// GET /status has the same fields; /metrics agrees with it (read
	// later: CPU only grows while the processes live, memory holds).
	body := httpGet(t, addr, "/status")
	_, jsonBody, _ := strings.Cut(body, "\r\n\r\n")
	hrep := parseUsage(t, "GET /status", jsonBody)
	if hrep.Orphans == nil || len(hrep.Services) != 3 || hrep.Services[by["mem"]].MemoryBytes == nil || *hrep.Services[by["mem"]].MemoryBytes < 64*mib {
		t.Errorf("GET /status: want usage fields and orphans:\n%s", jsonBody)
	}
	metrics := httpGet(t, addr, "/metrics")
	if m := metricValue(t, metrics, `tend_service_memory_bytes{service="mem"}`); m < float64(*mem.MemoryBytes)-8*mib || m > float64(*mem.MemoryBytes)+8*mib {
		t.Errorf("metrics: mem %v bytes; the JSON said %d", m, *mem.MemoryBytes)
	}
	if c := metricValue(t, metrics, `tend_service_cpu_seconds_total{service="cpu"}`); c < *cpu.CPUSeconds-0.011 {
		t.Errorf("metrics: cpu %v seconds, fewer than the JSON's %v read before", c, *cpu.CPUSeconds)
	}
	if n := metricValue(t, metrics, `tend_orphans_processes`); n != 1 {
		t.Errorf("metrics: tend_orphans_processes %v; want 1", n)
	}
	for _, want := range []string{"# TYPE tend_service_cpu_seconds_total counter", "# TYPE tend_service_memory_bytes gauge"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Named services: their usage, no orphans row.
	_, text, _ = tendCtl(t, sock, "status", "mem")
	if !regexpLine(text, `^mem +running .*Mi$`) || strings.Contains(text, "(orphans)") {
		t.Errorf("tend status mem: want mem's usage and no orphans row:\n%s", text)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// cgroupMemoryReadable reports whether this machine shows a memory
// controller tend can read: cgroup v1's memory hierarchy or v2's
// memory.current at the root of the unified one.
func cgroupMemoryReadable() bool {
	for _, p := range []string{"/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/cgroup.controllers"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
