package kubernetes

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// nodeImage builds the tend-node image's build context with
// `make image-context` (what `make image` hands to docker build) into a
// directory of the test's own (BIN, NRI_BIN and IMAGE_CONTEXT there: the
// work tree's bin/ is not touched) and returns its root filesystem.
func nodeImage(t *testing.T) (rootfs, tendCtx string) {
	t.Helper()
	dir := t.TempDir()
	ctx := filepath.Join(dir, "image")
	cmd := exec.Command("make", "-s", "-C", "../..", "image-context", "BIN="+filepath.Join(dir, "tend"),
		"NRI_BIN="+filepath.Join(dir, "tend-nri"), "IMAGE_CONTEXT="+ctx, "BUSYBOX="+busybox(t), "VERSION=v0.0.0-imagetest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image-context: %v\n%s", err, out)
	}
	return filepath.Join(ctx, "node", "rootfs"), filepath.Join(ctx, "tend")
}

// listing is every file and symlink under root ("path" or "path -> target").
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			rel += " -> " + l
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestNodeImageContents: the tend-node image holds tend, the tend-runc
// link, tend-nri, tend-install and busybox with exactly the Makefile's
// applets, nothing else; the tend image holds tend alone.
func TestNodeImageContents(t *testing.T) {
	rootfs, tendCtx := nodeImage(t)
	want := []string{"bin/busybox", "usr/local/bin/tend", "usr/local/bin/tend-install", "usr/local/bin/tend-nri", "usr/local/bin/tend-runc -> tend"}
	mk, _ := os.ReadFile("../../Makefile")
	m := regexp.MustCompile(`(?m)^NODE_APPLETS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no NODE_APPLETS")
	}
	for _, a := range strings.Fields(string(m[1])) {
		want = append(want, "bin/"+a+" -> busybox")
	}
	sort.Strings(want)
	if got := listing(t, rootfs); !slices.Equal(got, want) {
		t.Errorf("tend-node rootfs:\n got %q\nwant %q", got, want)
	}
	if got := listing(t, tendCtx); !slices.Equal(got, []string{"Dockerfile", "tend"}) {
		t.Errorf("tend image context: %q, want Dockerfile and tend", got)
	}
	for _, df := range []string{filepath.Join(filepath.Dir(rootfs), "Dockerfile"), filepath.Join(tendCtx, "Dockerfile")} {
		b, err := os.ReadFile(df)
		if err != nil || !regexp.MustCompile(`(?m)^FROM scratch$`).Match(b) {
			t.Errorf("%s: not FROM scratch (%v)", df, err)
		}
	}
}

// pod runs a command of a DaemonSet's container in the node image the way
// a runtime would: PID 1 of a new PID namespace, the image's read-only
// root filesystem (a chroot), /proc and /dev, and the container's hostPath
// volumes from a fake host root.
type pod struct {
	t      *testing.T
	rootfs string // a copy of the image's rootfs, with the mount points
	host   string // the fake host's /
}

func newPod(t *testing.T, rootfs string) *pod {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root: the node image is run in a chroot of a PID and mount namespace of its own")
	}
	for _, tool := range []string{"unshare", "mount", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "%s not found: the node image is run in a chroot of a PID and mount namespace of its own", tool)
		}
	}
	p := &pod{t: t, rootfs: filepath.Join(t.TempDir(), "rootfs"), host: t.TempDir()}
	if out, err := exec.Command("cp", "-a", rootfs, p.rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return p
}

// cmd is the container's command (argv) with its env and volume mounts,
// as an unshare command line to start.
func (p *pod) cmd(spec corev1.PodSpec, c corev1.Container, argv []string) *exec.Cmd {
	p.t.Helper()
	tool := func(n string) string { s, _ := exec.LookPath(n); return s }
	mount, chroot := tool("mount"), tool("chroot")
	q := strconv.Quote
	script := []string{"set -e", mount + " --bind " + q(p.rootfs) + " " + q(p.rootfs)}
	for _, d := range []string{"proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(p.rootfs, d), 0o755); err != nil {
			p.t.Fatal(err)
		}
	}
	for _, m := range c.VolumeMounts {
		var hp string
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil {
				hp = filepath.Join(p.host, v.HostPath.Path)
			}
		}
		if hp == "" {
			p.t.Fatalf("%s: volumeMount %s is not a hostPath", c.Name, m.Name)
		}
		for _, d := range []string{hp, filepath.Join(p.rootfs, m.MountPath)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				p.t.Fatal(err)
			}
		}
		opt := "--bind"
		if m.ReadOnly {
			opt = "-o bind,ro"
		}
		script = append(script, mount+" "+opt+" "+q(hp)+" "+q(filepath.Join(p.rootfs, m.MountPath)))
	}
	script = append(script,
		mount+" -t proc proc "+q(filepath.Join(p.rootfs, "proc")),
		mount+" --rbind /dev "+q(filepath.Join(p.rootfs, "dev")),
		mount+" -o remount,bind,ro "+q(p.rootfs), // readOnlyRootFilesystem
		`exec `+chroot+` `+q(p.rootfs)+` "$@"`)
	args := append([]string{"--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "/bin/sh", "-c", strings.Join(script, "\n"), "sh"}, argv...)
	cmd := exec.Command(tool("unshare"), args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, e := range c.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	return cmd
}

// run runs argv in c and returns its output and exit code.
func (p *pod) run(spec corev1.PodSpec, c corev1.Container, argv ...string) (string, int) {
	p.t.Helper()
	out, err := p.cmd(spec, c, argv).CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			p.t.Fatalf("%s %q: %v", c.Name, argv, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// TestNodeImageRunsTheDaemonSets: the DaemonSets' commands, probes and
// hooks, as their manifests give them, in the tend-node image's own
// userland (busybox with only the Makefile's applets; read-only root;
// tend as PID 1 of the installer): the installer writes the containerd
// drop-in and installs tend, stays until SIGTERM and exits 0, its preStop
// hook uninstalls; the NRI DaemonSet's init container installs tend where
// tend-nri mounts it from, tend-nri runs, and its readiness probe says
// ready only with the runtime's NRI socket there.
func TestNodeImageRunsTheDaemonSets(t *testing.T) {
	rootfs, _ := nodeImage(t)

	t.Run("installer", func(t *testing.T) {
		objs, _ := loadBase(t, "runtimeclass")
		ds := daemonSets(objs)["tend-node-installer"]
		spec := ds.Spec.Template.Spec
		c := container(t, spec.Containers, "installer")
		p := newPod(t, rootfs)
		conf := filepath.Join(p.host, "etc/containerd/config.toml")
		if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, []byte("version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := p.cmd(spec, c, slices.Concat(c.Command, c.Args))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() { cmd.Process.Kill(); <-done }() // by pid; --kill-child takes the namespace with it
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var seen []string
		// Bound: only guards a hang (the install takes milliseconds).
		for timeout := time.After(60 * time.Second); !slices.ContainsFunc(seen, func(l string) bool { return strings.Contains(l, "waiting") }); {
			select {
			case l, ok := <-lines:
				if !ok {
					err := <-done
					done <- err // for the deferred wait
					t.Fatalf("the installer ended before waiting: %v\n%s", err, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
			case <-timeout:
				t.Fatalf("the installer did not say it waits in 60 s:\n%s", strings.Join(seen, "\n"))
			}
		}
		drop, err := os.ReadFile(filepath.Join(p.host, "etc/containerd/conf.d/10-tend.toml"))
		if err != nil || !bytes.Contains(drop, []byte("version = 3")) || !bytes.Contains(drop, []byte(`BinaryName = "/opt/tend/bin/tend-runc"`)) {
			t.Errorf("containerd drop-in: %v\n%s\noutput:\n%s", err, drop, strings.Join(seen, "\n"))
		}
		if st, err := os.Stat(filepath.Join(p.host, "opt/tend/bin/tend")); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("tend on the host: %v %v", st, err)
		}
		if !slices.ContainsFunc(seen, func(l string) bool { return strings.Contains(l, "(tend v0.0.0-imagetest)") }) {
			t.Errorf("the installed tend did not run in the image (its --version is in the installer's log):\n%s", strings.Join(seen, "\n"))
		}
		// The pod's deletion: SIGTERM to the container's PID 1, tend, which
		// forwards it; exit 0.
		tendPid := child(t, cmd.Process.Pid)
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(tendPid) + "/comm"); strings.TrimSpace(string(b)) != "tend" {
			t.Fatalf("PID 1 of the installer's namespace is %q, want tend", b)
		}
		if err := syscall.Kill(tendPid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		go func() { io.Copy(io.Discard, out) }()
		select {
		case err := <-done:
			done <- err
			if err != nil {
				t.Errorf("the installer after SIGTERM: %v, want exit 0", err)
			}
		case <-time.After(60 * time.Second): // bound: only guards a hang
			t.Fatal("the installer still runs 60 s after SIGTERM")
		}
		// Its preStop hook.
		if out, code := p.run(spec, c, c.Lifecycle.PreStop.Exec.Command...); code != 0 || !strings.Contains(out, "removed /etc/containerd/conf.d/10-tend.toml") {
			t.Errorf("preStop: exit %d\n%s", code, out)
		}
		if _, err := os.Stat(filepath.Join(p.host, "etc/containerd/conf.d/10-tend.toml")); !os.IsNotExist(err) {
			t.Errorf("the drop-in is still there after the preStop hook: %v", err)
		}
	})

	t.Run("nri", func(t *testing.T) {
		objs, _ := loadBase(t, "nri")
		ds := daemonSets(objs)["tend-nri"]
		spec := ds.Spec.Template.Spec
		ic, nri := container(t, spec.InitContainers, "install-tend"), container(t, spec.Containers, "tend-nri")
		p := newPod(t, rootfs)
		if out, code := p.run(spec, ic, slices.Concat(ic.Command, ic.Args)...); code != 0 {
			t.Fatalf("install-tend: exit %d\n%s", code, out)
		}
		tend := flagValue(slices.Concat(nri.Command, nri.Args), "--tend")
		if st, err := os.Stat(filepath.Join(p.host, tend)); err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("install-tend did not put tend at the host's %s: %v %v", tend, st, err)
		}
		if out, code := p.run(spec, nri, nri.Command[0], "--version"); code != 0 || !strings.HasPrefix(out, "tend-nri v0.0.0-imagetest") {
			t.Errorf("tend-nri --version in the image: exit %d, %q", code, out)
		}
		probe := nri.ReadinessProbe.Exec.Command
		if out, code := p.run(spec, nri, probe...); code == 0 {
			t.Errorf("readiness probe without the runtime's NRI socket: exit 0 (%s)", out)
		}
		sock := flagValue(slices.Concat(nri.Command, nri.Args), "--socket")
		l, err := net.Listen("unix", filepath.Join(p.host, sock))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if out, code := p.run(spec, nri, probe...); code != 0 {
			t.Errorf("readiness probe with the socket and tend there: exit %d\n%s", code, out)
		}
	})
}

// child is the one child of pid (unshare --fork's: the namespace's PID 1,
// once sh has exec'd chroot and chroot the command).
func child(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("children of %d: %q, want one", pid, f)
	}
	c, _ := strconv.Atoi(f[0])
	return c
}
