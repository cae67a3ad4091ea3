package e2e

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Issue 20, items 1, 2 and 6: sockets tend creates and passes on
// (listen), sd_notify readiness (ready = { notify = true }) and the
// watchdog, with tend as PID 1. The service is testprog sdserve: it takes
// its socket from LISTEN_FDS only when LISTEN_PID is its own pid, and says
// READY=1 with a real sd_notify datagram.

// svcOf polls `tend status --json` until the named service satisfies cond.
func (r *run) waitSvc(sock, name, what string, cond func(svcStatus) bool) svcStatus {
	r.T.Helper()
	var got svcStatus
	r.Poll(name+": "+what, func() bool {
		r.Alive("waiting for " + name + ": " + what)
		m, ok := r.tryJobs(sock)
		got = m[name]
		return ok && cond(got)
	})
	return got
}

// hello reads the "hello PID" line a connection gets, within d.
func hello(t *testing.T, c net.Conn, d time.Duration) (int, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	pid, ok := strings.CutPrefix(strings.TrimSpace(line), "hello ")
	if !ok {
		return 0, fmt.Errorf("got %q, want hello PID", line)
	}
	return strconv.Atoi(pid)
}

// Scenario: a notify service with a tcp socket from tend: the child sees
// LISTEN_PID equal to its own pid, its fd 3 and its name; its dependant
// starts only once it said READY=1; its STATUS= shows in tend status; the
// socket stays open while it is stopped, and a connection made then is
// served once it is started again.
func TestZeroDowntimeListenNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := cfgFreePort(t)
	report, after := filepath.Join(dir, "report"), filepath.Join(dir, "after")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
command = %s
listen = ["tcp://127.0.0.1:%d"]
ready = { notify = true, timeout = "60s" }

[service.dep]
command = %s
after = ["web"]
`, tomlArgv(tprog("sdserve", "--file", report, "--delay", "1500ms", "--status", "accepting connections")...), port,
		tomlArgv(tprog("touch", after)...)))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "-c", cfg, "--socket", sock)

	got := r.WaitFile(report)
	reportAt := r.mtime(report)
	if !strings.HasPrefix(got, "listen_pid=ok fds=1 names=web notify=/") {
		t.Errorf("the service saw %q: want LISTEN_PID = its pid, one fd named web, a NOTIFY_SOCKET path", got)
	}
	// Beside the control socket (here the test's directory), not in the
	// machine's /run/tend: nothing is left there when a test kills tend.
	if !strings.Contains(got, "notify="+dir+"/notify-") {
		t.Errorf("the service saw %q: want its NOTIFY_SOCKET under the control socket's directory %s", got, dir)
	}
	r.WaitFile(after)
	if gap := r.mtime(after).Sub(reportAt); gap < 1200*time.Millisecond {
		t.Errorf("dep started %v after web, before web's READY=1 (sent 1.5 s after its start)", gap)
	}
	st := r.waitSvc(sock, "web", "ready", func(s svcStatus) bool { return s.State == "ready" })
	if st.StatusText != "accepting connections" || st.Reason != "ready (READY=1)" || st.NotifyRejected == nil || *st.NotifyRejected != 0 {
		t.Errorf("web's status: %+v", st)
	}
	if _, text, _ := tendCtl(t, sock, "status"); !strings.Contains(text, "STATUS") || !strings.Contains(text, "accepting connections") {
		t.Errorf("tend status lacks the STATUS= column:\n%s", text)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := hello(t, c, 20*time.Second); err != nil || pid != st.PID {
		t.Errorf("served by pid %d (%v), want web's %d", pid, err, st.PID)
	}
	c.Close()

	// Stopped: the socket stays; a connection waits in the backlog.
	if code, _, errs := tendCtl(t, sock, "stop", "web"); code != 0 {
		t.Fatalf("tend stop web: %d %s", code, errs)
	}
	st = r.waitSvc(sock, "web", "stopped", func(s svcStatus) bool { return s.State == "stopped" })
	if st.Reason != "stopped by user" {
		t.Errorf("reason %q, want stopped by user", st.Reason)
	}
	c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("connect while web is stopped: %v (want it queued in the backlog)", err)
	}
	defer c.Close()
	if _, err := hello(t, c, 500*time.Millisecond); err == nil {
		t.Fatal("answered while stopped")
	}
	if code, _, errs := tendCtl(t, sock, "start", "web"); code != 0 {
		t.Fatalf("tend start web: %d %s", code, errs)
	}
	st = r.waitSvc(sock, "web", "running again", func(s svcStatus) bool { return s.PID != 0 })
	if pid, err := hello(t, c, 30*time.Second); err != nil || pid != st.PID {
		t.Errorf("the connection made while stopped: served by %d (%v), want the new web %d", pid, err, st.PID)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: another service sends READY=1 to a notify service's socket:
// ignored (the service stays starting, its STATUS= untouched) and counted.
func TestZeroDowntimeForeignReadyIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "notify-path")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
command = %s
ready = { notify = true, timeout = "60s" }

[service.intruder]
command = %s
`, tomlArgv(tprog("sdserve", "--no-ready", "--sockpath", path)...),
		tomlArgv(tprog("sdsend", "--path-file", path, `READY=1\nSTATUS=forged`)...)))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "-c", cfg, "--socket", sock)
	r.WaitFile(path + ".sent")
	st := r.waitSvc(sock, "web", "one rejected message", func(s svcStatus) bool { return s.NotifyRejected != nil && *s.NotifyRejected > 0 })
	time.Sleep(500 * time.Millisecond) // had it been taken, READY=1 would show by now
	st = r.jobs(sock)["web"]
	if st.State != "starting" || st.StatusText != "" || *st.NotifyRejected != 1 {
		t.Errorf("after a foreign READY=1: %+v, want starting, no status text, 1 rejected", st)
	}
	if !strings.Contains(r.Stderr(), "not the service's; ignored") {
		t.Errorf("no log line for the rejected message:\n%s", r.Stderr())
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: watchdog = "1s": a service that never sends WATCHDOG=1 is
// restarted (reason watchdog), one that does is left alone; both see
// WATCHDOG_USEC and WATCHDOG_PID = their own pid.
func TestZeroDowntimeWatchdog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	silent, fed := filepath.Join(dir, "silent"), filepath.Join(dir, "fed")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.silent]
command = %s
ready = { notify = true, timeout = "60s" }
watchdog = "1s"
max_restarts = { count = 100, within = "1m" }

