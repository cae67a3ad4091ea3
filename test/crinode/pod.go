package crinode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CRI namespace modes (runtime.v1.NamespaceMode).
const (
	NSPod       = 0
	NSContainer = 1
	NSNode      = 2
)

// Pod is a pod as the kubelet describes it to RunPodSandbox: a host-network
// pod (no hostname: the kubelet sends none for hostNetwork pods), its
// annotations, its grace, its log directory, its cgroup parent (one per
// pod under the node's CgroupParent, as the kubelet's kubepods/pod<uid>).
type Pod struct {
	Name        string
	Annotations map[string]string
	Grace       int  // terminationGracePeriodSeconds (0: 30, the Kubernetes default)
	SharePID    bool // shareProcessNamespace
	Restricted  bool // the restricted Pod Security profile (seccomp RuntimeDefault)
	Handler     string

	ID     string // sandbox ID once run
	LogDir string
	config string // path of the pod JSON
}

// Container is a container as the kubelet describes it to CreateContainer.
type Container struct {
	Name     string
	Image    string
	Command  []string
	Args     []string
	Env      map[string]string
	User     *int64 // runAsUser
	ReadOnly bool   // readOnlyRootFilesystem
	// Restricted: seccomp RuntimeDefault, all capabilities dropped,
	// allowPrivilegeEscalation false (no_new_privs), runAsNonRoot.
	Restricted  bool
	MemoryLimit int64
	Annotations map[string]string // besides the kubelet's own
	Mounts      map[string]string // container path -> host path (a hostPath volume)

	ID string
}

func (p *Pod) grace() int {
	if p.Grace == 0 {
		return 30
	}
	return p.Grace
}

func (p *Pod) nsOptions() map[string]any {
	pid := NSContainer
	if p.SharePID {
		pid = NSPod
	}
	return map[string]any{"network": NSNode, "pid": pid, "ipc": NSPod}
}

func (p *Pod) labels() map[string]string {
	return map[string]string{
		"io.kubernetes.pod.name":      p.Name,
		"io.kubernetes.pod.namespace": "default",
		"io.kubernetes.pod.uid":       "uid-" + p.Name,
	}
}

