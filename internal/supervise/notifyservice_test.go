package supervise

import (
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/listen"
	sdnotify "github.com/tend-sh/tend/internal/notify"
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/spawn"
)

// notifySvc is a notify service named name (argv /bin/sh: the
// trampoline resolves the command).
func notifySvc(name string, timeout, watchdog time.Duration, after ...string) *Service {
	return &Service{
		Service: &config.Service{Name: name, After: after, Watchdog: watchdog,
			Ready: &config.Probe{Kind: config.ProbeNotify, Timeout: timeout}},
		Spec: spawnSpec("/bin/sh"),
	}
}

// zdRig is a rig whose notify sockets live in a temporary directory
// and are closed at the end.
func zdRig(t *testing.T, cfg Config, svcs ...*Service) *rig {
	t.Helper()
	cfg.NotifyDir = t.TempDir()
	r := newRig(t, cfg, svcs...)
	t.Cleanup(r.s.closeZD)
	return r
}

// notifyFrom delivers a datagram from pid (in process group and session
// pgid) to the named service, as its socket's reader would.
func (r *rig) notifyFrom(name string, pid, pgid int, msg string) {
	r.t.Helper()
	v := r.svc(name)
	d := sdnotify.Datagram{PID: pid, Message: sdnotify.Parse([]byte(msg))}
	r.do(func() { r.s.onNotify(v.zd.ns, d, pgid, pgid) })
}

func envOf(env []string, k string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestNotifyReadyGatesDependants(t *testing.T) {
	plain := &Service{Service: &config.Service{Name: "plain"}, Spec: spawnSpec("plain")}
	r := zdRig(t, Config{}, notifySvc("db", time.Minute, 0), &Service{Service: &config.Service{Name: "web", After: []string{"db"}}}, plain)
	r.wantStates("db=starting web=starting plain=running")
	db := r.pid("db")
	sock, ok := envOf(r.fs.specs[db].Env, "NOTIFY_SOCKET")
	if !ok || !strings.HasPrefix(sock, r.s.cfg.NotifyDir+"/") || sock != r.svc("db").zd.ns.sock.Path {
		t.Errorf("db's NOTIFY_SOCKET = %q, want its own under %s", sock, r.s.cfg.NotifyDir)
	}
	if v, ok := envOf(r.fs.specs[r.pid("plain")].Env, "NOTIFY_SOCKET"); ok {
		t.Errorf("a service without notify got NOTIFY_SOCKET=%s", v)
	}
	if r.fs.argv[db][0] != "/bin/sh" {
		t.Errorf("notify without listen or watchdog started as %q: no trampoline needed", r.fs.argv[db])
	}

	// A process that is not the service's: ignored and counted.
	r.notifyFrom("db", 4242, 4242, "READY=1\nSTATUS=forged")
	r.notifyFrom("db", 0, 0, "READY=1")
	r.wantStates("db=starting web=starting")
	if n := r.svc("db").rejectedCount(); n == nil || *n != 2 {
		t.Errorf("rejected %v, want 2", n)
	}
	// A child in the service's process group may speak for it.
	r.notifyFrom("db", 4243, db, "STATUS=loading\nX_UNKNOWN=1")
	r.wantStates("db=starting web=starting")
	r.notifyFrom("db", db, db, "READY=1\nSTATUS=accepting connections")
	r.wantStates("db=ready web=running")
	ss, err := r.s.Status([]string{"db", "plain"})
	if err != nil {
		t.Fatal(err)
	}
	if ss[0].StatusText != "accepting connections" || ss[0].Reason != "ready (READY=1)" || ss[0].NotifyRejected == nil || *ss[0].NotifyRejected != 2 {
		t.Errorf("db status %+v", ss[0])
	}
	if ss[1].NotifyRejected != nil || ss[1].Reason != "started" {
		t.Errorf("plain status %+v", ss[1])
	}
	// The status text belongs to a run: a restart clears it.
	r.exit("db", 1)
	r.advance(time.Second)
	if st := r.svc("db"); st.zd.statusText != "" || st.zd.reason != "restarted after exited 1" {
		t.Errorf("after a restart: status %q reason %q", st.zd.statusText, st.zd.reason)
	}
}

func TestNotifyExtendTimeout(t *testing.T) {
	r := zdRig(t, Config{}, notifySvc("a", time.Second, 0))
	pid := r.pid("a")
	r.advance(500 * ms)
	r.notifyFrom("a", pid, pid, "EXTEND_TIMEOUT_USEC=5000000")
	r.advance(2 * time.Second)
	r.wantStates("a=starting")
	r.notifyFrom("a", pid, pid, "EXTEND_TIMEOUT_USEC=1000") // never shortens it
	r.advance(2 * time.Second)
	r.wantStates("a=starting")
	r.advance(time.Second)
	r.wantStates("a=failed")
	if got := r.sent(pid); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Errorf("sent %v, want SIGTERM", got)
	}
}

