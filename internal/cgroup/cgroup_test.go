package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes files (path relative to root -> contents) under a new
// temporary directory and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		cgroup    string
		mountinfo string
		want      Cgroup
	}{
		{
			name:   "v2 host",
			cgroup: "0::/system.slice/app.service\n",
			mountinfo: "25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n" +
				"26 30 0:5 / /proc rw - proc proc rw\n",
			want: Cgroup{Unified: "/sys/fs/cgroup/system.slice/app.service"},
		},
		{
			name:      "v2 private cgroup namespace",
			cgroup:    "0::/\n",
			mountinfo: "700 690 0:23 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n",
			want:      Cgroup{Unified: "/sys/fs/cgroup"},
		},
		{
			name:      "v2 host cgroup namespace, container's subtree mounted",
			cgroup:    "0::/docker/abc\n",
			mountinfo: "700 690 0:23 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
			want:      Cgroup{Unified: "/sys/fs/cgroup"},
		},
		{
			name:   "v1 and hybrid (this test machine)",
			cgroup: "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/47b5\n2:cpuacct:/\n1:cpu:/\n0::/\n",
			mountinfo: "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
				"32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n" +
				"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
				"38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n" +
				"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
			want: Cgroup{Unified: "/sys/fs/cgroup/unified", Memory: "/sys/fs/cgroup/memory/process_api/47b5",
				CPU: "/sys/fs/cgroup/cpu", CPUAcct: "/sys/fs/cgroup/cpuacct", Pids: "/sys/fs/cgroup/pids"},
		},
		{
			name:   "v1 cpu,cpuacct together, docker subtree, optional fields",
			cgroup: "3:cpu,cpuacct:/docker/abc\n5:memory:/docker/abc\n",
			mountinfo: "40 30 0:28 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:7 - cgroup cgroup rw,cpu,cpuacct\n" +
				"41 30 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid master:8 - cgroup cgroup rw,memory\n",
			want: Cgroup{Memory: "/sys/fs/cgroup/memory", CPU: "/sys/fs/cgroup/cpu,cpuacct", CPUAcct: "/sys/fs/cgroup/cpu,cpuacct"},
		},
		{
			name:      "escaped mount point",
			cgroup:    "0::/a\n",
			mountinfo: `25 30 0:23 / /mnt/cg\040two rw - cgroup2 cgroup2 rw` + "\n",
			want:      Cgroup{Unified: "/mnt/cg two/a"},
		},
		{
			name:      "cgroup outside the mounted subtree",
			cgroup:    "4:memory:/other\n",
			mountinfo: "41 30 0:29 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			want:      Cgroup{},
		},
		{
			name:      "nothing mounted",
			cgroup:    "0::/\n",
			mountinfo: "26 30 0:5 / /proc rw - proc proc rw\n",
			want:      Cgroup{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse([]byte(tt.cgroup), []byte(tt.mountinfo))
			if *got != tt.want {
				t.Errorf("Parse =\n %+v\nwant\n %+v", *got, tt.want)
			}
		})
	}
}

