package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/cgroup"
)

// memoryCgroup makes a cgroup v1 memory cgroup of the test's own (below
// the test's memory cgroup) with limit bytes, and removes it at the end,
// once the processes in it are gone. It skips where there is no writable
// v1 memory controller (a cgroup v2 host: see the unit tests of
// internal/cgroup for v2).
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	cg, err := cgroup.Self()
	if err != nil || cg.Memory == "" {
		skipHere(t, "e2e OOM", fmt.Sprintf("no cgroup v1 memory controller here (%v): the OOM end-to-end tests need one", err))
	}
	dir := filepath.Join(cg.Memory, fmt.Sprintf("tend-e2e-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		skipHere(t, "e2e OOM", fmt.Sprintf("cannot create a memory cgroup: %v", err))
	}
	t.Cleanup(func() {
		// The harness's cleanup (registered later, run first) killed
		// tend's processes; rmdir is refused (EBUSY) until they are gone.
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := unix.Rmdir(dir)
			if err == nil || os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
				t.Errorf("cannot remove %s: %v (processes: %q)", dir, err, procs)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	for _, f := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		err := os.WriteFile(filepath.Join(dir, f), []byte(strconv.FormatInt(limit, 10)), 0)
		if err != nil && f == "memory.limit_in_bytes" {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return dir
}

// hostPID finds the host pid of tend's descendant whose pid in tend's
// namespace is nspid (the last field of NSpid).
func (r *run) hostPID(nspid int) int {
	r.T.Helper()
	for _, p := range r.Descendants() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 && f[len(f)-1] == strconv.Itoa(nspid) {
					return p.PID
				}
			}
		}
	}
	r.T.Fatalf("no descendant of tend has pid %d in its namespace\n%s", nspid, r.Diag())
	return 0
}

type oomStatus struct {
	Services []struct {
		Name       string `json:"name"`
		Reason     string `json:"reason"`
		ExitReason string `json:"exit_reason"`
		OOMKills   uint64 `json:"oom_kills"`
		LastExit   *int   `json:"last_exit"`
	} `json:"services"`
}

// Scenario (issue 21, item 1): tend, PID 1 of a fresh PID namespace, runs
// in a memory cgroup with a 96 MiB limit. hog allocates 256 MiB: the
// kernel kills it and tend names it, with the reason, in its log, in
// `tend status` (text and JSON); an orphan killed the same way is
// reported without a name; victim, killed with kill -9 by the test, is
// NOT called an OOM kill.
func TestOOMKillNamed(t *testing.T) {
	needEnv(t)
	dir := t.TempDir()
	cg := memoryCgroup(t, 96<<20)
	sock := filepath.Join(dir, "s.sock")
	victimPID := filepath.Join(dir, "victim.pid")
	orphanPID := filepath.Join(dir, "orphan.pid")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.hog]
command = %s
restart = "never"

[service.orphaner]
command = %s
oneshot = true

