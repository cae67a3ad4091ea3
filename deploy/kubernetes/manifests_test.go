package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kinds maps apiVersion/kind to the k8s.io/api type a manifest must decode
// into. A manifest of any other kind is an error: add it here.
var kinds = map[string]func() any{
	"apps/v1/DaemonSet":           func() any { return &appsv1.DaemonSet{} },
	"node.k8s.io/v1/RuntimeClass": func() any { return &nodev1.RuntimeClass{} },
	"v1/Namespace":                func() any { return &corev1.Namespace{} },
}

// kustomization is the subset of kustomize's Kustomization these bases use,
// decoded strictly too: a field outside it is a typo or needs a check here.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
}

// object is one decoded manifest and where it came from.
type object struct {
	where string // file:document
	obj   any
}

// decodeFile decodes every YAML document of a manifest file strictly
// (unknown and duplicate fields are errors) into its k8s.io/api type.
func decodeFile(t *testing.T, path string) []object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		where := fmt.Sprintf("%s (document %d)", path, i+1)
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			t.Errorf("%s: apiVersion %q kind %q: not a kind this test knows (add it to kinds)", where, tm.APIVersion, tm.Kind)
			continue
		}
		obj := mk()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s: strict decode into %T: %v", where, obj, err)
			continue
		}
		out = append(out, object{where, obj})
	}
	return out
}

func stripComments(s string) string {
	return regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(s, "")
}

// loadBase checks a kustomization directory: its kustomization.yaml decodes
// strictly, every resource it lists exists (a file that decodes, or a
// directory with a kustomization.yaml, checked the same way), every patch
// file decodes. It returns the objects of its resources (not the patches).
func loadBase(t *testing.T, dir string) ([]object, kustomization) {
	t.Helper()
	kpath := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("%s: strict decode: %v", kpath, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s: apiVersion/kind %s/%s", kpath, k.APIVersion, k.Kind)
	}
	if len(k.Resources) == 0 {
		t.Errorf("%s: no resources", kpath)
	}
	var objs []object
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: resource %q: %v", kpath, r, err)
			continue
		}
		if st.IsDir() {
			sub, _ := loadBase(t, p)
			objs = append(objs, sub...)
			continue
		}
		got := decodeFile(t, p)
		if len(got) == 0 {
			t.Errorf("%s: resource %q holds no object", kpath, r)
		}
		objs = append(objs, got...)
	}
	for _, p := range k.Patches {
		if len(decodeFile(t, filepath.Join(dir, p.Path))) == 0 {
			t.Errorf("%s: patch %q holds no object", kpath, p.Path)
		}
	}
	return objs, k
}

// bases are the kustomization directories users apply.
var bases = []string{"nri", "runtimeclass", "runtimeclass-restart"}

