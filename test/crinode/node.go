// Package crinode runs a private Kubernetes node runtime for tend's CRI
// tests (test/cri) and benchmark (bench, tendbench cri): the pinned
// containerd 2.x built by scripts/cri-bins, with its own root, state, gRPC
// and ttrpc sockets, NRI socket and config file, in a network namespace of
// its own (so the exec/attach streaming server on loopback, the shims and
// the host-network pods are all private), driven with crictl exactly as the
// kubelet drives the CRI. The machine's dockerd and Docker's containerd are
// never used. Node.Restart stops containerd and starts it again in the
// same network namespace, its containers left running, as a node's
// runtime restart does.
//
// Images are built without Docker: an OCI image layout archive written by
// WriteImage (one uncompressed layer FROM scratch) and imported with the
// node's own ctr into the k8s.io namespace.
//
// Every pod gets a cgroup parent of the node's own (CgroupParent/pod<uid>,
// as the kubelet gives each pod one under kubepods), so that runc makes no
// directory outside it (without one, containerd's CRI puts every container
// under /k8s.io, which outlived the node).
//
// Everything is cleaned up by ID: Stop removes every pod through the CRI,
// stops containerd by its pid, kills the shims started for this node's
// socket (found by their -address argument in /proc), removes the node's
// cgroup directories, unmounts what is left under the node's directory and
// removes it.
package crinode

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PauseImage is the sandbox image every node is configured with.
const PauseImage = "docker.io/tend/pause:test"

// Options configure a node.
type Options struct {
	Bins     string // directory with containerd, containerd-shim-runc-v2, ctr, crictl (scripts/cri-bins)
	Dir      string // the node's own directory (created; removed by Stop)
	TendRunc string // BinaryName of the runtime handler "tend" ("" = no such handler)
	Runc     string // the real runc ("" = runc from PATH)
	// Log receives containerd's output (nil: a file node.log in Dir).
	Log *os.File
	// ExtraConfig is appended to containerd's config (TOML tables with
	// their full names, e.g. NRI's default validator).
	ExtraConfig string
	// NRIPlugins are symlinks NAME -> TARGET put in the node's NRI plugin
	// directory before containerd starts: plugins it launches itself.
	NRIPlugins map[string]string
}

// Node is a running private containerd.
type Node struct {
	Options
	Sock    string // containerd's gRPC socket (also the CRI endpoint)
	NRISock string // its NRI socket
	Pid     int    // containerd's pid (in the node's network namespace)
	// CgroupParent is the cgroup (cgroupfs path) under which every pod of
	// the node gets its own: /tend-crinode-NAME-RANDOM.
	CgroupParent string
	cfg          string // containerd's config file
	cmd          *exec.Cmd
	done         chan struct{}
	logw         *os.File // containerd's output
	logFile      *os.File // the node.log Start opened (nil when Options.Log)
	netns        *os.File // the node's network namespace (Restart)
}

