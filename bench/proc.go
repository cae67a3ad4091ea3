package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nsProc is an init started as PID 1 of a fresh PID (and mount) namespace
// by `unshare --pid --fork --mount-proc --kill-child`. The init is the
// child of unshare; pid is its PID as seen from here.
type nsProc struct {
	cmd   *exec.Cmd
	pid   int
	pidfd int
}

// startNS runs argv as PID 1 of a new PID namespace and returns once it has
// exec'd (its comm is no longer unshare's).
func startNS(argv []string, stderr io.Writer) (*nsProc, error) {
	args := append([]string{"--pid", "--fork", "--mount-proc", "--kill-child", "--"}, argv...)
	cmd := exec.Command("unshare", args...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &nsProc{cmd: cmd, pidfd: -1}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, c := range children(cmd.Process.Pid) {
			if comm(c) != "unshare" {
				p.pid = c
			}
		}
		if p.pid != 0 {
			break
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("%s: init did not start in a namespace", argv[0])
		}
		time.Sleep(100 * time.Microsecond)
	}
	fd, err := unix.PidfdOpen(p.pid, 0)
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("pidfd_open: %v", err)
	}
	p.pidfd = fd
	return p, nil
}

// waitExit waits for the init to exit (not only unshare) and returns when it
// did, or an error on timeout.
func (p *nsProc) waitExit(timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return time.Time{}, errors.New("init did not exit in time")
		}
		fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		if n > 0 {
			return time.Now(), nil
		}
	}
}

// wait reaps unshare and returns its exit code (the init's).
func (p *nsProc) wait() int {
	p.cmd.Wait()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// kill tears the namespace down: unshare's death SIGKILLs the init
// (--kill-child), whose death SIGKILLs the rest of the namespace.
func (p *nsProc) kill() {
	p.cmd.Process.Kill()
	p.wait()
}

// children lists the children of pid, over all of its threads (a child is
// listed under the thread that forked it or that it was re-parented to).
func children(pid int) []int {
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// state is the one-letter state of pid from /proc/PID/stat (0 if gone).
func state(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// countChildren counts the children of pid whose comm is name (all if "").
func countChildren(pid int, name string) int {
	n := 0
	for _, c := range children(pid) {
		if name == "" || comm(c) == name {
			n++
		}
	}
	return n
}

// waitChildren polls until pid has at least n children named name.
func waitChildren(pid int, name string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for countChildren(pid, name) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d: fewer than %d %q children after %v", pid, n, name, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// procStatus reads VmRSS (KiB) and Threads from /proc/PID/status.
func procStatus(pid int) (rssKiB, threads int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKiB, _ = strconv.Atoi(f[0])
		case "Threads":
			threads, _ = strconv.Atoi(f[0])
		}
	}
	return rssKiB, threads, nil
}

// rssAnon reads RssAnon (KiB) from /proc/PID/status: the private memory
// a process really costs (file pages are shared page cache).
func rssAnon(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("no RssAnon in /proc/%d/status", pid)
}

// ctxtSwitches sums voluntary and nonvoluntary context switches over all
// threads of pid.
func ctxtSwitches(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "voluntary_ctxt_switches:") || strings.HasPrefix(line, "nonvoluntary_ctxt_switches:") {
				_, v, _ := strings.Cut(line, ":")
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				sum += n
			}
		}
	}
	return sum, nil
}

// waitFile polls until path exists.
func waitFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %v", path, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// runDirect forks and execs argv with stdio on /dev/null, waits for it and
// returns the wall time from before the fork to after the wait.
func runDirect(argv []string, devnull uintptr) (time.Duration, error) {
	attr := &syscall.ProcAttr{Files: []uintptr{devnull, devnull, devnull}}
	t0 := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return 0, err
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return 0, fmt.Errorf("%v: %v", argv, ws)
	}
	return d, nil
}
