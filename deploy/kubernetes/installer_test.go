package kubernetes

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/tend-sh/tend/internal/inject"
)

const installer = "../image/tend-install"

// ci: under CI a missing prerequisite fails the test instead of skipping it.
func ci() bool { return os.Getenv("CI") == "true" }

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ci() {
		t.Fatalf("%s (CI=true: a failure, not a skip)", msg)
	}
	t.Logf("########## SKIPPED: %s ##########", msg)
	// make unit prints this file after the run (go test hides a passing
	// package's output): a skip is never silent.
	if path := os.Getenv("TEND_SKIP_REPORT"); path != "" {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "SKIPPED: tend deploy/kubernetes %s: %s\n", t.Name(), strings.SplitN(msg, "\n", 2)[0])
			f.Close()
		}
	}
	t.Skip(msg)
}

// busybox is the busybox-static the node image ships (make image's BUSYBOX).
func busybox(t *testing.T) string {
	t.Helper()
	b := os.Getenv("BUSYBOX")
	if b == "" {
		b = "/bin/busybox"
	}
	if _, err := os.Stat(b); err != nil {
		skipOrFail(t, "no busybox-static at %s (scripts/test-deps installs it): %v", b, err)
	}
	return b
}

// applets: a directory holding exactly the busybox applets the Makefile puts
// in the node image (NODE_APPLETS) on PATH, as in the image. (busybox sh
// runs its own applets before looking at PATH, so this cannot prove the
// list complete; the image's own run of tend-install does:
// TestNodeImageRunsTheDaemonSets.)
func applets(t *testing.T) string {
	t.Helper()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^NODE_APPLETS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no NODE_APPLETS")
	}
	bb := busybox(t)
	dir := t.TempDir()
	for _, a := range strings.Fields(string(m[1])) {
		if err := os.Symlink(bb, filepath.Join(dir, a)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// node is a fake host root, a fake tend to install, and the installer run
// against them with the image's applets only.
type node struct {
	t       *testing.T
	root    string // HOST_ROOT
	src     string // TEND_SRC
	applets string
}

func newNode(t *testing.T, files map[string]string) *node {
	n := &node{t: t, root: t.TempDir(), src: t.TempDir(), applets: applets(t)}
	for p, content := range files {
		n.write(p, content)
	}
	if err := os.WriteFile(filepath.Join(n.src, "tend"), []byte("#!/bin/sh\necho tend fake\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return n
}

// write puts a host file (a path ending in / is a directory).
func (n *node) write(p, content string) {
	full := filepath.Join(n.root, p)
	if strings.HasSuffix(p, "/") {
		if err := os.MkdirAll(full, 0o755); err != nil {
			n.t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) read(p string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(n.root, p))
	return string(b), err == nil
}

// run runs tend-install with args and extra environment; it returns the
// combined output and the exit code.
func (n *node) run(env []string, args ...string) (string, int) {
	n.t.Helper()
	cmd := exec.Command(busybox(n.t), append([]string{"sh", installer}, args...)...)
	cmd.Env = append([]string{"PATH=" + n.applets, "HOST_ROOT=" + n.root, "TEND_SRC=" + n.src}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			n.t.Fatalf("tend-install %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

const (
	ctdDropIn  = "etc/containerd/conf.d/10-tend.toml"
	crioDropIn = "etc/crio/crio.conf.d/10-tend.conf"
)

// TestInstallerRuntimes: which drop-in tend-install writes for which host
// configuration, and what it says when containerd would not read it.
func TestInstallerRuntimes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		env   []string
		// want: substrings of the containerd / CRI-O drop-in ("" = not written)
		ctd, crio []string
		out       []string // substrings of the output
	}{{
		name: "containerd 2.x config importing conf.d, systemd cgroups",
		files: map[string]string{"etc/containerd/config.toml": `version = 3
imports = ["/etc/containerd/conf.d/*.toml"]
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
`},
		ctd: []string{"version = 3", "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.tend]",
			`BinaryName = "/opt/tend/bin/tend-runc"`, "SystemdCgroup = true",
			`container_annotations = ["tend.sh/*", "io.kubernetes.pod.terminationGracePeriod"]`},
		out: []string{"wrote /etc/containerd/conf.d/10-tend.toml", "containerd must be restarted"},
	}, {
		name:  "version 2 config, relative import, multi-line list",
		files: map[string]string{"etc/containerd/config.toml": "# comment\nversion = 2\nimports = [\n  \"/etc/other/*.toml\",\n  'conf.d/*.toml',\n]\n[plugins]\n"},
		ctd:   []string{"version = 2", `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tend]`, "SystemdCgroup = false"},
	}, {
		name:  "SystemdCgroup forced",
		files: map[string]string{"etc/containerd/config.toml": "version = 3\nimports = ['/etc/containerd/conf.d/1*.toml']\n"},
		env:   []string{"TEND_SYSTEMD_CGROUP=true", "TEND_DIR=/usr/local/bin"},
		ctd:   []string{"SystemdCgroup = true", `BinaryName = "/usr/local/bin/tend-runc"`},
	}, {
		name:  "imports another directory: nothing written, the line to add printed",
		files: map[string]string{"etc/containerd/config.toml": "version = 3\nimports = [\"/etc/containerd/other/*.toml\"]\n"},
		out:   []string{"does not import /etc/containerd/conf.d/*.toml; nothing written", `imports = ["/etc/containerd/conf.d/*.toml"]`, `BinaryName = "/opt/tend/bin/tend-runc"`},
	}, {
		name:  "imports inside a table is not the top-level key",
		files: map[string]string{"etc/containerd/config.toml": "version = 3\n[x]\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"},
		out:   []string{"does not import"},
	}, {
		name:  "no config.toml: containerd reads no drop-in",
		files: map[string]string{"etc/containerd/": ""},
		out:   []string{"there is no /etc/containerd/config.toml", "version = 3", `imports = ["/etc/containerd/conf.d/*.toml"]`},
	}, {
		name:  "CRI-O",
		files: map[string]string{"etc/crio/crio.conf": "[crio]\n"},
		crio: []string{"[crio.runtime.runtimes.tend]", `runtime_path = "/opt/tend/bin/tend-runc"`, `runtime_type = "oci"`,
			`"tend.sh/inject",`, `"tend.sh/grace",`, `"io.kubernetes.pod.terminationGracePeriod",`},
		out: []string{"wrote /etc/crio/crio.conf.d/10-tend.conf", "crio must be restarted"},
	}, {
		name:  "neither runtime",
		files: map[string]string{"etc/hostname": "node\n"},
		out:   []string{"no /etc/containerd or /etc/crio on this host: no handler written"},
	}, {
		name:  "TEND_RUNTIME=containerd on a host without its directory",
		files: map[string]string{"etc/crio/crio.conf": "[crio]\n"},
		env:   []string{"TEND_RUNTIME=containerd"},
		out:   []string{"there is no /etc/containerd/config.toml"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.files)
			out, code := n.run(tc.env, "install")
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			for _, c := range []struct {
				path string
				want []string
			}{{ctdDropIn, tc.ctd}, {crioDropIn, tc.crio}} {
				got, ok := n.read(c.path)
				if ok != (c.want != nil) {
					t.Errorf("%s written = %v, want %v; output:\n%s", c.path, ok, c.want != nil, out)
				}
				for _, w := range c.want {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%s", c.path, w, got)
					}
				}
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			// The binaries are installed in every case.
			dir := "opt/tend/bin"
			if slices.Contains(tc.env, "TEND_DIR=/usr/local/bin") {
				dir = "usr/local/bin"
			}
			st, err := os.Stat(filepath.Join(n.root, dir, "tend"))
			if err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("tend not installed with mode 0755: %v %v", st, err)
			}
			if l, err := os.Readlink(filepath.Join(n.root, dir, "tend-runc")); l != "tend" {
				t.Errorf("tend-runc -> %q (%v); want tend", l, err)
			}
			if ents, _ := filepath.Glob(filepath.Join(n.root, dir, ".*")); len(ents) > 0 {
				t.Errorf("temporary files left: %v", ents)
			}
		})
	}
}

// TestInstallerLifecycle: install, install again (nothing changes, no
// restart), uninstall (ours removed, a file it found there restored, the
// link gone, tend kept); the restart runs only when asked, and only on a
// change.
func TestInstallerLifecycle(t *testing.T) {
	foreign := "# someone else's handler\n"
	n := newNode(t, map[string]string{
		"etc/containerd/config.toml": "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n",
		ctdDropIn:                    foreign,
		"etc/crio/crio.conf.d/":      "",
	})
	// A fake nsenter records what it would run instead of entering the
	// host's PID 1 (busybox sh runs its own applets before PATH, so only an
	// absolute TEND_NSENTER keeps the real one from running).
	log := filepath.Join(t.TempDir(), "nsenter.log")
	fake := filepath.Join(t.TempDir(), "nsenter")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	restarts := func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	restart := []string{"TEND_RESTART_RUNTIME=true", "TEND_NSENTER=" + fake}

	out, code := n.run(restart, "install")
	if code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	if b, _ := n.read("opt/tend/backup/10-tend.toml"); b != foreign {
		t.Errorf("the foreign drop-in was not backed up: %q\n%s", b, out)
	}
	first, _ := n.read(ctdDropIn)
	if !strings.Contains(first, "runtimes.tend]") {
		t.Fatalf("drop-in not written:\n%s\n%s", first, out)
	}
	want := "--target 1 --mount --uts --ipc --net --pid -- systemctl restart containerd\n--target 1 --mount --uts --ipc --net --pid -- systemctl restart crio"
	if got := strings.Join(restarts(), "\n"); got != want {
		t.Errorf("restarts after install:\n got %s\nwant %s", got, want)
	}

	out, code = n.run(restart, "install")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second install: exit %d\n%s", code, out)
	}
	if again, _ := n.read(ctdDropIn); again != first {
		t.Error("a second install changed the drop-in")
	}
	if got := len(restarts()); got != 2 {
		t.Errorf("a second install with nothing changed restarted a runtime: %v", restarts())
	}

	out, code = n.run(nil, "uninstall")
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	if got, _ := n.read(ctdDropIn); got != foreign {
		t.Errorf("uninstall did not restore the foreign drop-in: %q\n%s", got, out)
	}
	if _, ok := n.read(crioDropIn); ok {
		t.Errorf("uninstall left %s\n%s", crioDropIn, out)
	}
	if _, err := os.Lstat(filepath.Join(n.root, "opt/tend/bin/tend-runc")); !os.IsNotExist(err) {
		t.Errorf("uninstall left tend-runc: %v", err)
	}
	if _, ok := n.read("opt/tend/bin/tend"); !ok {
		t.Error("uninstall removed tend (containers may have it mounted; the NRI plugin mounts it)")
	}
	if !strings.Contains(out, "must be restarted") || len(restarts()) != 2 {
		t.Errorf("uninstall without TEND_RESTART_RUNTIME restarted something or did not say to: %v\n%s", restarts(), out)
	}
	// A second uninstall touches nothing it did not write.
	if out, code = n.run(nil, "uninstall"); code != 0 {
		t.Fatalf("second uninstall: exit %d\n%s", code, out)
	}
	if got, _ := n.read(ctdDropIn); got != foreign {
		t.Error("a second uninstall removed a file tend-install did not write")
	}
}

// TestInstallerUsage: bad modes and values exit 2 with the usage.
func TestInstallerUsage(t *testing.T) {
	n := newNode(t, nil)
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "usage: tend-install"},
		{nil, []string{"instal"}, "usage: tend-install"},
		{nil, []string{"install", "--wiat"}, "usage: tend-install"},
		{[]string{"TEND_RUNTIME=docker"}, []string{"install"}, "TEND_RUNTIME=docker: want auto, containerd, crio or both"},
	} {
		out, code := n.run(tc.env, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("tend-install %v %v: exit %d, output %q; want 2 and %q", tc.env, tc.args, code, out, tc.want)
		}
	}
}

// TestInstallerAnnotationsMatchInject: the CRI-O drop-in allows exactly the
// annotations tend reads (inject.Annotations) and the kubelet's grace.
func TestInstallerAnnotationsMatchInject(t *testing.T) {
	src, err := os.ReadFile(installer)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ANNOTATIONS="([^"]*)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal("tend-install: no ANNOTATIONS=")
	}
	got := strings.Fields(string(m[1]))
	want := append(inject.Annotations(), inject.AnnotationPodGrace)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tend-install ANNOTATIONS:\n got %v\nwant %v", got, want)
	}
	if !bytes.HasPrefix(src, []byte("#!/bin/sh\n")) {
		t.Error("tend-install is not a #!/bin/sh script")
	}
}

