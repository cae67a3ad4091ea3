package cri

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/crinode"
)

// tc is one case, run in each mode.
type tc struct {
	name string
	run  func(t *testing.T, k *kube)
}

// kube is a case's handle on its mode's node.
type kube struct {
	t   *testing.T
	md  *mode
	n   *crinode.Node
	ctx context.Context
}

// TestCRI runs every case in both modes, in parallel where -parallel
// allows.
func TestCRI(t *testing.T) {
	if env == nil {
		t.Fatal("no environment")
	}
	for _, md := range modes {
		t.Run(md.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					n := need(t, md)
					// Bound: only guards a hang (a case takes seconds; the
					// slowest waits 13 s by design).
					ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
					defer cancel()
					c.run(t, &kube{t: t, md: md, n: n, ctx: ctx})
				})
			}
		})
	}
	if len(modes) == 0 {
		t.Run("setup", func(t *testing.T) { need(t, &mode{}) })
	}
}

// pod runs a pod sandbox with the mode's handler, removed at cleanup. Pod
// names are unique per mode and case.
func (k *kube) pod(p *crinode.Pod) *crinode.Pod {
	k.t.Helper()
	p.Name = k.md.name + "-" + strings.ToLower(strings.ReplaceAll(k.t.Name()[strings.LastIndex(k.t.Name(), "/")+1:], "_", "-")) + p.Name
	p.Handler = k.md.handler
	if err := k.n.Run(k.ctx, p); err != nil {
		k.t.Fatalf("RunPodSandbox %s: %v", p.Name, err)
	}
	k.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := k.n.Remove(ctx, p); err != nil {
			k.t.Errorf("cleanup: %v", err)
		}
	})
	return p
}

// start creates and starts a container in the pod.
func (k *kube) start(p *crinode.Pod, c *crinode.Container) *crinode.Container {
	k.t.Helper()
	if c.Image == "" {
		c.Image = testImage
	}
	if err := k.n.Create(k.ctx, p, c); err != nil {
		k.t.Fatalf("CreateContainer %s: %v", c.Name, err)
	}
	if _, err := k.n.Crictl(k.ctx, "start", c.ID); err != nil {
		k.t.Fatalf("StartContainer %s: %v", c.Name, err)
	}
	return c
}

// stop is StopContainer with the given timeout (the pod's grace, as the
// kubelet passes it); it returns how long the call took.
func (k *kube) stop(c *crinode.Container, timeout int) time.Duration {
	k.t.Helper()
	t0 := time.Now()
	if _, err := k.n.Crictl(k.ctx, "stop", "--timeout", strconv.Itoa(timeout), c.ID); err != nil {
		k.t.Fatalf("StopContainer %s: %v", c.Name, err)
	}
	return time.Since(t0)
}

func (k *kube) status(c *crinode.Container) crinode.Status {
	k.t.Helper()
	st, err := k.n.Inspect(k.ctx, c.ID)
	if err != nil {
		k.t.Fatal(err)
	}
	return st
}

func (k *kube) exited(c *crinode.Container) crinode.Status {
	k.t.Helper()
	st, err := k.n.WaitExited(k.ctx, c.ID)
	if err != nil {
		k.t.Fatalf("%v\nlog:\n%s", err, k.log(c))
	}
	return st
}

func (k *kube) exec(c *crinode.Container, args ...string) string {
	k.t.Helper()
	out, err := k.n.Crictl(k.ctx, append([]string{"exec", c.ID}, args...)...)
	if err != nil {
		k.t.Fatalf("crictl exec: %v", err)
	}
	return out
}

// pid1 is the command line of the container's init, read on the host.
func (k *kube) pid1(c *crinode.Container) (pid int, args []string) {
	k.t.Helper()
	st := k.status(c)
	if st.Pid <= 0 {
		k.t.Fatalf("container %s: no pid in ContainerStatus (state %s)", c.Name, st.State)
	}
	return st.Pid, execd(k.t, st.Pid)
}

