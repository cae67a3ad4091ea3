package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/procfs"
)

// svcHostPIDs maps `testprog svc --name NAME` to the host pids of tend's
// live descendants running it.
func (r *run) svcHostPIDs() map[string][]int {
	out := map[string][]int{}
	for _, pid := range r.cfgTestprogs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if len(args) < 2 || args[1] != "svc" {
			continue
		}
		if i := slices.Index(args, "--name"); i >= 0 && i+1 < len(args) {
			out[args[i+1]] = append(out[args[i+1]], pid)
		}
	}
	return out
}

// Scenario: SIGHUP reload. a unchanged keeps its process, b changed is
// restarted with its new definition, c added is started; c removed is
// stopped; an invalid file is reported and changes nothing; SIGTERM still
// stops everything with exit 0.
func TestConfigReload(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	ready := func(name string) string { return filepath.Join(dir, "ready-"+name) }
	def := func(service, name string) string {
		return fmt.Sprintf("[service.%s]\ncommand = %s\n", service,
			tomlArgv(tprog("svc", "--name", name, "--log", records, "--ready", ready(name))...))
	}
	cfg := writeConfig(t, dir, def("a", "a")+"\n"+def("b", "b"))
	r := startIn(t, dir, opts{Timeout: 30 * time.Second}, "-c", cfg)
	aPID := r.WaitPID(ready("a"))
	bPID := r.WaitPID(ready("b"))
	var host map[string][]int
	r.Poll("a and b running", func() bool {
		host = r.svcHostPIDs()
		return len(host["a"]) == 1 && len(host["b"]) == 1
	})
	aHost := host["a"][0]

	// 1. a unchanged, b changed (a new argument), c added.
	cfgWriteFile(t, cfg, def("a", "a")+"\n"+def("b", "b2")+"\n"+def("c", "c"))
	r.Signal(unix.SIGHUP)
	b2PID := r.WaitPID(ready("b2"))
	r.WaitPID(ready("c"))
	r.Poll("exactly a, b2 and c running", func() bool {
		host = r.svcHostPIDs()
		return len(host) == 3 && len(host["a"]) == 1 && len(host["b2"]) == 1 && len(host["c"]) == 1
	})
	recs := readSvcRecords(t, records)
	if host["a"][0] != aHost || len(filterSvcRecords(recs, "", "a")) != 1 {
		t.Errorf("a is unchanged but was restarted (host pid %d -> %v)\n%s", aHost, host["a"], formatSvcRecords(recs))
	}
	if pid := r.WaitPID(ready("a")); pid != aPID {
		t.Errorf("a's ready file now says pid %d, was %d", pid, aPID)
	}
	if b2PID == bPID {
		t.Errorf("b changed but kept its pid %d", bPID)
	}
	stopB := filterSvcRecords(recs, "stop", "b")
	startB2 := filterSvcRecords(recs, "start", "b2")
	if len(stopB) != 1 || len(startB2) != 1 || startB2[0].at.Before(stopB[0].at) {
		t.Errorf("b changed: want its old process stopped, then the new one started:\n%s", formatSvcRecords(recs))
	}
	aHost, b2Host, cHost := host["a"][0], host["b2"][0], host["c"][0]

	// 2. c removed.
	cfgWriteFile(t, cfg, def("a", "a")+"\n"+def("b", "b2"))
	r.Signal(unix.SIGHUP)
	r.waitSvcRecord(records, "stop", "c")
	r.Poll("c gone, a and b2 running", func() bool {
		host = r.svcHostPIDs()
		return len(host) == 2 && len(host["a"]) == 1 && len(host["b2"]) == 1
	})
	if host["a"][0] != aHost || host["b2"][0] != b2Host {
		t.Errorf("removing c touched a or b2: pids %v, were a=%d b2=%d", host, aHost, b2Host)
	}
	r.Poll("c's process reaped", func() bool {
		return !slices.ContainsFunc(r.Descendants(), func(p procfs.Proc) bool { return p.PID == cHost })
	})

	// 3. An invalid file: reported, nothing touched, tend keeps running.
	before := readSvcRecords(t, records)
	cfgWriteFile(t, cfg, def("a", "a")+"\n"+def("b", "b2")+"restrat = \"never\"\n")
	r.Signal(unix.SIGHUP)
	line := r.waitStderr("the reload error", func(line string) bool {
		return strings.HasPrefix(line, "tend: reload failed; keeping the running configuration")
	})
	wantErr := cfg + ":6: service.b.restrat: unknown key (did you mean restart?)"
	if !strings.Contains(line, wantErr) {
		t.Errorf("reload error line %q does not contain %q", line, wantErr)
	}
	r.AliveFor(300*time.Millisecond, "an invalid reload must not stop tend")
	host = r.svcHostPIDs()
	if len(host) != 2 || !slices.Equal(host["a"], []int{aHost}) || !slices.Equal(host["b2"], []int{b2Host}) {
		t.Errorf("an invalid reload touched the services: pids %v, were a=%d b2=%d", host, aHost, b2Host)
	}
	if after := readSvcRecords(t, records); len(after) != len(before) {
		t.Errorf("an invalid reload started or stopped something:\n%s", formatSvcRecords(after[len(before):]))
	}

	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	recs = readSvcRecords(t, records)
	for name, want := range map[string]int{"a": 2, "b": 2, "b2": 2, "c": 2} {
		if got := len(filterSvcRecords(recs, "", name)); got != want {
			t.Errorf("%s: %d records, want one start and one stop\n%s", name, got, formatSvcRecords(recs))
		}
	}
	if n := strings.Count(r.Stderr(), "reload failed"); n != 1 {
		t.Errorf("%d reload errors on stderr, want 1 (only the invalid file)\n%s", n, r.Stderr())
	}
}