// containerdBin builds (or finds cached) the pinned containerd 2.x with
// scripts/cri-bins. A failed build skips loudly, or fails under CI.
func containerdBin(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("../../scripts/cri-bins")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		skipOrFail(t, "scripts/cri-bins could not build the pinned containerd: %v\n%s", err, stderr.String())
	}
	return filepath.Join(strings.TrimSpace(string(out)), "containerd")
}

// TestContainerdLoadsDropIn: the drop-in tend-install writes is read by a
// real containerd 2.x (the pinned v2.4.2): `containerd config dump` of a
// private main config importing it shows the handler tend with tend-runc as
// its BinaryName and the annotations let through, beside the default runc
// handler it must not replace — for a version 3 host config and, migrated,
// for the version 2 drop-in written next to a version 2 host config.
func TestContainerdLoadsDropIn(t *testing.T) {
	ctd := containerdBin(t)
	for _, version := range []int{3, 2} {
		t.Run(fmt.Sprintf("config version %d", version), func(t *testing.T) {
			n := newNode(t, map[string]string{"etc/containerd/config.toml": fmt.Sprintf(
				"version = %d\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n", version)})
			if out, code := n.run(nil, "install"); code != 0 {
				t.Fatalf("tend-install: exit %d\n%s", code, out)
			}
			dropIn := filepath.Join(n.root, ctdDropIn)
			if _, err := os.Stat(dropIn); err != nil {
				t.Fatal(err)
			}
			// A private main config: own root and state (config dump creates
			// neither), the host's main config's version, importing the drop-in.
			dir := t.TempDir()
			main := filepath.Join(dir, "config.toml")
			err := os.WriteFile(main, []byte(fmt.Sprintf("version = %d\nroot = %q\nstate = %q\nimports = [%q]\n",
				version, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(filepath.Dir(dropIn), "*.toml"))), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(ctd, "--config", main, "config", "dump")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			dump, err := cmd.Output()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s", err, stderr.String())
			}
			var cfg map[string]any
			if err := toml.Unmarshal(dump, &cfg); err != nil {
				t.Fatalf("config dump output: %v\n%s", err, dump)
			}
			pattern := filepath.Join(filepath.Dir(dropIn), "*.toml")
			if imports, _ := cfg["imports"].([]any); !slices.Contains(imports, any(pattern)) {
				t.Errorf("config dump: imports %v lacks %s", cfg["imports"], pattern)
			}
			runtimes := dig(t, cfg, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes")
			tend := dig(t, runtimes, "tend")
			for key, want := range map[string]any{
				"runtime_type":          "io.containerd.runc.v2",
				"pod_annotations":       []any{"tend.sh/*"},
				"container_annotations": []any{"tend.sh/*", "io.kubernetes.pod.terminationGracePeriod"},
			} {
				if got := tend[key]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("runtimes.tend.%s = %v, want %v", key, got, want)
				}
			}
			if got := dig(t, tend, "options")["BinaryName"]; got != "/opt/tend/bin/tend-runc" {
				t.Errorf("runtimes.tend.options.BinaryName = %v", got)
			}
			if dig(t, runtimes, "runc")["runtime_type"] != "io.containerd.runc.v2" {
				t.Errorf("the drop-in replaced the default runc handler: %v", runtimes["runc"])
			}
			if t.Failed() {
				t.Logf("drop-in:\n%s\nstderr:\n%s", mustRead(t, dropIn), stderr.String())
			}
		})
	}
}

