package cri

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/crinode"
)

// tolerate is NRI's toleration annotation as the README's validator
// configuration names it, set on a pod that may start without tend.
const tolerate = "tolerate-missing-plugins.noderesource.dev"

// readmeTOML is the README's fenced toml block whose first line is first:
// the tests run the configuration the README gives, not a copy of it.
func readmeTOML(t *testing.T, first string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "```toml\n"+first+"\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("README: no ```toml block starting with %q", first)
	}
	return first + "\n" + block
}

// nodePods runs pods on a node of a test's own, removed at cleanup.
type nodePods struct {
	t   *testing.T
	n   *crinode.Node
	ctx context.Context
	seq int
}

func (np *nodePods) pod(name string, ann map[string]string) *crinode.Pod {
	np.t.Helper()
	p := &crinode.Pod{Name: name, Annotations: ann}
	if err := np.n.Run(np.ctx, p); err != nil {
		np.t.Fatalf("RunPodSandbox %s: %v", name, err)
	}
	np.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		np.n.Remove(ctx, p) // the node's Stop removes what is left
	})
	return p
}

// run creates and starts a sleeper in p (a fresh container name each
// call); the error is CreateContainer's or StartContainer's.
func (np *nodePods) run(p *crinode.Pod) (*crinode.Container, error) {
	np.seq++
	c := &crinode.Container{Name: fmt.Sprintf("app%d", np.seq), Image: testImage, Command: sleeper()}
	if err := np.n.Create(np.ctx, p, c); err != nil {
		return nil, err
	}
	_, err := np.n.Crictl(np.ctx, "start", c.ID)
	return c, err
}

// pid1 is the host pid and command line of c's init.
func (np *nodePods) pid1(c *crinode.Container) (int, string) {
	np.t.Helper()
	st, err := np.n.Inspect(np.ctx, c.ID)
	if err != nil || st.Pid <= 0 {
		np.t.Fatalf("ContainerStatus %s: %+v, %v", c.Name, st, err)
	}
	return st.Pid, strings.Join(execd(np.t, st.Pid), " ")
}

// runUntil creates containers in p until one is created and started
// without error (bound: only guards a hang; the runtime adds a plugin to
// those it calls just after its registration): the runtime's errors
// until then are the validator's.
func (np *nodePods) runUntil(p *crinode.Pod, what string) *crinode.Container {
	np.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := np.run(p)
		if err == nil {
			return c
		}
		if !requiredErr(err) || time.Now().After(deadline) {
			np.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var sleeperLine = strings.Join(sleeper(), " ")

// requiredErr: the error is NRI's validator refusing a container because
// tend-nri is not registered (crictl quotes the message: \" for ").
func requiredErr(err error) bool {
	return err != nil && regexp.MustCompile(`required plugin \\?"tend\\?" not present`).MatchString(err.Error())
}

// nriProc is a tend-nri started by the test with the contract's command line.
type nriProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan error
}

func startNRIProc(t *testing.T, n *crinode.Node) *nriProc {
	t.Helper()
	p := &nriProc{log: filepath.Join(t.TempDir(), "tend-nri.log"), exited: make(chan error, 1)}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(nriBin, "--socket", n.NRISock, "--tend", env.Tend, "-v")
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { // by its pid; a no-op once it exited
		p.cmd.Process.Kill()
		if err, ok := <-p.exited; ok {
			p.exited <- err
		}
	})
	return p
}

func (p *nriProc) text() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitLines waits until the log has n lines matching re (bound: only
// guards a hang; registration takes milliseconds, a reconnection at most
// the 5 s backoff) and returns them.
func (p *nriProc) waitLines(t *testing.T, re string, n int) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got []string
		for _, l := range strings.Split(p.text(), "\n") {
			if rx.MatchString(l) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("tend-nri's log has %d lines matching %q, want %d:\n%s", len(got), re, n, p.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNRIRequiredAndRestart: tend-nri against a real containerd 2.4.2
// whose NRI default validator is configured by the README's own block
// (required_plugins = ["tend"]): without tend-nri a container's creation
// fails, a pod with the toleration annotation starts without tend (NRI is
// fail-open); tend-nri registers, counts the container that exists and
// leaves it alone; after a restart of containerd it connects again on its
// own and counts both existing containers; SIGTERM ends it with 0 and tend
// is required again.
func TestNRIRequiredAndRestart(t *testing.T) {
	needSetup(t)
	validator := readmeTOML(t, "# containerd 2.2+ (config.toml, version 3)")
	if !strings.Contains(validator, `required_plugins = ["tend"]`) || !strings.Contains(validator, tolerate) {
		t.Fatalf("README's containerd validator block does not require tend with the toleration %s:\n%s", tolerate, validator)
	}
	n := startNode(t, "nri-required", func(o *crinode.Options) { o.ExtraConfig = validator })
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	np := &nodePods{t: t, n: n, ctx: ctx}

	// No tend-nri: required.
	if _, err := np.run(np.pod("required", nil)); err == nil || !requiredErr(err) {
		t.Fatalf("container created with tend-nri absent and required: %v", err)
	}
	// Fail-open where tolerated: the container runs without tend.
	old, err := np.run(np.pod("tolerated", map[string]string{tolerate: "true"}))
	if err != nil {
		t.Fatalf("a pod tolerating the missing plugin: %v", err)
	}
	oldPid, got := np.pid1(old)
	if got != sleeperLine {
		t.Fatalf("tolerated container without tend-nri runs %q, want %q", got, sleeperLine)
	}

	// tend-nri registers; the existing container is counted and left alone.
	nri := startNRIProc(t, n)
	nri.waitLines(t, `msg=registered plugin=10-tend`, 1)
	if sync := nri.waitLines(t, `msg="synchronized: existing containers left alone"`, 1); !strings.Contains(sync[0], "containers=1 ") {
		t.Errorf("first synchronization: %q, want containers=1 (the tolerated pod's)", sync[0])
	}
	a := np.runUntil(np.pod("a", nil), "after tend-nri registered")
	aPid, got := np.pid1(a)
	if got != tendPath+" -- "+sleeperLine {
		t.Errorf("container created with tend-nri registered runs %q, want tend in front", got)
	}
	if pid, got := np.pid1(old); pid != oldPid || got != sleeperLine {
		t.Errorf("the container that existed before tend-nri: pid %d runs %q, want %d running %q (left alone)", pid, got, oldPid, sleeperLine)
	}

	// containerd restarts; its containers keep running; tend-nri connects again.
	t0 := time.Now()
	if err := n.Restart(3 * time.Minute); err != nil {
		t.Fatalf("restarting containerd: %v", err)
	}
	nri.waitLines(t, `msg="connection to the runtime lost"`, 1)
	nri.waitLines(t, `msg=registered plugin=10-tend`, 2)
	t.Logf("tend-nri registered again %v after containerd's restart began", time.Since(t0).Round(time.Millisecond))
	if sync := nri.waitLines(t, `msg="synchronized: existing containers left alone"`, 2); !strings.Contains(sync[1], "containers=2 ") {
		t.Errorf("synchronization after the restart: %q, want containers=2", sync[1])
	}
	if pid, got := np.pid1(a); pid != aPid || !strings.HasPrefix(got, tendPath+" -- ") {
		t.Errorf("after the restart: container a pid %d runs %q; want %d, tend", pid, got, aPid)
	}
	b := np.runUntil(np.pod("b", nil), "after containerd's restart")
	if _, got := np.pid1(b); got != tendPath+" -- "+sleeperLine {
		t.Errorf("container created after the restart runs %q, want tend in front", got)
	}

	// SIGTERM: exit 0, and tend is required again.
	if err := nri.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-nri.exited:
		nri.exited <- err
		if err != nil {
			t.Errorf("tend-nri after SIGTERM: %v, want exit 0\n%s", err, nri.text())
		}
	case <-time.After(60 * time.Second): // bound: only guards a hang
		t.Fatalf("tend-nri still running 60 s after SIGTERM\n%s", nri.text())
	}
	if !strings.Contains(nri.text(), `msg="stopped (signal)"`) {
		t.Errorf("tend-nri's log does not say it stopped on the signal:\n%s", nri.text())
	}
	p := np.pod("after", nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := np.run(p)
		if err != nil && requiredErr(err) {
			break
		}
		if err == nil {
			_, got := np.pid1(c)
			t.Fatalf("container created with tend-nri stopped (runs %q)", got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after tend-nri stopped: %v, want the validator's refusal", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNRIRuntimeLaunched: tend-nri launched by containerd 2.4.2 itself
// through a symlink 10-tend in its NRI plugin directory (no arguments, the
// inherited connection NRI_PLUGIN_SOCKET, --tend its default: tend beside
// tend-nri's executable) gives containers tend, and is launched again
// when containerd restarts.
func TestNRIRuntimeLaunched(t *testing.T) {
	needSetup(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(nriBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tend-nri"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(env.Tend, filepath.Join(dir, "tend")); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "nri-launched", func(o *crinode.Options) {
		o.NRIPlugins = map[string]string{"10-tend": filepath.Join(dir, "tend-nri")}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	np := &nodePods{t: t, n: n, ctx: ctx}

	// Bound: only guards a hang (containerd launches its plugins at start;
	// NRI is fail-open, so a container created before the registration
	// completes has no tend: try again in a new pod).
	injected := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; ; i++ {
			c, err := np.run(np.pod(fmt.Sprintf("%s%d", what, i), nil))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			_, got := np.pid1(c)
			if got == tendPath+" -- "+sleeperLine {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: containers still run %q, want tend in front (launched plugins %v)", what, got, n.LaunchedPlugins())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	injected("launched")
	first := n.LaunchedPlugins()
	if len(first) != 1 {
		t.Fatalf("launched tend-nri processes %v, want one", first)
	}
	if err := n.Restart(3 * time.Minute); err != nil {
		t.Fatalf("restarting containerd: %v", err)
	}
	injected("relaunched")
	again := n.LaunchedPlugins()
	if len(again) != 1 || again[0] == first[0] {
		t.Errorf("launched tend-nri after the restart: %v (before: %v); want one new process", again, first)
	}
	// The first one exited when its connection closed (bound: only guards
	// a hang).
	for deadline := time.Now().Add(60 * time.Second); ; {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", first[0]))
		if err != nil || len(b) == 0 || !strings.HasPrefix(string(b), filepath.Join(n.Dir, "nri-plugins")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tend-nri containerd launched first (pid %d) still runs after the restart", first[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := n.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if left := n.LaunchedPlugins(); len(left) > 0 {
		t.Errorf("launched tend-nri left after the node stopped: %v", left)
	}
}
