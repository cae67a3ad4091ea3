package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/crinode"
)

const defaultContainerdSock = "/var/run/docker/containerd/containerd.sock"

// ctrd is a containerd namespace of the test's own, on the machine's
// containerd, with the test image imported into it.
type ctrd struct {
	t     *testing.T
	sock  string
	ns    string
	image string // containerd image name
}

// newContainerd checks for ctr, docker and the socket (skip or, under
// TEND_REQUIRE_OCI=1, fail), builds the FROM-scratch image with docker,
// imports it into a fresh namespace, and registers the removal of
// everything by ID.
func newContainerd(t *testing.T) *ctrd {
	need(t)
	sock := os.Getenv("TEND_CONTAINERD_SOCK")
	if sock == "" {
		sock = defaultContainerdSock
	}
	skip := func(why string) {
		if os.Getenv("TEND_REQUIRE_OCI") == "1" {
			t.Fatalf("TEND_REQUIRE_OCI=1 but: %s", why)
		}
		reportSkip("oci containerd", why)
		fmt.Fprintf(os.Stderr, "\n## SKIPPING tend oci containerd tests: %s\n\n", why)
		t.Skip("SKIPPED: " + why)
	}
	for _, bin := range []string{"ctr", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip(bin + " not found in PATH")
		}
	}
	if _, err := os.Stat(sock); err != nil {
		skip("no containerd socket: " + err.Error())
	}
	c := &ctrd{t: t, sock: sock, ns: randomID("tend-test-")}
	if out, err := c.ctr(30*time.Second, "version"); err != nil {
		skip(fmt.Sprintf("ctr -a %s version: %v: %s", sock, err, out))
	}

	// The image: the test rootfs, FROM scratch.
	ctxDir := scratchContext(t)
	tag := randomID("tend-oci-test:")
	iidFile := filepath.Join(t.TempDir(), "iid")
	out, err := run(2*time.Minute, nil, "docker", "build", "-q", "--iidfile", iidFile, "-t", tag, ctxDir)
	if b, rerr := os.ReadFile(iidFile); rerr == nil {
		iid := strings.TrimSpace(string(b))
		t.Cleanup(func() {
			if out, err := run(time.Minute, nil, "docker", "image", "rm", "-f", iid); err != nil {
				t.Errorf("docker image rm %s: %v: %s", iid, err, out)
			}
		})
	}
	if err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	c.image = "docker.io/library/" + tag
	t.Cleanup(c.removeNamespace)
	imp := exec.Command("sh", "-c", `docker save "$1" | ctr -a "$2" -n "$3" image import -`, "sh", tag, sock, c.ns)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker save | ctr image import: %v: %s", err, out)
	}
	return c
}

// run runs a command with a deadline; stdin is /dev/null.
func run(timeout time.Duration, extraEnv []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s %v: no exit within %v", name, args, timeout)
	}
	return string(out), err
}

func (c *ctrd) ctr(timeout time.Duration, args ...string) (string, error) {
	return run(timeout, nil, "ctr", append([]string{"-a", c.sock, "-n", c.ns}, args...)...)
}

// removeNamespace removes what the tests left in the namespace, by ID:
// tasks, containers, the image, snapshots, content, then the namespace.
func (c *ctrd) removeNamespace() {
	ids := func(args ...string) []string {
		out, err := c.ctr(time.Minute, args...)
		if err != nil {
			return nil
		}
		return strings.Fields(out)
	}
	for _, id := range ids("containers", "ls", "-q") {
		c.removeContainer(id)
	}
	c.ctr(time.Minute, "images", "rm", "--sync", c.image)
	var err error
	for try := 0; try < 10; try++ {
		// Snapshots by key (first column; children before parents, so
		// several passes).
		out, _ := c.ctr(time.Minute, "snapshots", "ls")
		for i, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); i > 0 && len(f) > 0 {
				c.ctr(time.Minute, "snapshots", "rm", f[0])
			}
		}
		for _, dgst := range ids("content", "ls", "-q") {
			c.ctr(time.Minute, "content", "rm", dgst)
		}
		if out, err = c.ctr(time.Minute, "namespaces", "rm", c.ns); err == nil && !strings.Contains(out, "rror") {
			c.removeCgroups()
			return
		} else if err == nil {
			err = errors.New(out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Errorf("containerd namespace %s not removed: %v", c.ns, err)
}

// removeCgroups removes the cgroup directories runc made for the
// namespace (ctr's default cgroup path is /NAMESPACE/ID, and the
// namespace's directory outlives its containers): /sys/fs/cgroup/*/NS on
// cgroup v1, /sys/fs/cgroup/NS on v2, deepest first, by the namespace's
// own name. A directory that still holds processes is an error.
func (c *ctrd) removeCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + c.ns)
	if st, err := os.Stat("/sys/fs/cgroup/" + c.ns); err == nil && st.IsDir() {
		roots = append(roots, "/sys/fs/cgroup/"+c.ns)
	}
	for _, root := range roots {
		for _, err := range crinode.RemoveCgroupTree(root) {
			c.t.Errorf("cgroup of namespace %s not removed: %v", c.ns, err)
		}
	}
}