// Run is RunPodSandbox (crictl runp [--runtime HANDLER]).
func (n *Node) Run(ctx context.Context, p *Pod) error {
	dir := filepath.Join(n.Dir, "pods", p.Name)
	p.LogDir = filepath.Join(n.Dir, "logs", "default_"+p.Name+"_uid-"+p.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(p.LogDir, 0o755); err != nil {
		return err
	}
	sc := map[string]any{"namespace_options": p.nsOptions()}
	if p.Restricted {
		sc["seccomp"] = map[string]any{"profile_type": 0}
		sc["run_as_user"] = map[string]any{"value": 65535}
	}
	ann := map[string]string{"kubernetes.io/config.source": "api"}
	for k, v := range p.Annotations {
		ann[k] = v
	}
	cfg := map[string]any{
		"metadata":      map[string]any{"name": p.Name, "uid": "uid-" + p.Name, "namespace": "default", "attempt": 0},
		"log_directory": p.LogDir,
		"labels":        p.labels(),
		"annotations":   ann,
		"linux":         map[string]any{"security_context": sc, "cgroup_parent": n.CgroupParent + "/poduid-" + p.Name},
	}
	p.config = filepath.Join(dir, "pod.json")
	if err := os.WriteFile(p.config, JSON(cfg), 0o644); err != nil {
		return err
	}
	args := []string{"runp"}
	if p.Handler != "" {
		args = append(args, "--runtime", p.Handler)
	}
	out, err := n.Crictl(ctx, append(args, p.config)...)
	if err != nil {
		return err
	}
	p.ID = strings.TrimSpace(out)
	return nil
}

// Create is CreateContainer, with the container config the kubelet would
// send: its io.kubernetes.* labels and annotations (the pod's grace
// included), the log path under the pod's log directory, the security
// context.
func (n *Node) Create(ctx context.Context, p *Pod, c *Container) error {
	sc := map[string]any{"namespace_options": p.nsOptions()}
	if c.User != nil {
		sc["run_as_user"] = map[string]any{"value": *c.User}
	}
	if c.ReadOnly {
		sc["readonly_rootfs"] = true
	}
	if c.Restricted {
		sc["seccomp"] = map[string]any{"profile_type": 0}
		sc["capabilities"] = map[string]any{"drop_capabilities": []string{"ALL"}}
		sc["no_new_privs"] = true
	}
	linux := map[string]any{"security_context": sc}
	if c.MemoryLimit > 0 {
		linux["resources"] = map[string]any{"memory_limit_in_bytes": c.MemoryLimit, "memory_swap_limit_in_bytes": c.MemoryLimit}
	}
	ann := map[string]string{
		"io.kubernetes.container.hash":                     "1",
		"io.kubernetes.container.restartCount":             "0",
		"io.kubernetes.container.terminationMessagePath":   "/dev/termination-log",
		"io.kubernetes.container.terminationMessagePolicy": "File",
		"io.kubernetes.pod.terminationGracePeriod":         strconv.Itoa(p.grace()),
	}
	for k, v := range c.Annotations {
		ann[k] = v
	}
	labels := p.labels()
	labels["io.kubernetes.container.name"] = c.Name
	var envs []map[string]string
	for k, v := range c.Env {
		envs = append(envs, map[string]string{"key": k, "value": v})
	}
	var mounts []map[string]any
	for cp, hp := range c.Mounts {
		mounts = append(mounts, map[string]any{"container_path": cp, "host_path": hp})
	}
	cfg := map[string]any{
		"mounts":      mounts,
		"metadata":    map[string]any{"name": c.Name, "attempt": 0},
		"image":       map[string]any{"image": c.Image},
		"command":     c.Command,
		"args":        c.Args,
		"envs":        envs,
		"labels":      labels,
		"annotations": ann,
		"log_path":    c.Name + "/0.log",
		"linux":       linux,
	}
	path := filepath.Join(filepath.Dir(p.config), c.Name+".json")
	if err := os.WriteFile(path, JSON(cfg), 0o644); err != nil {
		return err
	}
	out, err := n.Crictl(ctx, "create", p.ID, path, p.config)
	if err != nil {
		return err
	}
	c.ID = strings.TrimSpace(out)
	return nil
}

// Status is what ContainerStatus reports (crictl inspect -o json).
type Status struct {
	State      string `json:"state"`
	ExitCode   int    `json:"exitCode"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
	StartedAt  string `json:"startedAt"`
	FinishedAt string `json:"finishedAt"`
	LogPath    string `json:"logPath"`
	Pid        int    // info.pid: the container's init, as seen from the host
}

// Inspect is ContainerStatus.
func (n *Node) Inspect(ctx context.Context, id string) (Status, error) {
	out, err := n.Crictl(ctx, "inspect", "-o", "json", id)
	if err != nil {
		return Status{}, err
	}
	var v struct {
		Status Status `json:"status"`
		Info   struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return Status{}, fmt.Errorf("crictl inspect %s: %v: %.300s", id, err, out)
	}
	v.Status.Pid = v.Info.Pid
	return v.Status, nil
}

// PodState is the sandbox's state (SANDBOX_READY / SANDBOX_NOTREADY).
func (n *Node) PodState(ctx context.Context, id string) (string, error) {
	out, err := n.Crictl(ctx, "inspectp", "-o", "json", id)
	if err != nil {
		return "", err
	}
	var v struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return "", err
	}
	return v.Status.State, nil
}

// PodPid is the sandbox's (pause's) host pid.
func (n *Node) PodPid(ctx context.Context, id string) (int, error) {
	out, err := n.Crictl(ctx, "inspectp", "-o", "json", id)
	if err != nil {
		return 0, err
	}
	var v struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Info.Pid <= 0 {
		return 0, fmt.Errorf("crictl inspectp %s: no info.pid (%v): %.300s", id, err, out)
	}
	return v.Info.Pid, nil
}

// WaitExited polls ContainerStatus until the container exited.
func (n *Node) WaitExited(ctx context.Context, id string) (Status, error) {
	for {
		st, err := n.Inspect(ctx, id)
		if err == nil && st.State == "CONTAINER_EXITED" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("container %s did not exit: %v (last state %q, err %v)", id, ctx.Err(), st.State, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Remove is StopPodSandbox + RemovePodSandbox (crictl rmp -f).
func (n *Node) Remove(ctx context.Context, p *Pod) error {
	if p.ID == "" {
		return nil
	}
	_, err := n.Crictl(ctx, "rmp", "-f", p.ID)
	return err
}