[service.victim]
command = %s
restart = "never"
`,
		tomlArgv(tprog("alloc", "268435456")...),
		tomlArgv(tprog("alloc", "-orphan", "-delay", "1s", "-pidfile", orphanPID, "268435456")...),
		tomlArgv(tprog("alloc", "-pidfile", victimPID, "0")...)))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second, Pre: "echo $$ > " + q(filepath.Join(cg, "cgroup.procs"))},
		"-c", cfg, "--socket", sock)

	hogLine := r.waitStderr("hog's OOM kill", func(l string) bool {
		return strings.Contains(l, "service killed by the kernel for lack of memory (OOM)") && strings.Contains(l, "service=hog")
	})
	if !strings.Contains(hogLine, "limit=96Mi") {
		t.Errorf("OOM line without the limit: %q", hogLine)
	}
	orphanLine := r.waitStderr("the orphan's OOM kill", func(l string) bool {
		return strings.Contains(l, "process killed by the kernel for lack of memory (OOM)")
	})
	if strings.Contains(orphanLine, "service=") {
		t.Errorf("the orphan was given a service name: %q", orphanLine)
	}
	if nspid, _ := strconv.Atoi(strings.TrimSpace(r.WaitFile(orphanPID))); !strings.Contains(orphanLine, "pid="+strconv.Itoa(nspid)+" ") {
		t.Errorf("orphan OOM line %q does not name its pid %d", orphanLine, nspid)
	}

	// kill -9 from outside: a plain SIGKILL, not an OOM kill.
	nspid, _ := strconv.Atoi(strings.TrimSpace(r.WaitFile(victimPID)))
	if err := unix.Kill(r.hostPID(nspid), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victimLine := r.waitStderr("victim's failure", func(l string) bool {
		return strings.Contains(l, "service failed") && strings.Contains(l, "service=victim")
	})
	if !strings.Contains(victimLine, "exited with code 137") || strings.Contains(victimLine, "OOM") {
		t.Errorf("kill -9 reported as %q, want a plain exit with code 137", victimLine)
	}

	code, out, errs := tendCLI(t, sock, 20*time.Second, "status", "--json")
	var st oomStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("tend status --json: %d %s %s", code, out, errs)
	}
	for _, s := range st.Services {
		switch s.Name {
		case "hog":
			if s.Reason != "oom-killed" || s.ExitReason != "oom-killed" || s.OOMKills != 1 || s.LastExit == nil || *s.LastExit != 137 {
				t.Errorf("hog: reason %q exit_reason %q oom_kills %d, want oom-killed, oom-killed, 1, last exit 137\n%s", s.Reason, s.ExitReason, s.OOMKills, out)
			}
		default:
			if strings.Contains(s.Reason, "oom") || s.ExitReason != "" || s.OOMKills != 0 {
				t.Errorf("%s: reason %q exit_reason %q oom_kills %d, want no OOM\n%s", s.Name, s.Reason, s.ExitReason, s.OOMKills, out)
			}
		}
	}
	_, text, _ := tendCLI(t, sock, 20*time.Second, "status")
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "hog ") && !strings.Contains(line, "137 (oom-killed)") {
			t.Errorf("tend status: hog's line %q does not say oom-killed", line)
		}
		if strings.HasPrefix(line, "victim ") && strings.Contains(line, "oom") {
			t.Errorf("tend status: victim's line %q says oom", line)
		}
	}
	if strings.Contains(r.Stderr(), "possibly OOM") {
		t.Errorf("a death was called possibly OOM:\n%s", r.Diag())
	}
	r.Signal(unix.SIGTERM)
	r.Wait()
}

// Scenario (issue 21, item 3): a service with memory_max runs in a child
// cgroup of its own (tend.NAME below tend's memory cgroup), is OOM-killed
// there and named, with its own limit; the child cgroup is removed when
// tend exits.
func TestOOMMemoryMaxChild(t *testing.T) {
	needEnv(t)
	dir := t.TempDir()
	cg := memoryCgroup(t, 512<<20)
	sock := filepath.Join(dir, "s.sock")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.small]
command = %s
memory_max = "48Mi"
restart = "never"

[service.keeper]
command = %s
`,
		tomlArgv(tprog("alloc", "-delay", "300ms", "134217728")...),
		tomlArgv(tprog("sleep", "60s")...)))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second, Pre: "echo $$ > " + q(filepath.Join(cg, "cgroup.procs"))},
		"-c", cfg, "--socket", sock)
	child := filepath.Join(cg, "tend.small")
	line := r.waitStderr("small's OOM kill", func(l string) bool {
		return strings.Contains(l, "service killed by the kernel for lack of memory (OOM)") && strings.Contains(l, "service=small")
	})
	if !strings.Contains(line, "limit=48Mi") {
		t.Errorf("OOM line without the service's own limit: %q", line)
	}
	if b, err := os.ReadFile(filepath.Join(child, "memory.limit_in_bytes")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(48<<20) {
		t.Errorf("child cgroup's limit: %q %v", b, err)
	}
	_, text, _ := tendCLI(t, sock, 20*time.Second, "status")
	if !strings.Contains(text, "137 (oom-killed)") {
		t.Errorf("tend status does not say oom-killed:\n%s", text)
	}
	r.Signal(unix.SIGTERM)
	r.Wait()
	if _, err := os.Stat(child); !os.IsNotExist(err) {
		t.Errorf("child cgroup %s left after tend exited: %v\n%s", child, err, r.Diag())
	}
}

// Scenario (issue 21, item 3): where limits cannot be enforced, a service
// asking for one is an error at start naming it and the key: exit 2, the
// service never runs.
func TestLimitsNotEnforceable(t *testing.T) {
	needEnv(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.capped]
command = %s
memory_max = "64Mi"
`, tomlArgv(tprog("touch", ran)...)))
	// A read-only /sys/fs/cgroup, as in an unprivileged container.
	r := startIn(t, dir, opts{Timeout: 30 * time.Second, Pre: "mount -o remount,bind,ro /sys/fs/cgroup/memory 2>/dev/null || mount -t tmpfs -o ro none /sys/fs/cgroup/memory"}, "-c", cfg)
	r.ExpectExit(2)
	if _, err := os.Stat(ran); err == nil {
		t.Error("the service ran without its limit")
	}
	if !strings.Contains(r.Stderr(), "service capped: memory_max: cannot be enforced here") {
		t.Errorf("stderr does not name the service and key:\n%s", r.Stderr())
	}
}
