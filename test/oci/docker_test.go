package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateDockerd is a dockerd of the test's own (own data-root, exec-root,
// socket and config file; the machine's containerd, in a containerd
// namespace of its own; no bridge, no iptables), configured with the
// daemon.json of README's Platforms section. The machine's dockerd is not
// touched.
type privateDockerd struct {
	t    *testing.T
	sock string
	cmd  *exec.Cmd
}

func newPrivateDockerd(t *testing.T) *privateDockerd {
	need(t)
	skip := func(why string) {
		if os.Getenv("TEND_REQUIRE_OCI") == "1" {
			t.Fatalf("TEND_REQUIRE_OCI=1 but: %s", why)
		}
		reportSkip("oci Docker", why)
		fmt.Fprintf(os.Stderr, "\n## SKIPPING tend oci Docker tests: %s\n\n", why)
		t.Skip("SKIPPED: " + why)
	}
	for _, bin := range []string{"dockerd", "docker", "ctr"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip(bin + " not found in PATH")
		}
	}
	csock := os.Getenv("TEND_CONTAINERD_SOCK")
	if csock == "" {
		csock = defaultContainerdSock
	}
	if _, err := os.Stat(csock); err != nil {
		skip("no containerd socket: " + err.Error())
	}
	// Short paths: dockerd and the shims put unix sockets under them.
	dir, err := os.MkdirTemp("", "tdd")
	if err != nil {
		t.Fatal(err)
	}
	ns := randomID("tend-test-dd-")
	d := &privateDockerd{t: t, sock: filepath.Join(dir, "docker.sock")}
	conf := map[string]any{
		// As in README "Platforms / Docker":
		"runtimes":        map[string]any{"tend": map[string]any{"path": tendRunc}},
		"default-runtime": "tend",
		"init-path":       env.Tend,
		// Isolation from the machine's network:
		"bridge": "none", "iptables": false, "ip6tables": false, "ip-masq": false, "userland-proxy": false,
	}
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	// In a network namespace of its own: a dockerd with "bridge": "none"
	// deletes the host's docker0 bridge at start (libnetwork's
	// removeDefaultBridgeInterface), which broke the machine's dockerd
	// (every docker run: "could not find bridge docker0"). unshare(1)
	// without --fork execs dockerd in the same process, so d.cmd's pid is
	// dockerd's.
	d.cmd = exec.Command("unshare", "--net", "--", "dockerd", "--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", "unix://"+d.sock,
		"--containerd", csock, "--containerd-namespace", ns, "--containerd-plugins-namespace", ns+"-plugins")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("dockerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM) // our dockerd, by its pid
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			d.cmd.Process.Kill()
			<-exited
			t.Errorf("private dockerd (pid %d) did not stop within 60s of SIGTERM; killed", d.cmd.Process.Pid)
		}
		logf.Close()
		for _, n := range []string{ns, ns + "-plugins"} {
			out, err := run(time.Minute, nil, "ctr", "-a", csock, "namespaces", "ls", "-q")
			if err == nil && strings.Contains("\n"+out, "\n"+n+"\n") {
				if out, err := run(time.Minute, nil, "ctr", "-a", csock, "namespaces", "rm", n); err != nil {
					t.Errorf("ctr namespaces rm %s: %v: %s", n, err, out)
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the private dockerd's directory: %v", err)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := d.docker(10*time.Second, "info"); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("private dockerd exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("private dockerd not ready within 90s\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return d
}

func (d *privateDockerd) docker(timeout time.Duration, args ...string) (string, error) {
	return run(timeout, nil, "docker", append([]string{"-H", "unix://" + d.sock}, args...)...)
}

// dockerRun is `docker run --rm --network none [flags] IMAGE args...`;
// the container's exit code is docker's.
func (d *privateDockerd) dockerRun(image string, flags []string, args ...string) (string, int) {
	d.t.Helper()
	full := append(append([]string{"run", "--rm", "--network", "none"}, flags...), image)
	out, err := d.docker(cmdTimeout, append(full, args...)...)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	case err != nil:
		d.t.Fatalf("docker run: %v: %s", err, out)
	}
	return out, 0
}

func TestDockerPrivateDaemon(t *testing.T) {
	d := newPrivateDockerd(t)
	ctxDir := scratchContext(t)
	image := randomID("tend-oci-test:")
	if out, err := d.docker(3*time.Minute, "build", "-q", "-t", image, ctxDir); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	// The image lives in the private daemon's data-root, removed with it.

	t.Run("DefaultRuntimeIsTend", func(t *testing.T) {
		d.t = t
		if out, code := d.dockerRun(image, nil, "sh", "-c", "cat /proc/1/comm; exit 3"); code != 3 || out != "tend\n" {
			t.Errorf("exit %d, output %q; want 3 and tend", code, out)
		}
	})
	t.Run("RuntimeRuncIsPlain", func(t *testing.T) {
		d.t = t
		if out, code := d.dockerRun(image, []string{"--runtime", "runc"}, "cat", "/proc/1/comm"); code != 0 || out != "cat\n" {
			t.Errorf("exit %d, output %q; want cat as PID 1", code, out)
		}
	})
	t.Run("InitPathIsTend", func(t *testing.T) {
		d.t = t
		// docker run --init: dockerd mounts init-path (tend) as
		// /sbin/docker-init; tend-runc leaves a docker-init command alone.
		out, code := d.dockerRun(image, []string{"--init"}, "sh", "-c", "cat /proc/1/comm; /sbin/docker-init --version")
		if code != 0 || !strings.HasPrefix(out, "docker-init\ntend ") {
			t.Errorf("exit %d, output %q; want docker-init (tend) as PID 1, not tend in front of it", code, out)
		}
	})
	t.Run("ReadOnlyAndUser", func(t *testing.T) {
		d.t = t
		if out, code := d.dockerRun(image, []string{"--read-only", "-u", "1000:1000"}, "sh", "-c", "cat /proc/1/comm; id -u"); code != 0 || out != "tend\n1000\n" {
			t.Errorf("exit %d, output %q", code, out)
		}
	})
	t.Run("DockerStopReachesAppBehindShell", func(t *testing.T) {
		d.t = t
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil { // the container's user writes there
			t.Fatal(err)
		}
		out, err := d.docker(cmdTimeout, "run", "-d", "--network", "none", "-v", dir+":/out", image,
			"sh", "-c", "testprog trapterm --file /out/done --delay 1s --ready /out/ready; echo after")
		if err != nil {
			t.Fatalf("docker run -d: %v: %s", err, out)
		}
		id := strings.TrimSpace(out)
		t.Cleanup(func() { d.docker(time.Minute, "rm", "-f", id) })
		waitFile(t, filepath.Join(dir, "ready"), 60*time.Second)
		if out, err := d.docker(cmdTimeout, "stop", "-t", "30", id); err != nil {
			t.Fatalf("docker stop: %v: %s", err, out)
		}
		code, _ := d.docker(time.Minute, "inspect", "-f", "{{.State.ExitCode}}", id)
		got, err := os.ReadFile(filepath.Join(dir, "done"))
		if err != nil || !strings.Contains(string(got), "done SIGTERM") || strings.TrimSpace(code) != "143" {
			t.Errorf("after docker stop: cleanup file %q (%v), exit code %q; want the app's cleanup done and 143", got, err, code)
		}
	})
}