func dig(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("config dump: no table %q (in %v)", k, keys)
		}
		m = next
	}
	return m
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstallerWaitEndsOnSIGTERM: `--wait` (the installer DaemonSet's main
// container) stays after its work and exits 0 when SIGTERM reaches its
// process group, as tend forwards a pod deletion.
func TestInstallerWaitEndsOnSIGTERM(t *testing.T) {
	n := newNode(t, nil)
	cmd := exec.Command(busybox(t), "sh", installer, "binaries", "--wait")
	cmd.Env = []string{"PATH=" + n.applets, "HOST_ROOT=" + n.root, "TEND_SRC=" + n.src}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	waiting := make(chan string, 1)
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "waiting") {
				waiting <- seen.String()
				io.Copy(io.Discard, out)
				return
			}
		}
		waiting <- seen.String()
	}()
	// Bounds against a hang only: the good outcome takes milliseconds.
	select {
	case s := <-waiting:
		if !strings.Contains(s, "waiting") {
			t.Fatalf("tend-install --wait ended before waiting:\n%s", s)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("tend-install --wait: no \"waiting\" line in 60 s")
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tend-install --wait after SIGTERM: %v; want exit 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("tend-install --wait still running 60 s after SIGTERM to its group")
	}
}

// TestCRIODropInIsTOML: the CRI-O drop-in (no CRI-O here to load it) is
// valid TOML with the handler's table where crio.conf(5) has it, the
// values the README gives, and every annotation tend reads allowed.
func TestCRIODropInIsTOML(t *testing.T) {
	n := newNode(t, map[string]string{"etc/crio/crio.conf.d/": ""})
	if out, code := n.run(nil, "install"); code != 0 {
		t.Fatalf("tend-install: exit %d\n%s", code, out)
	}
	text, ok := n.read(crioDropIn)
	if !ok {
		t.Fatal("no CRI-O drop-in")
	}
	var cfg struct {
		Crio struct {
			Runtime struct {
				Runtimes map[string]struct {
					RuntimePath        string   `toml:"runtime_path"`
					RuntimeType        string   `toml:"runtime_type"`
					RuntimeRoot        string   `toml:"runtime_root"`
					AllowedAnnotations []string `toml:"allowed_annotations"`
				} `toml:"runtimes"`
			} `toml:"runtime"`
		} `toml:"crio"`
	}
	d := toml.NewDecoder(strings.NewReader(text))
	d.DisallowUnknownFields()
	if err := d.Decode(&cfg); err != nil {
		t.Fatalf("CRI-O drop-in: %v\n%s", err, text)
	}
	h, ok := cfg.Crio.Runtime.Runtimes["tend"]
	if !ok || len(cfg.Crio.Runtime.Runtimes) != 1 {
		t.Fatalf("CRI-O drop-in: runtimes %v, want tend alone", cfg.Crio.Runtime.Runtimes)
	}
	if h.RuntimePath != "/opt/tend/bin/tend-runc" || h.RuntimeType != "oci" || h.RuntimeRoot != "/run/runc" {
		t.Errorf("CRI-O handler tend: %+v", h)
	}
	want := append(inject.Annotations(), inject.AnnotationPodGrace)
	got := slices.Clone(h.AllowedAnnotations)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("allowed_annotations %v, want %v", got, want)
	}
}
