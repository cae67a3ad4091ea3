// Package cri drives pods through the real CRI exactly as the kubelet does,
// with tend injected in both ways a node can do it:
//
//   - "runtimeclass": the pod's RuntimeClass handler "tend", a runc shim
//     whose BinaryName is tend-runc, with container_annotations letting
//     tend.sh/* and io.kubernetes.pod.terminationGracePeriod through (the
//     README's config);
//   - "nri": the default runc handler, with tend-nri connected to the
//     runtime's NRI socket.
//
// Each mode has its own private containerd (test/crinode: the pinned
// containerd 2.x and crictl that scripts/cri-bins builds with go install;
// own root, state, sockets, NRI socket and config, its own network
// namespace; cgroupfs; restrict_oom_score_adj, as runc cannot set the
// sandbox's oomScoreAdj without CAP_SYS_RESOURCE here). Pods are
// host-network (no CNI) and carry no hostname, as the kubelet sends them;
// images are built FROM scratch (a static pause, test/testprog,
// busybox-static, tend itself as /sbin/tini) as OCI archives and imported
// with the node's own ctr into k8s.io. Containers are stopped with the
// pod's grace as the CRI timeout and their fate read from ContainerStatus
// and the CRI log file.
//
// TEND_BIN=/path/to/tend runs the suite against another tend binary (both
// transports inject it): e.g. an older tend, to see the cases it fails.
//
// Needs root, util-linux unshare/nsenter, ip, runc and /bin/busybox
// (busybox-static). When the pinned binaries cannot be built or those tools
// are missing the suite is skipped with a loud banner; TEND_REQUIRE_CRI=1
// (set by .ci/run where Docker is installed) makes that a failure.
// Everything is removed by ID: pods through the CRI, containerd and its
// shims by pid, tend-nri by pid, the node's cgroup parent (every pod's
// cgroup is under it), the node's directory after unmounting what is left
// in it.
package cri

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/crinode"
	"github.com/tend-sh/tend/test/internal/harness"
)

// Images of the suite.
const (
	testImage = "docker.io/tend/test:1"
	initImage = "docker.io/tend/init:1"
)

const busybox = "/bin/busybox"

// mode is one way tend gets into the pod's containers.
type mode struct {
	name    string
	handler string // RuntimeClass handler ("" = the default runc)
	node    *crinode.Node
	err     error // the node could not start: every test of the mode fails
	nri     *exec.Cmd
	nriLog  string
}

var (
	env      *harness.Env
	criSkip  string // why the suite cannot run here ("" when it can)
	setupErr error
	modes    []*mode
	nriBin   string
	bins     string   // scripts/cri-bins' directory
	archives []string // the image archives every node imports
)

func TestMain(m *testing.M) {
	var teardown func()
	code := harness.Main(m, harness.Config{Name: "cri", TendBinEnv: true}, func(e *harness.Env) {
		env = e
		if e.SkipReason != "" || e.BuildErr != nil {
			return
		}
		teardown, setupErr = setup()
		if setupErr != nil {
			fmt.Fprintln(os.Stderr, "cri: setup:", setupErr)
		}
		if criSkip != "" {
			harness.ReportSkip("cri", criSkip)
			fmt.Fprintf(os.Stderr, "\n"+
				"############################################################\n"+
				"## SKIPPING tend cri tests: %s\n"+
				"## (TEND_REQUIRE_CRI=1 makes this fatal)\n"+
				"############################################################\n\n", criSkip)
		}
	})
	if teardown != nil {
		teardown()
	}
	os.Exit(code)
}

func moduleRoot() string {
	dir, _ := os.Getwd()
	return filepath.Clean(filepath.Join(dir, "..", ".."))
}

