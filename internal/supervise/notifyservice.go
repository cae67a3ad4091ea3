package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/listen"
	sdnotify "github.com/tend-sh/tend/internal/notify"
	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/safe"
	"github.com/tend-sh/tend/internal/spawn"
	"github.com/tend-sh/tend/internal/trust"
)

// Services with ready = { notify = true } (issue 20): each gets a
// NOTIFY_SOCKET of its own, a datagram socket at a path in a directory
// only tend and the service's user can enter (never an abstract socket,
// which every process of the network namespace could reach). A goroutine
// per socket reads the datagrams (with the sender's credentials, which the
// kernel fills in) and posts them to the loop; the loop accepts a message
// only from the service's own processes: its main pid, the MAINPID= it
// announced, or a process in its process group or session. Others are
// ignored and counted (tend_notify_rejected_total). Services without
// notify get no NOTIFY_SOCKET at all.

// zdState is a service's part of issue 20: its sockets, its notify socket
// and what it said over it, its watchdog, and why it is in its state.
type zdState struct {
	ns *nsock

	statusText string
	rejected   uint64
	mainPID    int  // MAINPID= of the current run (0: its own pid)
	single     bool // v.pid is an adopted MAINPID that leads no group: signal it alone
	errno      int  // ERRNO= of the current run (0: none)
	reloading  bool // RELOADING=1 not yet followed by READY=1

	watchdog    timer
	missed      bool // the watchdog ran out: the exit is a failure
	readyBy     time.Time
	fromBackoff bool

	// reason says why the service is in its state (status.ServiceStatus).
	reason string
}

// nsock is a notify socket and the service it speaks for now: a
// start-first replacement hands the new process's socket to the service,
// and the old one's to the retiring shadow (promoteZD).
type nsock struct {
	sock  *sdnotify.Socket
	owner *svc // nil once closed
	user  string
}

// tWatchdog: no WATCHDOG=1 within the service's watchdog.
const tWatchdog timerKind = 200 // beyond the job timers (100, 101)

// readProc reads a sender's process group and session (a variable for
// the tests).
var readProc = proc.Read

// notifies reports whether v is a notify service.
func (v *svc) notifies() bool { return v.Ready != nil && v.Ready.Kind == config.ProbeNotify }

// sigTarget is the target that signals v's processes: its process group, or
// its main alone when that is an adopted MAINPID leading no group.
func (v *svc) sigTarget() int {
	if v.zd.single {
		return v.pid
	}
	return -v.pid
}