func TestReadV2(t *testing.T) {
	root := tree(t, map[string]string{
		"cg/memory.events":      "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n",
		"cg/memory.max":         "268435456\n",
		"cg/memory.current":     "1048576\n",
		"cg/cpu.stat":           "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
		"nolimit/memory.max":    "max\n",
		"nolimit/memory.events": "oom_kill 0\n",
	})
	c := &Cgroup{Unified: filepath.Join(root, "cg")}
	if v := c.MemoryVersion(); v != V2 {
		t.Fatalf("MemoryVersion = %v, want v2", v)
	}
	if n, err := c.OOMKills(); err != nil || n != 2 {
		t.Errorf("OOMKills = %d, %v; want 2", n, err)
	}
	if n, err := c.MemoryLimit(); err != nil || n != 256<<20 {
		t.Errorf("MemoryLimit = %d, %v; want 256Mi", n, err)
	}
	u, err := c.Usage()
	if err != nil || u != (Usage{MemoryBytes: 1 << 20, MemoryLimit: 256 << 20, CPUSeconds: 2.5, HasMemory: true, HasCPU: true}) {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	nl := &Cgroup{Unified: filepath.Join(root, "nolimit")}
	if n, err := nl.MemoryLimit(); err != nil || n != Unlimited {
		t.Errorf("MemoryLimit(max) = %d, %v; want Unlimited", n, err)
	}
	// A v2 cgroup whose memory controller is not enabled has no memory.events.
	none := &Cgroup{Unified: root}
	if _, err := none.OOMKills(); err != ErrNoMemoryController {
		t.Errorf("OOMKills without memory controller: err = %v", err)
	}
}

func TestReadV1(t *testing.T) {
	root := tree(t, map[string]string{
		"memory/c/memory.oom_control":      "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n",
		"memory/c/memory.limit_in_bytes":   "9223372036854771712\n",
		"memory/c/memory.usage_in_bytes":   "4096\n",
		"cpuacct/c/cpuacct.usage":          "1500000000\n",
		"memory/old/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\n",
		"memory/bad/memory.oom_control":    "oom_kill lots\n",
		"memory/lim/memory.limit_in_bytes": "67108864\n",
	})
	c := &Cgroup{Memory: filepath.Join(root, "memory/c"), CPUAcct: filepath.Join(root, "cpuacct/c"), Unified: filepath.Join(root, "unified")}
	if v := c.MemoryVersion(); v != V1 {
		t.Fatalf("MemoryVersion = %v, want v1", v)
	}
	if n, err := c.OOMKills(); err != nil || n != 7 {
		t.Errorf("OOMKills = %d, %v; want 7", n, err)
	}
	if n, err := c.MemoryLimit(); err != nil || n != Unlimited {
		t.Errorf("MemoryLimit = %d, %v; want Unlimited", n, err)
	}
	u, err := c.Usage()
	if err != nil || u != (Usage{MemoryBytes: 4096, MemoryLimit: Unlimited, CPUSeconds: 1.5, HasMemory: true, HasCPU: true}) {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	for _, dir := range []string{"old", "bad"} {
		if _, err := OOMKillsV1(filepath.Join(root, "memory", dir)); err == nil {
			t.Errorf("OOMKillsV1(%s): no error", dir)
		}
	}
	l := &Cgroup{Memory: filepath.Join(root, "memory/lim")}
	if n, err := l.MemoryLimit(); err != nil || n != 64<<20 {
		t.Errorf("MemoryLimit = %d, %v; want 64Mi", n, err)
	}
	// Memory readable, CPU not: Usage still answers, HasCPU false.
	u, err = l.Usage()
	if err == nil || u.HasMemory {
		// usage_in_bytes is missing in lim: both fail.
		t.Errorf("Usage without files = %+v, %v", u, err)
	}
}

func TestNoController(t *testing.T) {
	c := &Cgroup{}
	if _, err := c.OOMKills(); err != ErrNoMemoryController {
		t.Errorf("OOMKills: %v", err)
	}
	if _, err := c.Usage(); err == nil {
		t.Error("Usage: no error")
	}
	if err := c.CanLimit(Limits{MemoryMax: 1}); err == nil {
		t.Error("CanLimit: no error")
	}
}

func TestChildV1(t *testing.T) {
	root := tree(t, map[string]string{"memory/c/x": "", "cpu/c/x": "", "pids/c/x": ""})
	c := &Cgroup{Memory: filepath.Join(root, "memory/c"), CPU: filepath.Join(root, "cpu/c"), Pids: filepath.Join(root, "pids/c")}
	l := Limits{MemoryMax: 64 << 20, CPUMax: 0.5, PidsMax: 100}
	if err := c.CanLimit(l); err != nil {
		t.Fatalf("CanLimit: %v", err)
	}
	// A tmpfs fixture has no control files: the kernel creates them in a
	// real cgroup. Create them as the kernel would, then NewChild writes.
	for _, f := range []string{"memory/c/tend.web/memory.limit_in_bytes", "cpu/c/tend.web/cpu.cfs_period_us", "cpu/c/tend.web/cpu.cfs_quota_us", "pids/c/tend.web/pids.max",
		"memory/c/tend.web/cgroup.procs", "cpu/c/tend.web/cgroup.procs", "pids/c/tend.web/cgroup.procs"} {
		full := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, nil, 0o644)
	}
	ch, err := c.NewChild("web", l)
	if err != nil {
		t.Fatalf("NewChild: %v", err)
	}
	for f, want := range map[string]string{
		"memory/c/tend.web/memory.limit_in_bytes": "67108864",
		"cpu/c/tend.web/cpu.cfs_period_us":        "100000",
		"cpu/c/tend.web/cpu.cfs_quota_us":         "50000",
		"pids/c/tend.web/pids.max":                "100",
	} {
		got, _ := os.ReadFile(filepath.Join(root, f))
		if string(got) != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	if ch.FD() != -1 || len(ch.Dirs) != 3 {
		t.Errorf("FD %d, Dirs %v", ch.FD(), ch.Dirs)
	}
	if err := ch.Add(1234); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "pids/c/tend.web/cgroup.procs"))
	if string(got) != "1234" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestCanLimitV2(t *testing.T) {
	root := tree(t, map[string]string{"cg/cgroup.controllers": "cpu io pids\n"})
	c := &Cgroup{Unified: filepath.Join(root, "cg")}
	if err := c.CanLimit(Limits{CPUMax: 1, PidsMax: 10}); err != nil {
		t.Errorf("cpu+pids: %v", err)
	}
	err := c.CanLimit(Limits{MemoryMax: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "memory controller is not available") {
		t.Errorf("memory not delegated: %v", err)
	}
}

func TestCPUQuota(t *testing.T) {
	for cores, want := range map[float64]int64{0.5: 50000, 2: 200000, 0.001: 1000, 0.25: 25000} {
		if got := cpuQuota(cores); got != want {
			t.Errorf("cpuQuota(%v) = %d, want %d", cores, got, want)
		}
	}
}

// TestSelf reads the cgroup of the test itself: whatever this machine has,
// finding it must not fail, and a memory controller found must answer.
func TestSelf(t *testing.T) {
	c, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v (memory: %v)", *c, c.MemoryVersion())
	if c.MemoryVersion() == None {
		t.Skip("no memory controller here")
	}
	if _, err := c.OOMKills(); err != nil {
		t.Errorf("OOMKills: %v", err)
	}
	if _, err := c.MemoryLimit(); err != nil {
		t.Errorf("MemoryLimit: %v", err)
	}
}