// execd is the command line of a container's init once runc's init has
// exec'd it: StartContainer can return before (runc start only releases
// the init, which then execs the process: "runc init" was read once, for a
// non-root user). Bound: only guards a hang; the exec takes milliseconds.
func execd(t *testing.T, pid int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		args := cmdline(t, pid)
		if len(args) != 2 || args[1] != "init" || filepath.Base(args[0]) != "runc" || time.Now().After(deadline) {
			return args
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cmdline(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// log is the container's CRI log file, content only ("TS STREAM TAG
// content" lines; partial lines joined).
func (k *kube) log(c *crinode.Container) string {
	st, err := k.n.Inspect(context.Background(), c.ID)
	if err != nil || st.LogPath == "" {
		return fmt.Sprintf("(no log: %v)", err)
	}
	f, err := os.Open(st.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) < 4 {
			continue
		}
		b.WriteString(f[3])
		if f[2] == "F" {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// outDir is a hostPath volume the container can write (mode 0777).
func outDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

const tendPath = "/dev/.tend/tend"

// wantTend checks that the container's PID 1 is the injected tend in
// front of the given command.
func (k *kube) wantTend(c *crinode.Container, cmd ...string) int {
	k.t.Helper()
	pid, args := k.pid1(c)
	want := append([]string{tendPath, "--"}, cmd...)
	if strings.Join(args, " ") != strings.Join(want, " ") {
		k.t.Fatalf("PID 1 of %s runs %q, want %q (tend injected)", c.Name, args, want)
	}
	return pid
}

func (k *kube) wantNotTend(c *crinode.Container, cmd ...string) {
	k.t.Helper()
	_, args := k.pid1(c)
	if strings.Join(args, " ") != strings.Join(cmd, " ") {
		k.t.Fatalf("PID 1 of %s runs %q, want %q (left alone)", c.Name, args, cmd)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("the app's cleanup did not finish: %v", err)
	}
	return string(b)
}

func procStatus(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func sleeper() []string { return []string{"/testprog", "sleep", "1000d"} }

var cases = []tc{
	{"pid1", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{})
		c := k.start(p, &crinode.Container{Name: "app", Command: sleeper()})
		pid := k.wantTend(c, sleeper()...)
		if got := procStatus(t, pid, "NSpid"); !strings.HasSuffix(got, "\t1") {
			t.Errorf("tend's NSpid %q: not PID 1 of the container", got)
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		// The pod's 30 s grace reaches tend, less its 1 s margin for the
		// final reap.
		if !strings.Contains("\x00"+string(env)+"\x00", "\x00TEND_GRACE=29s\x00") {
			t.Errorf("tend's environment has no TEND_GRACE=29s (the pod's 30 s grace less the margin): %q", env)
		}
		// The pause container is left alone.
		ppid, err := k.n.PodPid(k.ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := cmdline(t, ppid); strings.Join(got, " ") != "/pod-pause" {
			t.Errorf("pause container runs %q, want /pod-pause", got)
		}
		mi, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", ppid))
		if strings.Contains(string(mi), tendPath) {
			t.Errorf("the pause container has tend mounted")
		}
	}},
	{"seed_shell_wrapper", func(t *testing.T, k *kube) {
		// The seed case: sh -c "app; echo after" under SIGTERM from
		// StopContainer. Without tend, sh as PID 1 ignores SIGTERM and
		// the app is SIGKILLed at the timeout, its cleanup lost.
		// A 60 s pod grace widens the gap between the good outcome (~2 s)
		// and the bad one (the CRI timeout).
		out := outDir(t)
		p := k.pod(&crinode.Pod{Grace: 60})
		c := k.start(p, &crinode.Container{Name: "app", Mounts: map[string]string{"/out": out},
			Command: []string{"sh", "-c", "/testprog trapterm --file /out/done --delay 2s --ready /out/ready; echo after"}})
		waitFile(t, k, filepath.Join(out, "ready"))
		took := k.stop(c, 60)
		st := k.exited(c)
		if got := readFile(t, filepath.Join(out, "done")); !strings.Contains(got, "done SIGTERM") {
			t.Errorf("cleanup file %q", got)
		}
		// tend forwards SIGTERM to the whole group: sh dies of it (143)
		// once the app's cleanup is done (README: exit 143).
		if st.ExitCode != 143 || st.Reason != "Error" {
			t.Errorf("exit %d reason %q, want 143 Error", st.ExitCode, st.Reason)
		}
		// Bound: guards the bad outcome (the 60 s timeout); the good one is ~2 s.
		if took > 40*time.Second {
			t.Errorf("StopContainer took %v: the app was killed at the CRI timeout", took)
		}
	}},
	{"grace_annotation", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{Annotations: map[string]string{"tend.sh/grace": "3s"}})
		out := outDir(t)
		c := k.start(p, &crinode.Container{Name: "app", Mounts: map[string]string{"/out": out},
			Command: []string{"/testprog", "ignoreterm", "--ready", "/out/ready"}})
		waitFile(t, k, filepath.Join(out, "ready"))
		took := k.stop(c, 60)
		st := k.exited(c)
		// Bounds: at least the 3 s grace (less scheduling slack), and far
		// below the CRI's 60 s timeout (the bad outcome).
		if took < 2500*time.Millisecond || took > 40*time.Second {
			t.Errorf("StopContainer took %v; want tend.sh/grace 3s, not the 60 s CRI timeout", took)
		}
		if st.ExitCode != 137 {
			t.Errorf("exit %d, want 137 (the app SIGKILLed at tend's grace)", st.ExitCode)
		}
	}},
	{"pod_grace", func(t *testing.T, k *kube) {
		// The pod's 30 s grace is the injected tend's grace: an app that
		// needs 13 s finishes (exit 0 at ~13 s), as under plain runc; tend's
		// own 10 s default would SIGKILL it (137).
		out := outDir(t)
		p := k.pod(&crinode.Pod{Grace: 30})
		cmd := []string{"/testprog", "trapterm", "--file", "/out/done", "--delay", "13s", "--ready", "/out/ready"}
		c := k.start(p, &crinode.Container{Name: "app", Mounts: map[string]string{"/out": out}, Command: cmd})
		// Without tend the case passes too (plain runc gives the app its
		// 30 s): what it checks is that the injected tend does not cut it.
		k.wantTend(c, cmd...)
		waitFile(t, k, filepath.Join(out, "ready"))
		took := k.stop(c, 30)
		st := k.exited(c)
		if st.ExitCode != 0 {
			t.Errorf("exit %d after %v, want 0: the app needing 13 s of a 30 s pod grace was killed", st.ExitCode, took)
		}
		readFile(t, filepath.Join(out, "done"))
		if took < 12*time.Second {
			t.Errorf("StopContainer took %v, less than the app's 13 s cleanup", took)
		}
	}},
	{"opt_out", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{Annotations: map[string]string{"tend.sh/inject": "false"}})
		c := k.start(p, &crinode.Container{Name: "app", Command: sleeper()})
		k.wantNotTend(c, sleeper()...)
	}},
	{"invalid_annotation", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{Annotations: map[string]string{"tend.sh/grace": "soon"}})
		err := k.createFails(p, &crinode.Container{Name: "app", Image: testImage, Command: sleeper()})
		if !strings.Contains(err.Error(), `tend.sh/grace=`) || !strings.Contains(err.Error(), "soon") || !strings.Contains(err.Error(), "not a duration") {
			t.Errorf("the CRI error does not name the annotation: %v", err)
		}
	}},
	{"invalid_inject_sandbox_runs", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{Annotations: map[string]string{"tend.sh/inject": "no"}})
		if st, err := k.n.PodState(k.ctx, p.ID); err != nil || st != "SANDBOX_READY" {
			t.Errorf("sandbox state %q (%v), want SANDBOX_READY", st, err)
		}
		err := k.createFails(p, &crinode.Container{Name: "app", Image: testImage, Command: sleeper()})
		if !strings.Contains(err.Error(), "tend.sh/inject") {
			t.Errorf("the CRI error does not name tend.sh/inject: %v", err)
		}
		if st, err := k.n.PodState(k.ctx, p.ID); err != nil || st != "SANDBOX_READY" {
			t.Errorf("after the container's failure: sandbox state %q (%v), want SANDBOX_READY", st, err)
		}
	}},
	{"init_image", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{})
		c := k.start(p, &crinode.Container{Name: "app", Image: initImage})
		k.wantNotTend(c, "/sbin/tini", "--", "/testprog", "sleep", "1000d")
	}},
	{"readonly_nonroot", func(t *testing.T, k *kube) {
		uid := int64(1000)
		p := k.pod(&crinode.Pod{})
		c := k.start(p, &crinode.Container{Name: "app", User: &uid, ReadOnly: true, Command: sleeper()})
		pid := k.wantTend(c, sleeper()...)
		if got := procStatus(t, pid, "Uid"); !strings.HasPrefix(got, "1000\t") {
			t.Errorf("tend's Uid %q, want 1000", got)
		}
		if out, err := k.n.Crictl(k.ctx, "exec", c.ID, "touch", "/x"); err == nil {
			t.Errorf("the root filesystem is writable: %s", out)
		}
	}},
	{"zombies", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{})
		c := k.start(p, &crinode.Container{Name: "app",
			Command: []string{"sh", "-c", "/testprog orphans --count 200 --fanout 20; exec /testprog sleep 1000d"}})
		k.wantTend(c, "sh", "-c", "/testprog orphans --count 200 --fanout 20; exec /testprog sleep 1000d")
		out := k.exec(c, "/testprog", "pscheck")
		// Bound: only guards a hang; orphans are reaped in milliseconds.
		deadline := time.Now().Add(60 * time.Second)
		for strings.Contains(out, "zombies=") && !strings.Contains(out, "zombies=0") && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			out = k.exec(c, "/testprog", "pscheck")
		}
		if !strings.Contains(out, "zombies=0") {
			t.Errorf("zombies left in the container: %s", out)
		}
	}},
	{"logs", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{})
		cmd := []string{"/testprog", "spew", "--rate", "5000", "--lines", "3000"}
		c := k.start(p, &crinode.Container{Name: "app", Command: cmd})
		k.wantTend(c, cmd...) // the log passes through tend
		// spew stops writing after --lines and waits for SIGTERM: wait for
		// the last line in the CRI log (bound: only guards a hang), stop.
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(k.log(c), "\n3000 ") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		k.stop(c, 30)
		st := k.exited(c)
		if st.ExitCode != 0 || st.Reason != "Completed" {
			t.Errorf("exit %d reason %q, want 0 Completed", st.ExitCode, st.Reason)
		}
		lines := strings.Split(strings.TrimSuffix(k.log(c), "\n"), "\n")
		var seq []int
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			if n, err := strconv.Atoi(f[0]); err == nil {
				seq = append(seq, n)
			}
		}
		if len(seq) != 3000 {
			t.Fatalf("%d numbered lines in the CRI log, want 3000", len(seq))
		}
		for i, n := range seq {
			if n != i+1 {
				t.Fatalf("line %d of the CRI log is number %d: out of order or lost", i+1, n)
			}
		}
	}},
	{"init_and_several_containers", func(t *testing.T, k *kube) {
		out := outDir(t)
		p := k.pod(&crinode.Pod{})
		m := map[string]string{"/out": out}
		// Each container records its PID 1 (tend, injected into init
		// containers too) before it exits with its code.
		ic := k.start(p, &crinode.Container{Name: "init", Mounts: m, Command: recordPid1("/out/init", "true")})
		if st := k.exited(ic); st.ExitCode != 0 || st.Reason != "Completed" {
			t.Fatalf("init container: exit %d reason %q, want 0 Completed", st.ExitCode, st.Reason)
		}
		a := k.start(p, &crinode.Container{Name: "fails", Mounts: m, Command: recordPid1("/out/fails", "exit 3")})
		b := k.start(p, &crinode.Container{Name: "done", Mounts: m, Command: recordPid1("/out/done", "exit 0")})
		s := k.start(p, &crinode.Container{Name: "serves", Mounts: m, Command: []string{"/testprog", "waitfile", "--timeout", "1h", "/out/init"}})
		if st := k.exited(a); st.ExitCode != 3 || st.Reason != "Error" {
			t.Errorf("exit 3 container: exit %d reason %q, want 3 Error", st.ExitCode, st.Reason)
		}
		if st := k.exited(b); st.ExitCode != 0 || st.Reason != "Completed" {
			t.Errorf("exit 0 container: exit %d reason %q, want 0 Completed", st.ExitCode, st.Reason)
		}
		if st := k.exited(s); st.ExitCode != 0 {
			t.Errorf("the app did not see the init container's file: exit %d", st.ExitCode)
		}
		for _, r := range []struct{ file, rest string }{{"init", "true"}, {"fails", "exit 3"}, {"done", "exit 0"}} {
			wantTendRecorded(t, filepath.Join(out, r.file), recordPid1("/out/"+r.file, r.rest)...)
		}
	}},
	{"exec", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{})
		c := k.start(p, &crinode.Container{Name: "app", Command: sleeper()})
		k.wantTend(c, sleeper()...)
		if got := strings.TrimSpace(k.exec(c, "echo", "hello")); got != "hello" {
			t.Errorf("crictl exec echo hello: %q", got)
		}
		if _, err := k.n.Crictl(k.ctx, "exec", c.ID, "sh", "-c", "exit 7"); err == nil || !strings.Contains(err.Error(), "exit code 7") {
			t.Errorf("crictl exec sh -c 'exit 7': %v, want exit status 7", err)
		}
	}},
	{"share_process_namespace", func(t *testing.T, k *kube) {
		p := k.pod(&crinode.Pod{SharePID: true})
		c := k.start(p, &crinode.Container{Name: "app",
			Command: []string{"sh", "-c", `sh -c "sleep 1000 &"; exec /testprog sleep 1000d`}})
		pid := k.wantTend(c, "sh", "-c", `sh -c "sleep 1000 &"; exec /testprog sleep 1000d`)
		if got := procStatus(t, pid, "NSpid"); strings.HasSuffix(got, "\t1") {
			t.Errorf("tend is PID 1 (NSpid %q) in a shared process namespace", got)
		}
		if got := strings.ReplaceAll(k.exec(c, "cat", "/proc/1/cmdline"), "\x00", " "); strings.TrimSpace(got) != "/pod-pause" {
			t.Errorf("PID 1 of the pod runs %q, want /pod-pause", got)
		}
		// The orphaned sleep is adopted by tend (a subreaper), not by pause.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if orphanParent(pid, "sleep") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no orphaned sleep re-parented to tend (host pid %d)", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}},
	{"restricted", func(t *testing.T, k *kube) {
		uid := int64(1000)
		out := outDir(t)
		p := k.pod(&crinode.Pod{Restricted: true})
		c := k.start(p, &crinode.Container{Name: "app", User: &uid, Restricted: true, Mounts: map[string]string{"/out": out},
			Command: []string{"/testprog", "trapterm", "--file", "/out/done", "--delay", "100ms", "--ready", "/out/ready"}})
		pid := k.wantTend(c, "/testprog", "trapterm", "--file", "/out/done", "--delay", "100ms", "--ready", "/out/ready")
		for key, want := range map[string]string{"Seccomp": "2", "CapEff": "0000000000000000", "CapPrm": "0000000000000000", "NoNewPrivs": "1"} {
			if got := procStatus(t, pid, key); got != want {
				t.Errorf("tend's %s %q, want %q", key, got, want)
			}
		}
		waitFile(t, k, filepath.Join(out, "ready"))
		k.stop(c, 30)
		if st := k.exited(c); st.ExitCode != 0 {
			t.Errorf("exit %d, want 0", st.ExitCode)
		}
		readFile(t, filepath.Join(out, "done"))
	}},
	{"oom_killed", func(t *testing.T, k *kube) {
		out := outDir(t)
		p := k.pod(&crinode.Pod{})
		cmd := recordPid1("/out/pid1", "exec dd if=/dev/zero of=/dev/null bs=200M count=1")
		c := k.start(p, &crinode.Container{Name: "app", MemoryLimit: 32 << 20, Mounts: map[string]string{"/out": out}, Command: cmd})
		st := k.exited(c)
		wantTendRecorded(t, filepath.Join(out, "pid1"), cmd...)
		if st.Reason != "OOMKilled" {
			t.Errorf("exit %d reason %q, want OOMKilled; log %q", st.ExitCode, st.Reason, k.log(c))
		}
		if st.ExitCode != 137 {
			t.Errorf("exit %d, want 137", st.ExitCode)
		}
	}},
}

// recordPid1 is a shell command that writes the container's
// /proc/1/cmdline to file, then runs rest.
func recordPid1(file, rest string) []string {
	return []string{"sh", "-c", "cat /proc/1/cmdline > " + file + "; " + rest}
}

// wantTendRecorded checks the PID 1 command line a container recorded
// (recordPid1) in the host file p: the injected tend in front of cmd.
func wantTendRecorded(t *testing.T, p string, cmd ...string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("the container's PID 1 was not recorded: %v", err)
		return
	}
	got := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if want := append([]string{tendPath, "--"}, cmd...); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the container's PID 1 ran %q, want %q (tend injected)", got, want)
	}
}