// TestEveryManifestDecodesStrictly: every YAML file under deploy/kubernetes
// (kustomization.yaml aside) decodes strictly, and belongs to a base.
func TestEveryManifestDecodesStrictly(t *testing.T) {
	listed := map[string]bool{}
	for _, b := range bases {
		data, err := os.ReadFile(filepath.Join(b, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k kustomization
		if err := yaml.UnmarshalStrict(data, &k); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", b, err)
		}
		for _, r := range k.Resources {
			listed[filepath.Join(b, r)] = true
		}
		for _, p := range k.Patches {
			listed[filepath.Join(b, p.Path)] = true
		}
	}
	n := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		if filepath.Base(p) == "kustomization.yaml" {
			if !slices.Contains(bases, filepath.Dir(p)) {
				t.Errorf("%s: a base this test does not check (add it to bases)", p)
			}
			return nil
		}
		n++
		if !listed[p] {
			t.Errorf("%s: listed in no kustomization.yaml", p)
		}
		decodeFile(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("found %d manifests; want the DaemonSets, the RuntimeClass and the patch", n)
	}
}

// TestStrictDecodeCatchesTypos: the decoding above fails on a misspelt
// field (the check is real, not a lenient decode).
func TestStrictDecodeCatchesTypos(t *testing.T) {
	data, err := os.ReadFile("nri/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(data, []byte("readinessProbe:"), []byte("readynessProbe:"), 1)
	if bytes.Equal(bad, data) {
		t.Fatal("nri/daemonset.yaml has no readinessProbe to misspell")
	}
	if err := yaml.UnmarshalStrict(bad, &appsv1.DaemonSet{}); err == nil || !strings.Contains(err.Error(), "readynessProbe") {
		t.Fatalf("strict decode of a misspelt field: err = %v, want one naming readynessProbe", err)
	}
}

func daemonSets(objs []object) map[string]*appsv1.DaemonSet {
	out := map[string]*appsv1.DaemonSet{}
	for _, o := range objs {
		if ds, ok := o.obj.(*appsv1.DaemonSet); ok {
			out[ds.Name] = ds
		}
	}
	return out
}

// checkDaemonSet: what every node DaemonSet of tend needs to work on every
// node and to pass review.
func checkDaemonSet(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	sel := ds.Spec.Selector
	if sel == nil || len(sel.MatchLabels) == 0 {
		t.Errorf("%s: no selector", ds.Name)
	}
	for k, v := range sel.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the template's labels %v", ds.Name, k, v, ds.Spec.Template.Labels)
		}
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Operator == corev1.TolerationOpExists && tol.Key == "" && tol.Effect == ""
	}) {
		t.Errorf("%s: no toleration of every taint (operator Exists, no key, no effect): %+v", ds.Name, spec.Tolerations)
	}
	if ds.Spec.Template.Annotations["tend.sh/inject"] != "false" {
		t.Errorf("%s: its pod does not opt out of injection (tend.sh/inject: \"false\")", ds.Name)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s/%s: no cpu and memory requests", ds.Name, c.Name)
		}
		if c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: no memory limit", ds.Name, c.Name)
		}
		if c.Image != "tend-node" {
			t.Errorf("%s/%s: image %q; want tend-node (the kustomization's images: entry names the tag)", ds.Name, c.Name, c.Image)
		}
		for _, m := range c.VolumeMounts {
			if _, ok := vols[m.Name]; !ok {
				t.Errorf("%s/%s: volumeMount %q names no volume", ds.Name, c.Name, m.Name)
			}
		}
	}
}

// hostPathAt: the host path visible at path inside container c (through a
// hostPath volume mounted at a parent of path), or "".
func hostPathAt(spec corev1.PodSpec, c corev1.Container, path string) string {
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil {
				return filepath.Join(v.HostPath.Path, rel)
			}
		}
	}
	return ""
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// flagValue: the value after flag in args (tend-nri's `--flag value` form).
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// TestNRIBase: the NRI DaemonSet installs tend where tend-nri's --tend says,
// runs tend-nri by its CLI contract on the runtime's socket, non-root where
// it can be and without privileges.
func TestNRIBase(t *testing.T) {
	objs, k := loadBase(t, "nri")
	dss := daemonSets(objs)
	ds := dss["tend-nri"]
	if ds == nil || len(dss) != 1 {
		t.Fatalf("nri: DaemonSets %v; want tend-nri alone", dss)
	}
	if k.Namespace == "" {
		t.Error("nri: no namespace")
	}
	checkDaemonSet(t, ds)
	spec := ds.Spec.Template.Spec
	if spec.HostPID || spec.HostNetwork {
		t.Error("tend-nri: needs neither hostPID nor hostNetwork")
	}
	ic := container(t, spec.InitContainers, "install-tend")
	nri := container(t, spec.Containers, "tend-nri")

	// The CLI contract: tend-nri --socket PATH --tend PATH [--index NN] [-v].
	argv := slices.Concat(nri.Command, nri.Args)
	if len(argv) == 0 || filepath.Base(argv[0]) != "tend-nri" {
		t.Fatalf("tend-nri: command %q", argv)
	}
	for i := 1; i < len(argv); i++ {
		switch argv[i] {
		case "--socket", "--tend":
			i++
		case "--index":
			i++
			if i >= len(argv) || !regexp.MustCompile(`^\d\d$`).MatchString(argv[i]) {
				t.Errorf("tend-nri: --index wants two digits: %q", argv)
			}
		case "-v":
		default:
			t.Errorf("tend-nri: argument %q is not in its CLI contract", argv[i])
		}
	}
	sock, tend := flagValue(argv, "--socket"), flagValue(argv, "--tend")
	if sock != "/var/run/nri/nri.sock" {
		t.Errorf("tend-nri: --socket %q", sock)
	}
	if got := hostPathAt(spec, nri, sock); got != sock {
		t.Errorf("tend-nri: the socket %s is host path %q inside the container; want the host's %s", sock, got, sock)
	}
	// tend-nri stats --tend itself and the runtime mounts it from the host:
	// the host path must be visible at the same path in the container.
	if got := hostPathAt(spec, nri, tend); got != tend {
		t.Errorf("tend-nri: --tend %s is host path %q inside the container; want the same path", tend, got)
	}
	// The init container installs exactly there.
	dir := filepath.Join(env(ic, "HOST_ROOT"), env(ic, "TEND_DIR"))
	if got := hostPathAt(spec, ic, filepath.Join(dir, "tend")); got != tend {
		t.Errorf("install-tend: installs to host path %q (HOST_ROOT %q, TEND_DIR %q); tend-nri mounts %s", got, env(ic, "HOST_ROOT"), env(ic, "TEND_DIR"), tend)
	}
	if !slices.Equal(ic.Command, []string{"/usr/local/bin/tend-install", "binaries"}) {
		t.Errorf("install-tend: command %q", ic.Command)
	}

	if nri.ReadinessProbe == nil || nri.ReadinessProbe.Exec == nil {
		t.Error("tend-nri: no exec readiness probe")
	} else if p := strings.Join(nri.ReadinessProbe.Exec.Command, " "); !strings.Contains(p, sock) || !strings.Contains(p, tend) {
		t.Errorf("tend-nri: readiness probe %q does not check both the socket %s and the tend binary %s", p, sock, tend)
	}
	for _, c := range []corev1.Container{ic, nri} {
		sc := c.SecurityContext
		if sc == nil || sc.Privileged != nil && *sc.Privileged ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: want unprivileged, no capability, no privilege escalation, read-only root: %+v", c.Name, sc)
		}
	}
	for _, m := range nri.VolumeMounts {
		if m.Name == "tend-bin" && !m.ReadOnly {
			t.Error("tend-nri: mounts the tend directory writable; it only reads it")
		}
	}
}