func TestWatchdog(t *testing.T) {
	a := notifySvc("a", time.Minute, time.Second)
	a.MaxRestarts = 1
	r := zdRig(t, Config{}, a)
	pid := r.pid("a")
	spec := r.fs.specs[pid]
	if v, _ := envOf(spec.Env, "WATCHDOG_USEC"); v != "1000000" {
		t.Errorf("WATCHDOG_USEC=%q, want 1000000", v)
	}
	if want := []string{listen.SelfExe, listen.TrampolineArg, "/bin/sh", "/bin/sh"}; !slices.Equal(spec.Argv, want) {
		t.Errorf("argv %q, want the trampoline %q (it sets WATCHDOG_PID)", spec.Argv, want)
	}
	r.notifyFrom("a", pid, pid, "READY=1")
	for range 5 { // fed in time: left alone, whether ready or not
		r.advance(900 * ms)
		r.notifyFrom("a", pid, pid, "WATCHDOG=1")
	}
	r.notifyFrom("a", 4242, 4242, "WATCHDOG=1") // not the service's: does not feed it
	if got := r.sent(pid); len(got) != 0 {
		t.Fatalf("fed watchdog: sent %v", got)
	}
	r.advance(time.Second)
	if got := r.sent(pid); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Fatalf("missed watchdog: sent %v, want SIGTERM", got)
	}
	r.exitPID(pid, 0, unix.SIGTERM) // a clean exit still counts as a failure
	r.wantStates("a=backoff")
	if v := r.svc("a"); v.zd.reason != "watchdog" {
		t.Errorf("reason %q, want watchdog", v.zd.reason)
	}
	r.advance(time.Second)
	second := r.pid("a")
	if r.svc("a").restarts != 1 {
		t.Errorf("restarts %d, want 1", r.svc("a").restarts)
	}
	r.notifyFrom("a", second, second, "READY=1")
	r.advance(1100 * ms) // silent again: max_restarts (1) used up
	r.exitPID(second, 0, unix.SIGTERM)
	r.wantStates("a=failed")
}

func TestMainPIDHandOver(t *testing.T) {
	r := zdRig(t, Config{}, notifySvc("a", time.Minute, 0))
	defer func(f func(int) (proc.Process, error)) { readProc = f }(readProc)
	pid := r.pid("a")
	daemon := fakePIDBase + 999
	r.fs.alive[daemon] = true
	readProc = func(p int) (proc.Process, error) { return proc.Process{PID: p, PGID: pid, SID: pid}, nil }
	r.notifyFrom("a", pid, pid, "MAINPID="+itoa(daemon)+"\nREADY=1")
	r.wantStates("a=ready")
	r.exit("a", 0) // the forking parent leaves
	r.wantStates("a=ready")
	if r.pid("a") != daemon {
		t.Fatalf("pid %d, want the MAINPID %d", r.pid("a"), daemon)
	}
	r.notifyFrom("a", daemon, pid, "STATUS=daemon")
	if r.svc("a").zd.statusText != "daemon" {
		t.Errorf("the adopted main's STATUS= was not taken")
	}
	if err := r.ctl(func() error { return r.s.Stop([]string{"a"}) }); err != nil {
		t.Fatal(err)
	}
	if k := r.fs.kills[len(r.fs.kills)-1]; k.pid != daemon || k.sig != unix.SIGTERM {
		t.Errorf("stop sent %v: want SIGTERM to the adopted main alone (it leads no group)", r.fs.kills)
	}
	r.exitPID(daemon, 0, unix.SIGTERM)
	r.wantStates("a=stopped")
	if v := r.svc("a"); v.zd.reason != "stopped by user" {
		t.Errorf("reason %q", v.zd.reason)
	}
}