// prepareStart readies spec for a start of v: its sockets as fds 3, … with
// LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID, its NOTIFY_SOCKET (or none),
// WATCHDOG_USEC/WATCHDOG_PID. spec.Files holds fds 0-2.
func (s *Supervisor) prepareStart(v *svc, spec *spawn.Spec) error {
	v.zd.fromBackoff = v.state == Backoff
	v.zd.statusText, v.zd.mainPID, v.zd.single, v.zd.errno, v.zd.reloading, v.zd.missed = "", 0, false, 0, false, false
	if err := s.openSockets(v); err != nil {
		return err
	}
	// Other services' environments are left as they are: tend's face
	// removed tend's own NOTIFY_SOCKET from the environment they start
	// from (cmd/tend), the tini and dumb-init faces pass it through.
	if v.notifies() {
		if err := s.notifySocket(v); err != nil {
			return err
		}
		spec.Env = dropEnv(spec.Env, "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
		spec.Env = append(spec.Env, "NOTIFY_SOCKET="+v.zd.ns.sock.Path)
		if v.Watchdog > 0 {
			spec.Env = append(spec.Env, "WATCHDOG_USEC="+strconv.FormatInt(v.Watchdog.Microseconds(), 10))
		}
	}
	switch {
	case s.sockets(v) != nil:
		return listen.Pass(spec, s.sockets(v), s.selfExe())
	case v.notifies() && v.Watchdog > 0:
		return listen.Trampoline(spec, s.selfExe()) // sets WATCHDOG_PID
	}
	return nil
}

// selfExe is the trampoline's binary: tend's own.
func (s *Supervisor) selfExe() string { return listen.SelfExe }

func dropEnv(env []string, keys ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		keep := true
		for _, k := range keys {
			if len(kv) > len(k) && kv[:len(k)] == k && kv[len(k)] == '=' {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// startedZD follows a successful start of v: its ready deadline, its
// watchdog, its reason.
func (s *Supervisor) startedZD(v *svc) {
	switch {
	case v.zd.fromBackoff && v.zd.reason != "":
		v.zd.reason = "restarted after " + v.zd.reason
	case v.zd.reason == "" || v.zd.fromBackoff:
		v.zd.reason = "started"
	}
	if v.Ready != nil {
		v.zd.readyBy = s.sys.now().Add(v.Ready.Timeout)
	}
	if v.notifies() && v.Watchdog > 0 {
		v.zd.watchdog = s.after(v.Watchdog, v, tWatchdog)
	}
}

// notifyBase is the directory of the services' notify socket
// directories: Config.NotifyDir, else a new one under Config.NotifyParent
// (the control socket's directory; /run/tend), removed at exit. Where tend
// may not write there, or another user could change that directory or
// one above it (the trust rule of the control socket and log files), the
// new one is made in the temporary directory instead.
func (s *Supervisor) notifyBase() (string, error) {
	if s.notifyDir != "" {
		return s.notifyDir, nil
	}
	if s.cfg.NotifyDir != "" {
		s.notifyDir = s.cfg.NotifyDir
		return s.notifyDir, nil
	}
	parent := s.cfg.NotifyParent
	if parent == "" {
		parent = "/run/tend"
	}
	if err := os.MkdirAll(parent, 0o755); err != nil || unix.Access(parent, unix.W_OK) != nil || !trusted(parent) {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "notify-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the services' users enter it
		return "", err
	}
	s.notifyDir, s.notifyDirOwned = dir, true
	return dir, nil
}

// trusted reports whether only root and tend's uid can change dir and
// every directory above it (package trust).
func trusted(dir string) bool {
	real, err := filepath.EvalSymlinks(dir)
	return err == nil && trust.Tree(dir, real, uint32(os.Geteuid()), "the notify sockets") == nil
}

// notifySocket makes sure v has its NOTIFY_SOCKET (owned by its user)
// and a goroutine reading it.
func (s *Supervisor) notifySocket(v *svc) error {
	if v.zd.ns != nil && v.zd.ns.user == v.User {
		return nil
	}
	v.releaseNotify()
	base, err := s.notifyBase()
	if err != nil {
		return &spawn.Error{Name: v.Name, Err: err, Code: spawn.CodeOther}
	}
	uid, gid := -1, -1
	if c := v.Spec.Cred; c != nil {
		uid, gid = int(c.Uid), int(c.Gid)
	}
	// A directory per socket: a start-first candidate has one of its own
	// beside the old process's.
	s.nsSeq++
	ns, err := sdnotify.Listen(filepath.Join(base, strconv.Itoa(s.nsSeq)), uid, gid)
	if err != nil {
		return &spawn.Error{Name: v.Name, Err: err, Code: spawn.CodeOther}
	}
	n := &nsock{sock: ns, owner: v, user: v.User}
	v.zd.ns = n
	safe.Go("notify "+v.Name, func() {
		err := ns.Run(func(d sdnotify.Datagram) {
			pgid, sid := 0, 0
			if d.PID > 0 {
				// Read at once: the sender may be gone by the time the loop
				// looks (a short-lived helper such as systemd-notify).
				if p, err := readProc(d.PID); err == nil {
					pgid, sid = p.PGID, p.SID
				}
			}
			s.post(func() { s.onNotify(n, d, pgid, sid) })
		})
		if err != nil {
			s.post(func() { s.log.Warn("notify socket: "+err.Error(), "service", v.Name) })
		}
	})
	return nil
}

// onNotify handles one datagram of notify socket n, on the loop.
func (s *Supervisor) onNotify(n *nsock, d sdnotify.Datagram, pgid, sid int) {
	v := n.owner
	if v == nil || v.zd.ns != n || v.forgotten || !v.alive() {
		return // a closed socket's, or nobody runs to have sent it
	}
	if d.PID == 0 || (d.PID != v.pid && d.PID != v.zd.mainPID && pgid != v.pid && sid != v.pid) {
		v.zd.rejected++
		// Logged at the 1st, 2nd, 4th, 8th, … rejection: a process
		// sending in a loop (a helper in a session of its own, another
		// service of the same user) must not flood the log.
		if n := v.zd.rejected; n&(n-1) == 0 {
			s.log.Warn("sd_notify message from a process that is not the service's; ignored", "service", v.Name, "sender_pid", d.PID, "service_pid", v.pid, "rejected", n)
		}
		return
	}
	if d.Invalid != "" {
		s.log.Warn("sd_notify message ignored: "+d.Invalid, "service", v.Name, "sender_pid", d.PID)
		return
	}
	m := d.Message
	if m.HasStatus {
		v.zd.statusText = m.Status
	}
	if m.HasErrno {
		v.zd.errno = m.Errno
		s.log.Info("service reported an error (ERRNO=)", "service", v.Name, "errno", m.Errno, "err", unix.Errno(m.Errno).Error())
	}
	if m.MainPID != 0 && m.MainPID != v.pid {
		if why := s.foreignMain(v, d); why != "" {
			s.log.Warn("MAINPID= refused: "+why, "service", v.Name, "pid", v.pid, "mainpid", m.MainPID, "sender_pid", d.PID, "sender_uid", d.UID)
		} else {
			v.zd.mainPID = m.MainPID
			s.log.Info("main pid announced (MAINPID=)", "service", v.Name, "pid", v.pid, "mainpid", m.MainPID)
		}
	}
	if m.ExtendTimeout > 0 && v.probing(false) && v.readyTimer != nil {
		if by := s.sys.now().Add(m.ExtendTimeout); by.After(v.zd.readyBy) {
			v.readyTimer.Stop()
			v.zd.readyBy = by
			v.readyTimer = s.after(m.ExtendTimeout, v, tReadyTimeout)
		}
	}
	if m.Watchdog && v.Watchdog > 0 && v.zd.watchdog != nil {
		v.zd.watchdog.Stop()
		v.zd.watchdog = s.after(v.Watchdog, v, tWatchdog)
	}
	if m.Reloading {
		v.zd.reloading = true
		v.zd.reason = "reloading (RELOADING=1)"
	}
	if m.Stopping && !v.stopAsked {
		v.zd.reason = "stopping (STOPPING=1)"
		s.log.Info("service says it is stopping (STOPPING=1)", "service", v.Name)
	}
	if m.Ready {
		switch {
		case v.probing(false):
			v.zd.reason = "ready (READY=1)"
			s.becameReady(v, Ready)
		case v.zd.reloading:
			v.zd.reloading = false
			v.zd.reason = "ready (READY=1 after RELOADING=1)"
		}
	}
}

// foreignMain says why the MAINPID= of d may not become v's main ("": it
// may). tend signals that process for v from then on (its group when it
// leads one) and hands v to it when v's process exits, so, as systemd
// does: never tend itself or PID 1 (kill(-1) would reach the whole
// namespace); never a process of another service (its pid, group,
// session or an ancestor is another service's main); a process of v's
// (the sender itself, in v's group or session, or a descendant of v's
// main) always; one outside v only when root sent it (a daemon that
// double-forked and whose middle process has gone).
func (s *Supervisor) foreignMain(v *svc, d sdnotify.Datagram) string {
	m := d.MainPID
	if m == 1 || m == unix.Getpid() {
		return "it is tend or PID 1"
	}
	if m == d.PID {
		return "" // the sender was checked: one of v's
	}
	p, err := readProc(m)
	if err != nil {
		return "no such process"
	}
	other := func(pid int) bool {
		o := s.byPID[pid]
		return o != nil && o != v
	}
	if p.PGID == v.pid || p.SID == v.pid {
		return ""
	}
	if other(m) || other(p.PGID) || other(p.SID) {
		return "it is another service's process"
	}
	for i, q := 0, p; i < 64 && q.PPID > 1; i++ {
		switch {
		case q.PPID == v.pid:
			return ""
		case other(q.PPID):
			return "it is another service's process"
		}
		if q, err = readProc(q.PPID); err != nil {
			break
		}
	}
	if d.UID != 0 {
		return "it is not a process of the service, and the sender is not root"
	}
	s.log.Warn("MAINPID= names a process outside the service; taken, as root sent it", "service", v.Name, "mainpid", m)
	return ""
}

// onZDTimer handles v's watchdog timer; it reports whether ev was one.
func (s *Supervisor) onZDTimer(ev timerEvent) bool {
	if ev.kind != tWatchdog {
		return false
	}
	v := ev.v
	v.zd.watchdog = nil
	if ev.gen != v.gen || !v.alive() || v.stopAsked || v.again || v.next != nil || v.unhealthy {
		return true
	}
	// As a failed health check after its last allowed failure: restart
	// at once (stop_signal, then the restart policy with the exit counted
	// as a failure, toward max_restarts).
	s.log.Error("service missed its watchdog (no WATCHDOG=1); restarting", "service", v.Name, "pid", v.pid, "watchdog", v.Watchdog)
	v.zd.missed, v.unhealthy = true, true
	v.zd.reason = "watchdog"
	s.signalStop(v, v.StopSignal)
	return true
}

// handOver: v's process exited, but the process it announced with
// MAINPID= still runs: that one becomes the service's main (tend reaps
// it: it is an orphan of tend's, as PID 1 or subreaper). It reports
// whether it did.
func (s *Supervisor) handOver(v *svc) bool {
	m := v.zd.mainPID
	if m == 0 || m == v.pid || m == 1 || m == unix.Getpid() || s.sys.kill(m, 0) != nil {
		return false
	}
	if o := s.byPID[m]; o != nil && o != v {
		return false // gone and its pid reused by another service's main
	}
	delete(s.byPID, v.pid)
	s.log.Info("main process exited; its MAINPID= takes over", "service", v.Name, "pid", v.pid, "mainpid", m)
	v.zd.single = true
	if p, err := readProc(m); err == nil && p.PGID == m {
		v.zd.single = false
	}
	v.pid, v.zd.mainPID = m, 0
	s.byPID[m] = v
	return true
}

// noteExit records why v's process ended (status reason).
func (s *Supervisor) noteExit(v *svc, code int) {
	if v.state == Failed && v.zd.reason != "" {
		return // fail() said why (a ready timeout)
	}
	why := "exited " + strconv.Itoa(code)
	if r := s.oom.reasons[v.Name]; r != "" {
		why = r // oom-killed, possibly-oom-killed (noteOOM, this batch)
	}
	if v.zd.errno != 0 {
		why += " (ERRNO=" + strconv.Itoa(v.zd.errno) + ": " + unix.Errno(v.zd.errno).Error() + ")"
	}
	switch {
	case v.zd.missed:
		why = "watchdog"
	case v.unhealthy:
		why = "health check failed"
	case s.phase != running:
		why = "tend is shutting down"
	case v.removed:
		why = "removed by a reload"
	case v.next != nil:
		why = "changed by a reload"
	case (v.stopAsked || v.again) && v.zd.reason != "":
		return // who asked said why
	}
	v.zd.reason = why
}

// rejectedCount is the status's NotifyRejected: nil for services without
// a notify socket.
func (v *svc) rejectedCount() *uint64 {
	if !v.notifies() && v.zd.rejected == 0 {
		return nil
	}
	n := v.zd.rejected
	return &n
}

// releaseNotify closes v's notify socket (its reader ends) and stops its
// watchdog.
func (v *svc) releaseNotify() {
	if n := v.zd.ns; n != nil {
		n.sock.Close()
		n.owner = nil
		v.zd.ns = nil
	}
	if v.zd.watchdog != nil {
		v.zd.watchdog.Stop()
		v.zd.watchdog = nil
	}
}

// releaseZD closes v's notify socket, and its listen sockets when no
// other instance uses them (a reload removed v).
func (s *Supervisor) releaseZD(v *svc) {
	v.releaseNotify()
	s.dropPool(v)
}

// promoteZD: start-first (update.go) made the candidate c's process v's,
// and v's old process the retiring shadow old. The notify sockets follow
// the processes: v speaks through c's, old through v's former one; what
// the new process said is v's now, and v's watchdog restarts for it.
func (s *Supervisor) promoteZD(v, c, old *svc) {
	old.zd = zdState{ns: v.zd.ns, mainPID: v.zd.mainPID, single: v.zd.single, reason: v.zd.reason}
	if old.zd.ns != nil {
		old.zd.ns.owner = old
	}
	v.zd.ns, c.zd.ns = c.zd.ns, nil
	if v.zd.ns != nil {
		v.zd.ns.owner = v
	}
	v.zd.statusText, v.zd.mainPID, v.zd.single, v.zd.errno, v.zd.reloading = c.zd.statusText, c.zd.mainPID, c.zd.single, c.zd.errno, c.zd.reloading
	v.zd.reason = "replaced start-first"
	if c.zd.watchdog != nil {
		c.zd.watchdog.Stop()
		c.zd.watchdog = nil
	}
	if v.zd.watchdog != nil {
		v.zd.watchdog.Stop()
	}
	v.zd.watchdog = nil
	if v.notifies() && v.Watchdog > 0 {
		v.zd.watchdog = s.after(v.Watchdog, v, tWatchdog)
	}
}

// closeZD closes every service's sockets as tend exits, and removes the
// notify directories.
func (s *Supervisor) closeZD() {
	for _, v := range s.order {
		v.releaseNotify()
		if v.shadow != nil {
			v.shadow.releaseNotify()
		}
	}
	for k, p := range s.pools {
		p.set.Close()
		delete(s.pools, k)
	}
	if s.notifyDirOwned {
		os.RemoveAll(s.notifyDir)
	}
}