// TestRuntimeClassBase: the RuntimeClass names the handler the installer
// writes; the installer stays (for its preStop uninstall), restarts nothing
// by default and needs no privilege; the restart overlay adds exactly what a
// restart takes.
func TestRuntimeClassBase(t *testing.T) {
	objs, _ := loadBase(t, "runtimeclass")
	var rcs []*nodev1.RuntimeClass
	for _, o := range objs {
		if rc, ok := o.obj.(*nodev1.RuntimeClass); ok {
			rcs = append(rcs, rc)
		}
	}
	if len(rcs) != 1 || rcs[0].Name != "tend" || rcs[0].Handler != "tend" {
		t.Fatalf("RuntimeClasses %+v; want one, tend with handler tend", rcs)
	}
	ds := daemonSets(objs)["tend-node-installer"]
	if ds == nil {
		t.Fatal("no DaemonSet tend-node-installer")
	}
	checkDaemonSet(t, ds)
	spec := ds.Spec.Template.Spec
	c := container(t, spec.Containers, "installer")
	argv := strings.Join(slices.Concat(c.Command, c.Args), " ")
	if !strings.Contains(argv, "tend-install install --wait") {
		t.Errorf("installer: command %q; want tend-install install --wait", argv)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil ||
		!slices.Equal(c.Lifecycle.PreStop.Exec.Command, []string{"/usr/local/bin/tend-install", "uninstall"}) {
		t.Errorf("installer: no preStop running tend-install uninstall: %+v", c.Lifecycle)
	}
	if env(c, "TEND_RESTART_RUNTIME") != "false" {
		t.Errorf("installer: TEND_RESTART_RUNTIME=%q; the base restarts nothing", env(c, "TEND_RESTART_RUNTIME"))
	}
	if handler := env(c, "TEND_HANDLER"); handler != "" && handler != rcs[0].Handler {
		t.Errorf("installer: TEND_HANDLER=%q, RuntimeClass handler %q", handler, rcs[0].Handler)
	}
	root := env(c, "HOST_ROOT")
	for _, p := range []string{"/etc/containerd/conf.d/10-tend.toml", "/etc/crio/crio.conf.d/10-tend.conf", env(c, "TEND_DIR") + "/tend-runc", "/opt/tend/backup/x"} {
		if got := hostPathAt(spec, c, root+p); got != p {
			t.Errorf("installer: writes %s%s, which is host path %q; want %s", root, p, got, p)
		}
	}
	if spec.HostPID || c.SecurityContext == nil || c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged ||
		c.SecurityContext.Capabilities == nil || !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL") {
		t.Errorf("installer (base): want no hostPID, unprivileged, no capability: hostPID=%v %+v", spec.HostPID, c.SecurityContext)
	}

	// The restart overlay: its patch targets the installer and turns the restart on.
	_, k := loadBase(t, "runtimeclass-restart")
	if !slices.Equal(k.Resources, []string{"../runtimeclass"}) || len(k.Patches) != 1 {
		t.Fatalf("runtimeclass-restart: resources %v patches %v", k.Resources, k.Patches)
	}
	patch := decodeFile(t, filepath.Join("runtimeclass-restart", k.Patches[0].Path))
	pds, ok := patch[0].obj.(*appsv1.DaemonSet)
	if !ok || pds.Name != ds.Name || pds.Namespace != "kube-system" {
		t.Fatalf("runtimeclass-restart: the patch targets %+v; want DaemonSet %s in kube-system", patch[0].obj, ds.Name)
	}
	pc := container(t, pds.Spec.Template.Spec.Containers, "installer")
	if !pds.Spec.Template.Spec.HostPID || pc.SecurityContext == nil || pc.SecurityContext.Privileged == nil || !*pc.SecurityContext.Privileged ||
		env(pc, "TEND_RESTART_RUNTIME") != "true" {
		t.Errorf("runtimeclass-restart: want hostPID, privileged and TEND_RESTART_RUNTIME=true: %+v", pds.Spec.Template.Spec)
	}
	// The API server refuses privileged with allowPrivilegeEscalation false,
	// which the base sets: the patch must lift it.
	if ape := pc.SecurityContext.AllowPrivilegeEscalation; ape == nil || !*ape {
		t.Error("runtimeclass-restart: privileged needs allowPrivilegeEscalation: true over the base's false")
	}
}

