package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/crinode"
)

// startNode starts a private node of the test's own (a third one, beside
// the two modes' nodes) with the suite's images; Stop runs at cleanup
// unless the test stopped it itself.
func startNode(t *testing.T, name string, mod func(o *crinode.Options)) *crinode.Node {
	t.Helper()
	dir, err := os.MkdirTemp("", "tend-cri-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	o := crinode.Options{Bins: bins, Dir: dir}
	if mod != nil {
		mod(&o)
	}
	// Bound: only guards a hang (containerd answers in about a second).
	n, err := crinode.Start(o, 3*time.Minute)
	if n != nil {
		t.Cleanup(func() {
			if err := n.Stop(); err != nil {
				t.Errorf("node cleanup: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, a := range archives {
		if err := n.Import(ctx, a); err != nil {
			t.Fatalf("import: %v", err)
		}
	}
	return n
}

// cgroupDirs lists the directories directly under the root of every
// cgroup hierarchy (v1: /sys/fs/cgroup/CONTROLLER/*; v2: /sys/fs/cgroup/*).
func cgroupDirs() []string {
	var out []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range append([]string{"/sys/fs/cgroup"}, roots...) {
		ents, err := os.ReadDir(r)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				out = append(out, filepath.Join(r, e.Name()))
			}
		}
	}
	return out
}

// TestNodeLeavesNoCgroups: a node's pods get cgroups under the node's own
// parent (as the kubelet gives each pod one), and once the node is stopped
// no cgroup directory it made is left: without a cgroup parent containerd
// put every container under /k8s.io, which stayed in every hierarchy after
// the suite.
func TestNodeLeavesNoCgroups(t *testing.T) {
	needSetup(t)
	before := cgroupDirs()
	n := startNode(t, "cgroups", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := &crinode.Pod{Name: "cgroups"}
	if err := n.Run(ctx, p); err != nil {
		t.Fatal(err)
	}
	c := &crinode.Container{Name: "app", Image: testImage, MemoryLimit: 64 << 20, Command: sleeper()}
	if err := n.Create(ctx, p, c); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Crictl(ctx, "start", c.ID); err != nil {
		t.Fatal(err)
	}
	st, err := n.Inspect(ctx, c.ID)
	if err != nil || st.Pid <= 0 {
		t.Fatalf("ContainerStatus: %+v, %v", st, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && f[2] != "/" && !strings.HasPrefix(f[2], n.CgroupParent+"/") {
			t.Errorf("the container's cgroup %q is outside the node's parent %s", l, n.CgroupParent)
		}
	}
	if len(n.CgroupDirs()) == 0 {
		t.Errorf("no cgroup directory %s while a pod runs", n.CgroupParent)
	}
	if err := n.Remove(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	// Only what this node could have made counts: its own parent, or
	// containerd's default parent k8s.io. Other suites run beside this
	// one (go test runs packages in parallel) and make top-level cgroups
	// of their own (test/oci's namespaces, test/e2e's memory cgroups).
	own := filepath.Base(n.CgroupParent)
	for _, d := range cgroupDirs() {
		if b := filepath.Base(d); (b == own || b == "k8s.io") && !slices.Contains(before, d) {
			t.Errorf("cgroup directory %s left after the node stopped", d)
		}
	}
	if left := n.CgroupDirs(); len(left) > 0 {
		t.Errorf("the node's cgroup directories left: %v", left)
	}
}