// createFails creates and starts c and returns the CRI's error: through
// NRI, CreateContainer fails (the plugin answers at creation); through the
// RuntimeClass, containerd creates the runc container at StartContainer, so
// that is where tend-runc's refusal arrives. The container must not run.
func (k *kube) createFails(p *crinode.Pod, c *crinode.Container) error {
	k.t.Helper()
	err := k.n.Create(k.ctx, p, c)
	if err == nil {
		_, err = k.n.Crictl(k.ctx, "start", c.ID)
		if err == nil {
			k.t.Fatalf("container %s was created and started", c.Name)
		}
		if k.md.handler == "" {
			k.t.Errorf("NRI mode: CreateContainer succeeded, StartContainer failed: %v", err)
		}
	}
	return err
}

// orphanParent reports whether a process named comm has parent ppid.
func orphanParent(ppid int, comm string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		l, r := strings.Index(s, "("), strings.LastIndex(s, ")")
		if l < 0 || r < 0 || s[l+1:r] != comm {
			continue
		}
		f := strings.Fields(s[r+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			return true
		}
	}
	return false
}

// waitFile waits for a readiness file the app writes in its hostPath
// volume. Bound: only guards a hang.
func waitFile(t *testing.T, k *kube, p string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) || k.ctx.Err() != nil {
			t.Fatalf("%s never appeared", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