// removeContainer kills container id's task and removes it and the
// container, by ID; what is already gone is no error.
func (c *ctrd) removeContainer(id string) {
	c.ctr(time.Minute, "task", "kill", "-s", "KILL", id)
	c.ctr(time.Minute, "task", "rm", "-f", id)
	c.ctr(time.Minute, "containers", "rm", id)
}

// runContainer is `ctr run --rm --runc-binary tend-runc [flags] IMAGE ID
// args...`: the container's exit code is ctr's.
func (c *ctrd) runContainer(id string, flags []string, args ...string) (out string, code int) {
	c.t.Helper()
	c.t.Cleanup(func() { c.removeContainer(id) })
	full := append([]string{"run", "--rm", "--runc-binary", tendRunc}, flags...)
	full = append(append(full, c.image, id), args...)
	out, err := c.ctr(cmdTimeout, full...)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil: // Errorf: also called from goroutines
		c.t.Errorf("ctr run: %v: %s", err, out)
		code = -1
	}
	if strings.Contains(out, "panic") {
		c.t.Errorf("ctr run output mentions a panic:\n%s", out)
	}
	return out, code
}

func TestContainerd(t *testing.T) {
	c := newContainerd(t)

	t.Run("PID1IsTendAndExitCode", func(t *testing.T) {
		c.t = t
		out, code := c.runContainer(randomID("pid1-"), nil, "sh", "-c", "cat /proc/1/comm; exit 7")
		if code != 7 || out != "tend\n" {
			t.Errorf("exit %d, output %q; want 7 and tend", code, out)
		}
	})

	t.Run("SIGTERMReachesAppBehindShell", func(t *testing.T) {
		c.t = t
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil { // the container's user writes there
			t.Fatal(err)
		}
		id := randomID("term-")
		type res struct {
			out  string
			code int
		}
		done := make(chan res, 1)
		go func() {
			out, code := c.runContainer(id, []string{"--mount", "type=bind,src=" + dir + ",dst=/out,options=rbind:rw"},
				"sh", "-c", "testprog trapterm --file /out/done --delay 1s --ready /out/ready; echo after")
			done <- res{out, code}
		}()
		waitFile(t, filepath.Join(dir, "ready"), 60*time.Second)
		start := time.Now()
		if out, err := c.ctr(time.Minute, "task", "kill", id); err != nil { // SIGTERM
			t.Fatalf("ctr task kill: %v: %s", err, out)
		}
		var r res
		select {
		case r = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("container did not exit within 60s of SIGTERM")
		}
		took := time.Since(start)
		got, err := os.ReadFile(filepath.Join(dir, "done"))
		if err != nil || !strings.Contains(string(got), "done SIGTERM") {
			t.Errorf("the app's cleanup did not finish (%q, %v); exit %d after %v: %s", got, err, r.code, took, r.out)
		}
		if r.code != 143 || took < time.Second {
			t.Errorf("exit %d after %v; want 143 after the app's 1 s cleanup", r.code, took)
		}
	})

	t.Run("OptOutAnnotation", func(t *testing.T) {
		c.t = t
		out, code := c.runContainer(randomID("optout-"), []string{"--annotation", "tend.sh/inject=false"}, "cat", "/proc/1/comm")
		if code != 0 || out != "cat\n" {
			t.Errorf("exit %d, output %q; want cat as PID 1", code, out)
		}
	})

	t.Run("AnnotationSetsOption", func(t *testing.T) {
		c.t = t
		out, code := c.runContainer(randomID("annot-"), []string{"--annotation", "tend.sh/remap-exit=7:0"}, "sh", "-c", "echo $TEND_REMAP_EXIT; exit 7")
		if code != 0 || out != "7:0\n" {
			t.Errorf("exit %d, output %q; want 0 (7 remapped) and 7:0", code, out)
		}
	})

	t.Run("InvalidAnnotationShownByCtr", func(t *testing.T) {
		c.t = t
		out, code := c.runContainer(randomID("bad-"), []string{"--annotation", "tend.sh/grace=soon"}, "true")
		want := `invalid annotation tend.sh/grace="soon": not a duration; want DURATION`
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output %q; want nonzero and containerd showing %q", code, out, want)
		}
	})

	t.Run("InitImageLeftAlone", func(t *testing.T) {
		c.t = t
		out, code := c.runContainer(randomID("init-"), nil, "/sbin/tini-static", "-s", "--", "cat", "/proc/1/comm")
		if code != 0 || out != "tini-static\n" {
			t.Errorf("exit %d, output %q; want tini-static as PID 1", code, out)
		}
	})

	t.Run("ReadOnlyRootfs", func(t *testing.T) {
		c.t = t
		out, code := c.runContainer(randomID("ro-"), []string{"--read-only"}, "sh", "-c", "cat /proc/1/comm; { echo x >/probe; } 2>/dev/null && echo writable || echo read-only")
		if code != 0 || out != "tend\nread-only\n" {
			t.Errorf("exit %d, output %q", code, out)
		}
	})

	t.Run("Terminal", func(t *testing.T) {
		c.t = t
		// ctr -t needs a terminal of its own: script(1) gives it one.
		id := randomID("tty-")
		c.t.Cleanup(func() {
			c.ctr(time.Minute, "task", "kill", "-s", "KILL", id)
			c.ctr(time.Minute, "containers", "rm", id)
		})
		inner := fmt.Sprintf("ctr -a %s -n %s run --rm -t --runc-binary %s %s %s sh -c 'cat /proc/1/comm; tty; exit 3'", c.sock, c.ns, tendRunc, c.image, id)
		out, err := run(cmdTimeout, nil, "script", "-qefc", inner, "/dev/null")
		out = strings.ReplaceAll(out, "\r", "")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(out, "tend\n/dev/pts/") {
			t.Errorf("%v, output %q; want exit 3, tend on a pty", err, out)
		}
	})

	// --uidmap through this containerd: whatever plain runc does, tend-runc
	// does the same, with tend as PID 1 when it works and the real
	// runtime's own error, unchanged, when it does not (containerd 1.6's
	// overlay snapshots are not remapped, so the userns root may not reach
	// the rootfs: "permission denied").
	t.Run("UserNamespaceSameAsPlainRunc", func(t *testing.T) {
		c.t = t
		flags := []string{"--uidmap", "0:300000:65536", "--gidmap", "0:300000:65536"}
		plainID, id := randomID("userns-plain-"), randomID("userns-")
		c.t.Cleanup(func() {
			c.ctr(time.Minute, "task", "rm", "-f", plainID)
			c.ctr(time.Minute, "containers", "rm", plainID)
		})
		plainOut, plainErr := c.ctr(cmdTimeout, append(append(append([]string{"run", "--rm"}, flags...), c.image, plainID), "cat", "/proc/self/uid_map")...)
		out, code := c.runContainer(id, flags, "sh", "-c", "cat /proc/1/comm; cat /proc/self/uid_map")
		if plainErr == nil {
			if code != 0 || !strings.HasPrefix(out, "tend\n") || !strings.Contains(out, "300000") {
				t.Errorf("exit %d, output %q; want tend as PID 1 in a user namespace (plain runc: %q)", code, out, plainOut)
			}
			return
		}
		t.Logf("plain runc fails here too: %s", plainOut)
		if code == 0 || strings.ReplaceAll(out, id, "ID") != strings.ReplaceAll(plainOut, plainID, "ID") {
			t.Errorf("tend-runc: exit %d, %q\nplain runc: %v, %q\nwant the same error", code, out, plainErr, plainOut)
		}
	})

	t.Run("ExecPassesThrough", func(t *testing.T) {
		c.t = t
		id := randomID("exec-")
		c.t.Cleanup(func() { c.removeContainer(id) })
		if out, err := c.ctr(cmdTimeout, "run", "-d", "--runc-binary", tendRunc, c.image, id, "sleep", "600"); err != nil {
			t.Fatalf("ctr run -d: %v: %s", err, out)
		}
		out, err := c.ctr(cmdTimeout, "task", "exec", "--exec-id", "e1", id, "cat", "/proc/1/comm")
		if err != nil || out != "tend\n" {
			t.Errorf("ctr task exec: %v, %q", err, out)
		}
		if out, err := c.ctr(time.Minute, "task", "kill", id); err != nil {
			t.Errorf("kill: %v %s", err, out)
		}
	})
}