func TestListenSockets(t *testing.T) {
	mk := func(addrs ...string) *Service {
		var as []listen.Addr
		for _, a := range addrs {
			pa, err := listen.ParseAddress(a)
			if err != nil {
				t.Fatal(err)
			}
			as = append(as, pa)
		}
		return &Service{Service: &config.Service{Name: "web", Listen: as, Restart: config.RestartAlways}, Spec: spawnSpec("/bin/sh")}
	}
	dir := t.TempDir()
	sockA, sockB := dir+"/a.sock", dir+"/b.sock"
	next := mk("unix://"+sockA, "unix://"+sockB)
	next.Listen[0].Name = "renamed"
	defaults(next)
	r := zdRig(t, Config{Reload: func() (*Reloaded, error) {
		return &Reloaded{Services: []*Service{next}, Grace: time.Hour}, nil
	}}, mk("unix://"+sockA, "tcp://127.0.0.1:0"))
	v := r.svc("web")
	if r.s.sockets(v) == nil || len(r.s.sockets(v).Files) != 2 {
		t.Fatalf("sockets %+v", r.s.sockets(v))
	}
	first := r.s.sockets(v).Files[0]
	pid := r.pid("web")
	spec := r.fs.specs[pid]
	if len(spec.Files) != 5 || spec.Files[3] != first.Fd() {
		t.Errorf("files %v, want fds 0-2 and the two sockets", spec.Files)
	}
	for k, want := range map[string]string{"LISTEN_FDS": "2", "LISTEN_FDNAMES": "web:web"} {
		if got, _ := envOf(spec.Env, k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if spec.Argv[0] != listen.SelfExe || spec.Argv[1] != listen.TrampolineArg {
		t.Errorf("argv %q: not through the trampoline (LISTEN_PID)", spec.Argv)
	}
	// Kept across a restart and a stop: a connection waits in the backlog.
	r.exit("web", 0)
	r.advance(time.Second)
	if r.s.sockets(v).Files[0] != first {
		t.Error("a restart reopened the sockets")
	}
	if err := r.ctl(func() error { return r.s.Stop([]string{"web"}) }); err != nil {
		t.Fatal(err)
	}
	r.exitPID(r.pid("web"), 0, unix.SIGTERM)
	r.wantStates("web=stopped")
	c, err := net.Dial("unix", sockA)
	if err != nil {
		t.Fatalf("connect while stopped: %v (want it queued in the backlog)", err)
	}
	c.Close()
	if err := r.ctl(func() error { return r.s.Start([]string{"web"}) }); err != nil {
		t.Fatal(err)
	}
	if r.s.sockets(v).Files[0] != first {
		t.Error("a start after a stop reopened the sockets")
	}
	// A reload that changes listen: at the restart it causes, the
	// address still listed keeps its socket (with a connection waiting in
	// its backlog), the one no longer listed is closed, the new one opened.
	waiting, err := net.Dial("unix", sockA)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	r.signal(unix.SIGHUP)
	r.exitPID(r.pid("web"), 0, unix.SIGTERM)
	if len(r.s.sockets(v).Files) != 2 || r.s.sockets(v).Files[0] != first || !slices.Equal(r.s.sockets(v).Names, []string{"renamed", "web"}) {
		t.Fatalf("after the reload: %+v (first %p)", r.s.sockets(v), first)
	}
	if spec := r.fs.specs[r.pid("web")]; spec.Files[3] != first.Fd() {
		t.Errorf("the new start got fds %v, want the kept socket %d as fd 3", spec.Files, first.Fd())
	}
	ln, err := net.FileListener(first)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetDeadline(time.Now().Add(10 * time.Second))
	if c, err := ln.Accept(); err != nil {
		t.Errorf("the connection made before the reload is gone: %v", err)
	} else {
		c.Close()
	}
	ln.Close()
	if _, err := net.Dial("unix", sockB); err != nil {
		t.Errorf("new address: %v", err)
	}
	if n := len(r.fs.specs[r.pid("web")].Files); n != 5 {
		t.Errorf("%d fds, want 0-2 and two sockets", n)
	}
	// A reload that removes it closes them.
	next = &Service{Service: &config.Service{Name: "other"}}
	defaults(next)
	r.signal(unix.SIGHUP)
	r.exitPID(r.fs.nextPID-1, 0, unix.SIGTERM)
	if r.s.sockets(v) != nil || !v.forgotten {
		t.Errorf("removed service: sockets %+v, forgotten %v", r.s.sockets(v), v.forgotten)
	}
	for _, p := range []string{sockA, sockB} {
		if _, err := net.Dial("unix", p); err == nil {
			t.Errorf("a removed service's socket %s still accepts", p)
		}
	}
}

func TestListenBindError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, _ := listen.ParseAddress("tcp://" + l.Addr().String())
	var log syncBuf
	r := zdRig(t, Config{Log: slogTo(&log)}, &Service{Service: &config.Service{Name: "web", Listen: []listen.Addr{a}, Restart: config.RestartNever}, Spec: spawnSpec("/bin/sh")})
	r.wantStates("web=failed")
	if want := "service web: listen tcp://" + l.Addr().String() + ": bind: address already in use (EADDRINUSE)"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
}

func spawnSpec(argv0 string, env ...string) spawn.Spec {
	return spawn.Spec{Argv: []string{argv0}, Env: append([]string{"PATH=/usr/bin:/bin"}, env...)}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func itoa(n int) string { return strconv.Itoa(n) }

// notifyAs delivers a datagram from pid through notify socket n, as its
// reader would.
func (r *rig) notifyAs(n *nsock, pid int, msg string) {
	r.t.Helper()
	d := sdnotify.Datagram{PID: pid, Message: sdnotify.Parse([]byte(msg))}
	r.do(func() { r.s.onNotify(n, d, pid, pid) })
}

// Replicas share their sockets (one accept queue), named after the
// replicated service.
func TestReplicasShareSockets(t *testing.T) {
	a, _ := listen.ParseAddress("tcp://127.0.0.1:0")
	svcs := replicaSvcs("web", 2, "")
	for _, v := range svcs {
		v.Listen, v.Spec = []listen.Addr{a}, spawnSpec("/bin/sh")
	}
	r := zdRig(t, Config{}, svcs...)
	s0, s1 := r.fs.specs[r.pid("web-0")], r.fs.specs[r.pid("web-1")]
	if len(s0.Files) != 4 || len(s1.Files) != 4 || s0.Files[3] != s1.Files[3] {
		t.Fatalf("files %v and %v: want the same socket as fd 3", s0.Files, s1.Files)
	}
	for _, sp := range []spawn.Spec{s0, s1} {
		if v, _ := envOf(sp.Env, "LISTEN_FDNAMES"); v != "web" {
			t.Errorf("LISTEN_FDNAMES=%q, want the replicated service's name web", v)
		}
	}
}

// start-first with listen and notify: the new process gets the same
// socket and a NOTIFY_SOCKET of its own; its READY=1 promotes it; then
// the service speaks through the new socket, the retiring old process
// through its own, and the watchdog watches the new process.
func TestStartFirstNotifyListen(t *testing.T) {
	a, _ := listen.ParseAddress("tcp://127.0.0.1:0")
	def := notifySvc("web", time.Minute, 5*time.Second)
	def.Update, def.Listen = config.UpdateStartFirst, []listen.Addr{a}
	r := zdRig(t, Config{}, def)
	web := r.svc("web")
	old := r.pid("web")
	oldNS := web.zd.ns
	r.notifyAs(oldNS, old, "READY=1\nSTATUS=old")
	r.wantStates("web=ready")
	ch := r.restartNow("web")
	c := web.shadow
	if c == nil || !c.alive() {
		t.Fatalf("no candidate started (%v)", r.fs.alive)
	}
	so, sc := r.fs.specs[old], r.fs.specs[c.pid]
	if so.Files[3] != sc.Files[3] {
		t.Errorf("the candidate got fd 3 %d, the old process %d: want the same socket", sc.Files[3], so.Files[3])
	}
	po, _ := envOf(so.Env, "NOTIFY_SOCKET")
	pc, _ := envOf(sc.Env, "NOTIFY_SOCKET")
	if po == pc || c.zd.ns == nil || c.zd.ns == oldNS {
		t.Fatalf("NOTIFY_SOCKET old %q candidate %q: want one each", po, pc)
	}
	r.notifyAs(oldNS, c.pid, "READY=1") // through the wrong socket: not the old one's process
	if web.shadow != c || web.pid != old {
		t.Fatal("promoted by a READY=1 the candidate sent through the old socket")
	}
	newPID := c.pid
	r.notifyAs(c.zd.ns, newPID, "READY=1\nSTATUS=new")
	if web.pid != newPID || web.zd.ns == oldNS || web.zd.statusText != "new" {
		t.Fatalf("after the candidate's READY=1: pid %d (want %d), status %q", web.pid, newPID, web.zd.statusText)
	}
	retiring := web.shadow
	if retiring == nil || retiring.zd.ns != oldNS || oldNS.owner != retiring {
		t.Fatalf("the old process's socket did not move to the retiring shadow")
	}
	r.notifyAs(oldNS, old, "STATUS=old says goodbye\nSTOPPING=1")
	if web.zd.statusText != "new" {
		t.Errorf("the retiring process's STATUS= reached the service: %q", web.zd.statusText)
	}
	r.exitPID(old, 0, unix.SIGTERM)
	if err, ok := outcome(t, ch); !ok || err != nil {
		t.Fatalf("restart outcome %v %v", err, ok)
	}
	if oldNS.owner != nil {
		t.Error("the old process's notify socket was not closed after it exited")
	}
	// The watchdog watches the new process.
	r.advance(4 * time.Second)
	r.notifyAs(web.zd.ns, newPID, "WATCHDOG=1")
	r.advance(4 * time.Second)
	if got := r.sent(newPID); len(got) != 0 {
		t.Fatalf("fed watchdog: sent %v", got)
	}
	r.advance(2 * time.Second)
	if got := r.sent(newPID); !slices.Equal(got, []syscall.Signal{unix.SIGTERM}) {
		t.Errorf("missed watchdog after the replacement: sent %v, want SIGTERM", got)
	}
}

// MAINPID= names the process tend will signal for the service from then on
// (and hands the service to when its main exits). systemd refuses a
// MAINPID that is the manager itself, and one outside the service unless
// a privileged process sent it; tend refuses one that is itself, PID 1,
// or another service's process in every case (a stop of the service would
// otherwise signal tend's whole namespace, kill(-1), or the other
// service's group), and one outside the service from an unprivileged
// sender.
func TestMainPIDMustBeTheServices(t *testing.T) {
	const root, user = 0, 1000
	for _, tc := range []struct {
		name   string
		uid    int
		target func(a, other int) (pid int, p proc.Process)
		accept bool
	}{
		{"pid 1", root, func(a, _ int) (int, proc.Process) { return 1, proc.Process{PID: 1, PGID: 1, SID: 1} }, false},
		{"tend itself", root, func(a, _ int) (int, proc.Process) {
			me := unix.Getpid()
			return me, proc.Process{PID: me, PGID: me, SID: me}
		}, false},
		{"another service's main", root, func(_, o int) (int, proc.Process) { return o, proc.Process{PID: o, PPID: 1, PGID: o, SID: o} }, false},
		{"a process of another service's group", root, func(_, o int) (int, proc.Process) {
			return o + 500, proc.Process{PID: o + 500, PPID: o, PGID: o, SID: o}
		}, false},
		{"unrelated, unprivileged sender", user, func(_, _ int) (int, proc.Process) {
			return fakePIDBase + 777, proc.Process{PID: fakePIDBase + 777, PPID: 1, PGID: fakePIDBase + 777, SID: fakePIDBase + 777}
		}, false},
		{"unrelated, root sender (a double-forked daemon)", root, func(_, _ int) (int, proc.Process) {
			return fakePIDBase + 777, proc.Process{PID: fakePIDBase + 777, PPID: 1, PGID: fakePIDBase + 777, SID: fakePIDBase + 777}
		}, true},
		{"in its group, unprivileged", user, func(a, _ int) (int, proc.Process) {
			return fakePIDBase + 777, proc.Process{PID: fakePIDBase + 777, PPID: a, PGID: a, SID: a}
		}, true},
		{"its grandchild in a session of its own, unprivileged", user, func(a, _ int) (int, proc.Process) {
			return fakePIDBase + 778, proc.Process{PID: fakePIDBase + 778, PPID: fakePIDBase + 777, PGID: fakePIDBase + 778, SID: fakePIDBase + 778}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := zdRig(t, Config{}, notifySvc("a", time.Minute, 0), &Service{Service: &config.Service{Name: "other"}, Spec: spawnSpec("other")})
			defer func(f func(int) (proc.Process, error)) { readProc = f }(readProc)
			a, other := r.pid("a"), r.pid("other")
			target, tp := tc.target(a, other)
			procs := map[int]proc.Process{
				a:                 {PID: a, PPID: 1, PGID: a, SID: a},
				other:             {PID: other, PPID: 1, PGID: other, SID: other},
				fakePIDBase + 777: {PID: fakePIDBase + 777, PPID: a, PGID: fakePIDBase + 777, SID: fakePIDBase + 777},
				target:            tp,
			}
			readProc = func(p int) (proc.Process, error) {
				if pr, ok := procs[p]; ok {
					return pr, nil
				}
				return proc.Process{}, unix.ESRCH
			}
			r.fs.alive[target] = true
			v := r.svc("a")
			d := sdnotify.Datagram{PID: a, UID: tc.uid, Message: sdnotify.Parse([]byte("MAINPID=" + itoa(target) + "\nREADY=1"))}
			r.do(func() { r.s.onNotify(v.zd.ns, d, a, a) })
			r.wantStates("a=ready other=running")
			if got := v.zd.mainPID == target; got != tc.accept {
				t.Fatalf("MAINPID=%d taken: %v, want %v", target, got, tc.accept)
			}
			r.exit("a", 0) // the forking parent leaves
			if tc.accept {
				if r.pid("a") != target {
					t.Errorf("pid %d, want the MAINPID %d", r.pid("a"), target)
				}
				return
			}
			if p := r.svc("a").pid; p == target {
				t.Fatalf("the service's pid became %d after a refused MAINPID", p)
			}
			for _, k := range r.fs.kills {
				if k.pid == -1 || k.pid == 1 || k.pid == -target || k.pid == target {
					t.Errorf("tend sent %v after a refused MAINPID", k)
				}
			}
		})
	}
}

// A process that is not the service's sending in a loop: every message is
// counted, the log gets a line at the 1st, 2nd, 4th, … only (it got one
// per datagram: a flood into the container's log and log files).
func TestNotifyRejectedLogBounded(t *testing.T) {
	var buf strings.Builder
	r := zdRig(t, Config{Log: slog.New(slog.NewTextHandler(&buf, nil))}, notifySvc("a", time.Minute, 0))
	for range 1000 {
		r.notifyFrom("a", 4242, 4242, "STATUS=x")
	}
	if n := r.svc("a").rejectedCount(); n == nil || *n != 1000 {
		t.Errorf("rejected %v, want 1000", n)
	}
	if lines := strings.Count(buf.String(), "not the service's; ignored"); lines < 1 || lines > 10 {
		t.Errorf("%d log lines for 1000 rejected messages, want 1-10", lines)
	}
}

// TestReasonsAsReadmeSays: the reason values the README lists, each
// reached the way a user reaches it, through the loop.
func TestReasonsAsReadmeSays(t *testing.T) {
	r := zdRig(t, Config{}, notifySvc("db", time.Minute, 0))
	reason := func(want string) {
		t.Helper()
		if got := r.svc("db").zd.reason; got != want {
			t.Errorf("reason %q, want %q (state %s)", got, want, r.svc("db").state)
		}
	}
	reason("started")
	db := r.pid("db")
	r.notifyFrom("db", db, db, "READY=1")
	reason("ready (READY=1)")
	r.notifyFrom("db", db, db, "RELOADING=1")
	r.wantStates("db=ready")
	reason("reloading (RELOADING=1)")
	r.notifyFrom("db", db, db, "READY=1")
	reason("ready (READY=1 after RELOADING=1)")
	r.notifyFrom("db", db, db, "STOPPING=1")
	reason("stopping (STOPPING=1)")
	r.exit("db", 3)
	reason("exited 3")
	r.advance(time.Minute)
	reason("restarted after exited 3")

	if err := r.ctl(func() error { return r.s.Stop([]string{"db"}) }); err != nil {
		t.Fatal(err)
	}
	r.killed("db", unix.SIGTERM)
	r.wantStates("db=stopped")
	reason("stopped by user")
	if err := r.ctl(func() error { return r.s.Start([]string{"db"}) }); err != nil {
		t.Fatal(err)
	}
	r.wantStates("db=starting")
	reason("started by user")
	db = r.pid("db")
	r.notifyFrom("db", db, db, "READY=1")
	if err := r.ctl(func() error { return r.s.Restart([]string{"db"}) }); err != nil {
		t.Fatal(err)
	}
	r.killed("db", unix.SIGTERM)
	r.advance(time.Second)
	reason("restarted by user")
}