[service.fed]
command = %s
ready = { notify = true, timeout = "60s" }
watchdog = "2s"
`, tomlArgv(tprog("sdserve", "--file", silent)...), tomlArgv(tprog("sdserve", "--file", fed, "--watchdog", "200ms")...)))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "-c", cfg, "--socket", sock)
	for f, usec := range map[string]string{silent: "1000000", fed: "2000000"} {
		if got := r.WaitFile(f); !strings.Contains(got, "watchdog_usec="+usec+" watchdog_pid=ok") {
			t.Errorf("%s saw %q: want WATCHDOG_USEC=%s and WATCHDOG_PID = its pid", filepath.Base(f), got, usec)
		}
	}
	st := r.waitSvc(sock, "silent", "restarted twice by its watchdog", func(s svcStatus) bool { return s.Restarts >= 2 })
	if !strings.Contains(st.Reason, "watchdog") {
		t.Errorf("reason %q, want it to name the watchdog", st.Reason)
	}
	if !strings.Contains(r.Stderr(), "missed its watchdog") {
		t.Errorf("no log line for the missed watchdog")
	}
	if st := r.jobs(sock)["fed"]; st.Restarts != 0 || st.State != "ready" {
		t.Errorf("fed: %+v, want ready and never restarted", st)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: the port of a listen entry is taken: the error names the
// service, the address and the errno, the service fails to start; once
// the port is free, `tend start` binds it and the service serves.
func TestZeroDowntimeBindError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
command = %s
listen = ["tcp://%s"]
restart = "never"
`, tomlArgv(tprog("sdserve", "--no-ready")...), addr))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "-c", cfg, "--socket", sock)
	want := "service web: listen tcp://" + addr + ": bind: address already in use (EADDRINUSE)"
	r.waitStderr(want, func(line string) bool { return strings.Contains(line, want) })
	st := r.waitSvc(sock, "web", "failed", func(s svcStatus) bool { return s.State == "failed" })
	if st.LastExit == nil || *st.LastExit != 125 {
		t.Errorf("web's status %+v: want failed with 125", st)
	}
	taken.Close()
	if code, _, errs := tendCtl(t, sock, "start", "web"); code != 0 {
		t.Fatalf("tend start web: %d %s", code, errs)
	}
	st = r.waitSvc(sock, "web", "running", func(s svcStatus) bool { return s.PID != 0 })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if pid, err := hello(t, c, 20*time.Second); err != nil || pid != st.PID {
		t.Errorf("served by %d (%v), want web's %d", pid, err, st.PID)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: update = "start-first" with listen and notify: `tend restart`
// three times while a client connects in a loop: every connection is
// answered (the new process takes the same socket, the old one is stopped
// only after the new one's READY=1), and the serving pid changes.
func TestZeroDowntimeStartFirstRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := cfgFreePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
command = %s
listen = ["tcp://127.0.0.1:%d"]
ready = { notify = true, timeout = "60s" }
update = "start-first"
stop_signal = "TERM"
`, tomlArgv(tprog("sdserve", "--delay", "300ms")...), port))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 120 * time.Second}, "-c", cfg, "--socket", sock)
	first := r.waitSvc(sock, "web", "ready", func(s svcStatus) bool { return s.State == "ready" })

	stop := make(chan struct{})
	type result struct {
		ok, failed int
		pids       map[int]bool
		firstErr   error
	}
	res := make(chan result)
	go func() {
		out := result{pids: map[int]bool{}}
		for {
			select {
			case <-stop:
				res <- out
				return
			default:
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
			if err == nil {
				var pid int
				pid, err = hello(t, c, 20*time.Second)
				c.Close()
				out.pids[pid] = true
			}
			if err != nil {
				out.failed++
				if out.firstErr == nil {
					out.firstErr = err
				}
			} else {
				out.ok++
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for i := range 3 {
		if code, _, errs := tendCtl(t, sock, "restart", "web"); code != 0 {
			t.Fatalf("tend restart web (%d): exit %d %s", i, code, errs)
		}
	}
	close(stop)
	got := <-res
	t.Logf("%d requests, %d failed, served by %d pids", got.ok+got.failed, got.failed, len(got.pids))
	if got.failed != 0 {
		t.Errorf("%d of %d requests failed during 3 start-first restarts (first: %v)", got.failed, got.ok+got.failed, got.firstErr)
	}
	last := r.jobs(sock)["web"]
	if last.PID == first.PID || last.Restarts != 3 {
		t.Errorf("after 3 restarts: pid %d (first %d), restarts %d", last.PID, first.PID, last.Restarts)
	}
	if len(got.pids) < 2 {
		t.Errorf("served by %d distinct pids over the restarts, want the old and new ones (%d requests)", len(got.pids), got.ok)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