// Start writes the config, starts containerd in a fresh network namespace
// (loopback up) and waits until the CRI answers (timeout bounds that wait).
func Start(o Options, timeout time.Duration) (*Node, error) {
	if o.Runc == "" {
		p, err := exec.LookPath("runc")
		if err != nil {
			return nil, errors.New("crinode: runc not found in PATH")
		}
		o.Runc = p
	}
	for _, d := range []string{"root", "state", "runc", "opt", "nri-plugins", "nri-conf", "logs"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for name, target := range o.NRIPlugins {
		if err := os.Symlink(target, filepath.Join(o.Dir, "nri-plugins", name)); err != nil {
			return nil, err
		}
	}
	n := &Node{Options: o, Sock: filepath.Join(o.Dir, "containerd.sock"), NRISock: filepath.Join(o.Dir, "nri.sock")}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	n.CgroupParent = "/tend-crinode-" + filepath.Base(o.Dir) + "-" + hex.EncodeToString(rnd[:])
	n.cfg = filepath.Join(o.Dir, "config.toml")
	if err := os.WriteFile(n.cfg, []byte(n.config()), 0o644); err != nil {
		return nil, err
	}
	crictlCfg := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 180\n", n.Sock, n.Sock)
	if err := os.WriteFile(filepath.Join(o.Dir, "crictl.yaml"), []byte(crictlCfg), 0o644); err != nil {
		return nil, err
	}
	n.logw = o.Log
	if n.logw == nil {
		f, err := os.Create(filepath.Join(o.Dir, "node.log"))
		if err != nil {
			return nil, err
		}
		n.logw, n.logFile = f, f
	}
	// unshare (no --fork) execs sh, which execs containerd: the pid is
	// containerd's own.
	err := n.launch(exec.Command("unshare", "--net", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
		filepath.Join(o.Bins, "containerd"), "--config", n.cfg), timeout)
	if err != nil {
		return n, err
	}
	// The node's network namespace, held for Restart (opened once
	// containerd answers: unshare has made it by then).
	n.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", n.Pid))
	return n, err
}

// Restart stops containerd (SIGTERM, SIGKILL after 20 s) as a node's
// runtime restart does, leaving its shims and containers running, and
// starts it again with the same config in the same network namespace;
// it waits until the CRI answers (timeout bounds that wait).
func (n *Node) Restart(timeout time.Duration) error {
	n.stopContainerd()
	// nsenter (no --pid: no fork) enters the namespace held on its fd 3
	// and execs containerd: the pid is containerd's own.
	cmd := exec.Command("nsenter", "--net=/proc/self/fd/3", "--", filepath.Join(n.Bins, "containerd"), "--config", n.cfg)
	cmd.ExtraFiles = []*os.File{n.netns}
	return n.launch(cmd, timeout)
}

// launch starts containerd with cmd and waits until the CRI answers.
func (n *Node) launch(cmd *exec.Cmd, timeout time.Duration) error {
	n.cmd, n.done = cmd, make(chan struct{})
	cmd.Env = append(os.Environ(), "PATH="+n.Bins+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = n.logw, n.logw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("crinode: starting containerd: %w", err)
	}
	n.Pid = cmd.Process.Pid
	done := n.done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(n.Sock); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := n.Crictl(ctx, "info")
			cancel()
			if err == nil {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("crinode: containerd exited at its start: %v; log:\n%s", cmd.ProcessState, n.LogTail(4000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("crinode: the CRI did not answer within %v; log:\n%s", timeout, n.LogTail(4000))
		}
	}
}

// stopContainerd sends containerd SIGTERM and waits for its exit (SIGKILL
// after 20 s).
func (n *Node) stopContainerd() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

func (n *Node) config() string {
	d := n.Dir
	var b strings.Builder
	fmt.Fprintf(&b, `version = 3
root = %q
state = %q
imports = []

[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.nri.v1.nri"]
  disable = false
  socket_path = %q
  plugin_path = %q
  plugin_config_path = %q
  plugin_registration_timeout = "30s"
  plugin_request_timeout = "60s"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %q
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  restrict_oom_score_adj = true
  cdi_spec_dirs = []
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = %q
        Root = %q
        SystemdCgroup = false
`, filepath.Join(d, "root"), filepath.Join(d, "state"), n.Sock, n.Sock+".ttrpc",
		filepath.Join(d, "opt"), n.NRISock, filepath.Join(d, "nri-plugins"), filepath.Join(d, "nri-conf"),
		PauseImage, n.Runc, filepath.Join(d, "runc"))
	if n.TendRunc != "" {
		fmt.Fprintf(&b, `    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.tend]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["tend.sh/*"]
      container_annotations = ["tend.sh/*", "io.kubernetes.pod.terminationGracePeriod"]
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.tend.options]
        BinaryName = %q
        Root = %q
        SystemdCgroup = false
`, n.TendRunc, filepath.Join(d, "runc"))
	}
	if n.ExtraConfig != "" {
		b.WriteString("\n" + n.ExtraConfig + "\n")
	}
	return b.String()
}

// LogTail is the end of containerd's log (when Start opened it).
func (n *Node) LogTail(max int) string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "node.log"))
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Command is crictl ARGS against this node, run in the node's network
// namespace (crictl exec reaches the streaming server on its loopback).
func (n *Node) Command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	var full []string
	full = append(full, "--net=/proc/"+strconv.Itoa(n.Pid)+"/ns/net", "--", filepath.Join(n.Bins, tool))
	switch tool {
	case "crictl":
		full = append(full, "--config", filepath.Join(n.Dir, "crictl.yaml"), "--timeout", "180s")
	case "ctr":
		full = append(full, "--address", n.Sock, "--namespace", "k8s.io")
	}
	cmd := exec.CommandContext(ctx, "nsenter", append(full, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Crictl runs crictl ARGS and returns its stdout; the error carries stderr.
func (n *Node) Crictl(ctx context.Context, args ...string) (string, error) {
	return run(n.Command(ctx, "crictl", args...))
}

// Ctr runs ctr ARGS (namespace k8s.io).
func (n *Node) Ctr(ctx context.Context, args ...string) (string, error) {
	return run(n.Command(ctx, "ctr", args...))
}

func run(cmd *exec.Cmd) (string, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %v (after %v): %s", strings.Join(cmd.Args[3:], " "), err, time.Since(start).Round(time.Millisecond), strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Import imports an image archive (WriteImage) into k8s.io.
func (n *Node) Import(ctx context.Context, archive string) error {
	_, err := n.Ctr(ctx, "images", "import", "--no-unpack=false", archive)
	if err != nil {
		// older flag sets: plain import
		_, err = n.Ctr(ctx, "images", "import", archive)
	}
	return err
}

// Stop removes every pod, stops containerd (SIGTERM, SIGKILL after 20 s),
// kills this node's shims and the NRI plugins it launched by pid, removes
// its cgroup directories, unmounts what is left under Dir and removes Dir.
// It returns the first problem met (cleanup goes on).
func (n *Node) Stop() error {
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if n.cmd != nil && n.cmd.Process != nil {
		select {
		case <-n.done:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			if out, err := n.Crictl(ctx, "pods", "-q"); err == nil {
				for _, id := range strings.Fields(out) {
					_, err := n.Crictl(ctx, "rmp", "-f", id)
					note(err)
				}
			}
			cancel()
			n.stopContainerd()
		}
	}
	for _, pid := range append(n.shims(), n.LaunchedPlugins()...) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	note(n.removeCgroups())
	note(unmountUnder(n.Dir))
	if n.logFile != nil {
		n.logFile.Close()
	}
	if n.netns != nil {
		n.netns.Close()
	}
	note(os.RemoveAll(n.Dir))
	return first
}

// CgroupDirs are the directories of the node's cgroup parent that exist:
// one per hierarchy on cgroup v1 (/sys/fs/cgroup/CONTROLLER/PARENT), one on
// v2 (/sys/fs/cgroup/PARENT).
func (n *Node) CgroupDirs() []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range append([]string{"/sys/fs/cgroup"}, roots...) {
		p := filepath.Join(r, n.CgroupParent)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// removeCgroups removes the node's cgroup parent in every hierarchy,
// deepest directories first (runc removes a container's own directory,
// not the pod's or the node's above it). One that still holds a process
// is an error.
func (n *Node) removeCgroups() error {
	var first error
	for _, root := range n.CgroupDirs() {
		if errs := RemoveCgroupTree(root); len(errs) > 0 && first == nil {
			first = fmt.Errorf("crinode: cgroup not removed: %w", errs[0])
		}
	}
	return first
}

// shims are the pids of containerd-shim-runc-v2 processes started for
// this node (their command line has -address SOCK).
func (n *Node) shims() []int {
	return procs(func(args []string) bool {
		if !strings.HasSuffix(args[0], "containerd-shim-runc-v2") {
			return false
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == n.Sock {
				return true
			}
		}
		return false
	})
}

// LaunchedPlugins are the pids of the NRI plugins containerd launched from
// the node's plugin directory (their argv[0] is the path of the file there).
func (n *Node) LaunchedPlugins() []int {
	dir := filepath.Join(n.Dir, "nri-plugins") + "/"
	return procs(func(args []string) bool { return strings.HasPrefix(args[0], dir) })
}

// procs are the pids of the processes whose command line match says yes to.
func procs(match func(args []string) bool) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(string(b), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder lazily unmounts every mount point at or below dir, deepest
// first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescape(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	var first error
	for _, mp := range mps {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && first == nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			first = fmt.Errorf("unmount %s: %w", mp, err)
		}
	}
	return first
}

func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// JSON marshals v (indent-free) or panics: configs are built from plain maps.
func JSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// RemoveCgroupTree removes the directory root and every directory under
// it, deepest first, as a cgroup tree must be removed (rmdir only: a
// cgroup directory's files are not files). It returns the directories that
// could not be removed, with why (one still holding a process is EBUSY);
// a tree already gone is no error.
func RemoveCgroupTree(root string) []error {
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errs
}