// setup builds the pinned binaries, the images, tend-nri and the pause
// program, and starts one node per mode (concurrently).
func setup() (func(), error) {
	for _, tool := range []string{"runc", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			criSkip = tool + " not found in PATH"
			return nil, nil
		}
	}
	if _, err := os.Stat(busybox); err != nil {
		criSkip = busybox + " not found (apt-get install busybox-static)"
		return nil, nil
	}
	root := moduleRoot()
	cmd := exec.Command(filepath.Join(root, "scripts", "cri-bins"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		criSkip = fmt.Sprintf("scripts/cri-bins could not build the pinned containerd/crictl: %v", err)
		return nil, nil
	}
	bins = strings.TrimSpace(string(out))

	dir := filepath.Join(env.BinDir, "cri")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tendRunc := filepath.Join(dir, "tend-runc")
	if err := os.Symlink(env.Tend, tendRunc); err != nil {
		return nil, err
	}
	pause := filepath.Join(dir, "pod-pause")
	nriBin = filepath.Join(dir, "tend-nri")
	for _, b := range [][2]string{{pause, "./test/cri/pause"}, {nriBin, "./cmd/tend-nri"}} {
		c := exec.Command("go", "build", "-o", b[0], b[1])
		c.Dir, c.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	archives, err = writeImages(dir, pause)
	if err != nil {
		return nil, err
	}

	modes = []*mode{{name: "runtimeclass", handler: "tend"}, {name: "nri"}}
	done := make(chan struct{})
	for _, md := range modes {
		go func() {
			defer func() { done <- struct{}{} }()
			md.err = md.start(bins, tendRunc, archives)
		}()
	}
	for range modes {
		<-done
	}
	return func() {
		for _, md := range modes {
			md.stop()
		}
	}, nil
}

func (md *mode) start(bins, tendRunc string, archives []string) error {
	nodeDir, err := os.MkdirTemp("", "tend-cri-"+md.name+"-")
	if err != nil {
		return err
	}
	o := crinode.Options{Bins: bins, Dir: nodeDir}
	if md.handler != "" {
		o.TendRunc = tendRunc
	}
	// Bound: only guards a hang (containerd answers in about a second).
	md.node, err = crinode.Start(o, 3*time.Minute)
	if err != nil {
		return fmt.Errorf("%s node: %w", md.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, a := range archives {
		if err := md.node.Import(ctx, a); err != nil {
			return fmt.Errorf("%s node: import: %w", md.name, err)
		}
	}
	if md.handler == "" {
		return md.startNRI(ctx)
	}
	return nil
}

// startNRI starts tend-nri with the contract's command line and waits for
// its registration.
func (md *mode) startNRI(ctx context.Context) error {
	md.nriLog = filepath.Join(md.node.Dir, "tend-nri.log")
	f, err := os.Create(md.nriLog)
	if err != nil {
		return err
	}
	defer f.Close()
	md.nri = exec.Command(nriBin, "--socket", md.node.NRISock, "--tend", env.Tend, "-v")
	md.nri.Stdout, md.nri.Stderr = f, f
	md.nri.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := md.nri.Start(); err != nil {
		return err
	}
	for ctx.Err() == nil {
		b, _ := os.ReadFile(md.nriLog)
		if strings.Contains(string(b), "registered") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(md.nriLog)
	return fmt.Errorf("tend-nri did not register: %s", b)
}

func (md *mode) stop() {
	if md.node != nil {
		if err := md.node.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "cri: %s node cleanup: %v\n", md.name, err)
		}
	}
	if md.nri != nil && md.nri.Process != nil {
		md.nri.Process.Signal(syscall.SIGTERM)
		ch := make(chan struct{})
		go func() { md.nri.Wait(); close(ch) }()
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			md.nri.Process.Kill()
			<-ch
		}
	}
}

// writeImages writes the pause, test and init images as OCI archives.
func writeImages(dir, pause string) ([]string, error) {
	base := []crinode.File{
		{Path: "/bin/busybox", Src: busybox},
		{Path: "/testprog", Src: env.Testprog},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\napp:x:1000:\n")},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/home/app", Dir: true},
	}
	for _, a := range []string{"sh", "echo", "sleep", "cat", "id", "ps", "ls", "true", "kill", "dd", "touch", "grep", "tr", "wc"} {
		base = append(base, crinode.File{Path: "/bin/" + a, Link: "busybox"})
	}
	imgs := []crinode.Image{
		{Name: crinode.PauseImage, Files: []crinode.File{{Path: "/pod-pause", Src: pause}}, Entrypoint: []string{"/pod-pause"}},
		{Name: testImage, Files: base, Cmd: []string{"/bin/sh"}},
		{Name: initImage, Files: append(append([]crinode.File(nil), base...), crinode.File{Path: "/sbin/tini", Src: env.Tend}),
			Entrypoint: []string{"/sbin/tini", "--"}, Cmd: []string{"/testprog", "sleep", "1000d"}},
	}
	var out []string
	for i, img := range imgs {
		p := filepath.Join(dir, fmt.Sprintf("image%d.tar", i))
		if err := crinode.WriteImage(img, p); err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// need skips or fails the test as the environment dictates and returns
// the node of the mode.
func need(t *testing.T, md *mode) *crinode.Node {
	t.Helper()
	needSetup(t)
	if md.err != nil {
		t.Fatal(md.err)
	}
	return md.node
}

// needSetup skips or fails the test as the environment dictates: for the
// tests that start nodes of their own (bins, archives).
func needSetup(t *testing.T) {
	t.Helper()
	env.Need(t)
	if setupErr != nil {
		t.Fatal("cri setup:", setupErr)
	}
	if criSkip != "" {
		if os.Getenv("TEND_REQUIRE_CRI") == "1" {
			t.Fatalf("cri suite cannot run: %s (TEND_REQUIRE_CRI=1)", criSkip)
		}
		t.Skip("SKIPPED: " + criSkip)
	}
}