// TestBasesShareTheImage: both bases name the same image and tag, the one
// `make image` builds (tend-node:<version>).
func TestBasesShareTheImage(t *testing.T) {
	var seen []string
	for _, b := range []string{"nri", "runtimeclass"} {
		_, k := loadBase(t, b)
		if len(k.Images) != 1 || k.Images[0].Name != "tend-node" {
			t.Fatalf("%s: images %+v; want one entry for tend-node", b, k.Images)
		}
		j, _ := json.Marshal(k.Images[0])
		seen = append(seen, string(j))
	}
	if seen[0] != seen[1] {
		t.Errorf("the bases name different images: %s vs %s", seen[0], seen[1])
	}
}

// TestKustomizeBuild builds every base with kustomize itself (kubectl's
// built-in, v5 here) as `kubectl apply -k` would, and decodes what it
// renders strictly: the bases and the overlay's patch really compose, the
// namespace reaches every namespaced object, and the restart overlay's
// installer asks for the restart (TEND_RESTART_RUNTIME=true, privileged).
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		skipOrFail(t, "no kubectl (its built-in kustomize builds the bases): %v", err)
	}
	for _, base := range []string{"nri", "runtimeclass", "runtimeclass-restart"} {
		t.Run(base, func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", base).Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("kubectl kustomize %s: %v\n%s", base, err, stderr)
			}
			built := filepath.Join(t.TempDir(), base+".yaml")
			if err := os.WriteFile(built, out, 0o644); err != nil {
				t.Fatal(err)
			}
			objs := decodeFile(t, built)
			if len(objs) == 0 {
				t.Fatalf("kubectl kustomize %s rendered nothing", base)
			}
			dss := daemonSets(objs)
			if len(dss) != 1 {
				t.Fatalf("%s: rendered DaemonSets %v, want one", base, dss)
			}
			for _, ds := range dss {
				if ds.Namespace == "" {
					t.Errorf("%s: DaemonSet %s rendered without a namespace", base, ds.Name)
				}
				if base != "runtimeclass-restart" {
					continue
				}
				spec := ds.Spec.Template.Spec
				var restart, privileged bool
				for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
					restart = restart || env(c, "TEND_RESTART_RUNTIME") == "true"
					privileged = privileged || (c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged)
				}
				if !restart || !privileged || !spec.HostPID {
					t.Errorf("restart overlay rendered: TEND_RESTART_RUNTIME=true %v, privileged %v, hostPID %v; want all three", restart, privileged, spec.HostPID)
				}
			}
		})
	}
}
