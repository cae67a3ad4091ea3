package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/tend-sh/tend/internal/inject"
	"github.com/tend-sh/tend/internal/ociruntime"
)

// self is the tend binary the tests mount: the test binary (mode 0755).
var self = func() string {
	p, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return p
}()

// testPlugin is a plugin logging JSON lines at debug into the buffer.
func testPlugin(t *testing.T) (*plugin, *bytes.Buffer) {
	var buf bytes.Buffer
	return newPlugin(self, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))), &buf
}

// logged reports whether a log line has every key=value of kv.
func logged(t *testing.T, buf *bytes.Buffer, kv ...string) bool {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s, _ := m[kv[i]].(string); s != kv[i+1] {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func pod(ann ...string) *api.PodSandbox {
	p := &api.PodSandbox{Name: "web", Namespace: "default", Annotations: map[string]string{}}
	for i := 0; i+1 < len(ann); i += 2 {
		p.Annotations[ann[i]] = ann[i+1]
	}
	return p
}

func ctr(args []string, ann ...string) *api.Container {
	c := &api.Container{Name: "app", Args: args, Env: []string{"PATH=/bin"}, Annotations: map[string]string{"io.kubernetes.cri.container-type": "container"},
		Mounts: []*api.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}}
	for i := 0; i+1 < len(ann); i += 2 {
		c.Annotations[ann[i]] = ann[i+1]
	}
	return c
}

// TestCreateContainer: the handler's adjustment, as the runtime gets it.
func TestCreateContainer(t *testing.T) {
	p, logs := testPlugin(t)
	adj, upd, err := p.CreateContainer(context.Background(), pod("tend.sh/hold", "true", "tend.sh/grace", "5s"),
		ctr([]string{"sh", "-c", "app"}, "io.kubernetes.pod.terminationGracePeriod", "30", "tend.sh/grace", "20s"))
	if err != nil || upd != nil {
		t.Fatalf("CreateContainer: %v, updates %v", err, upd)
	}
	if want := []string{inject.TendPath, "--", "sh", "-c", "app"}; !reflect.DeepEqual(adj.GetArgs(), want) {
		t.Errorf("args %q, want %q", adj.GetArgs(), want)
	}
	// The pod's tend.sh/hold applies; the container's tend.sh/grace wins
	// over the pod's and over the kubelet's grace.
	if got := envString(adj.GetEnv()); got != "TEND_GRACE=20s TEND_HOLD=true" {
		t.Errorf("env %q", got)
	}
	want := []*api.Mount{{Destination: inject.TendPath, Type: "bind", Source: self, Options: []string{"bind", "ro", "nosuid", "nodev"}}}
	if len(adj.GetMounts()) != 1 || !reflect.DeepEqual(adj.GetMounts()[0].String(), want[0].String()) {
		t.Errorf("mounts %v, want %v", adj.GetMounts(), want)
	}
	if !logged(t, logs, "level", "DEBUG", "msg", "tend injected", "at", inject.TendPath, "pod", "default/web", "container", "app") {
		t.Errorf("no debug line for the decision:\n%s", logs)
	}
}

func TestCreateContainerLeavesAlone(t *testing.T) {
	cases := []struct {
		name string
		pod  *api.PodSandbox
		ctr  *api.Container
		why  string
	}{
		{"opt-out on the pod", pod("tend.sh/inject", "false"), ctr([]string{"app"}), `tend.sh/inject is "false"`},
		{"opt-out on the container wins over the pod", pod("tend.sh/inject", "true"), ctr([]string{"app"}, "tend.sh/inject", "false"), `tend.sh/inject is "false"`},
		{"an init image", pod(), ctr([]string{"/sbin/tini", "--", "app"}), "the command /sbin/tini is an init"},
		{"a sandbox's own annotations on the pod do not make a container a sandbox", pod("io.kubernetes.cri.container-type", "sandbox", "tend.sh/inject", "false"), ctr([]string{"app"}), `tend.sh/inject is "false"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, logs := testPlugin(t)
			adj, _, err := p.CreateContainer(context.Background(), c.pod, c.ctr)
			if err != nil || adj != nil {
				t.Fatalf("adjustment %v, err %v; want none", adj, err)
			}
			if !logged(t, logs, "level", "DEBUG", "msg", "left alone", "reason", c.why) {
				t.Errorf("log %q, want left alone: %s", logs, c.why)
			}
		})
	}
}

func TestCreateContainerErrors(t *testing.T) {
	cases := []struct {
		name string
		pod  *api.PodSandbox
		ctr  *api.Container
		stat func(string) (fs.FileInfo, error)
		want string
	}{
		{"invalid inject on the pod", pod("tend.sh/inject", "no"), ctr([]string{"app"}), nil, `tend-nri: invalid annotation tend.sh/inject="no"; want "true" or "false"`},
		{"invalid option", pod(), ctr([]string{"app"}, "tend.sh/grace", "soon"), nil, `tend-nri: invalid annotation tend.sh/grace="soon": not a duration; want DURATION|platform`},
		{"unknown option", pod("tend.sh/graec", "1s"), ctr([]string{"app"}), nil, "tend-nri: unknown annotation tend.sh/graec"},
		{"tend binary gone", pod(), ctr([]string{"app"}), func(string) (fs.FileInfo, error) { return nil, errors.New("no such file") }, "tend-nri: the tend binary to mount (--tend): no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, logs := testPlugin(t)
			if c.stat != nil {
				p.stat = c.stat
			}
			adj, _, err := p.CreateContainer(context.Background(), c.pod, c.ctr)
			if err == nil || adj != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("adjustment %v, err %v; want %q", adj, err, c.want)
			}
			if !logged(t, logs, "level", "WARN", "msg", "container creation refused", "container", "app") {
				t.Errorf("refusal not logged: %s", logs)
			}
		})
	}
	// A container left alone does not need the binary.
	p, _ := testPlugin(t)
	p.stat = func(string) (fs.FileInfo, error) { return nil, errors.New("no such file") }
	if adj, _, err := p.CreateContainer(context.Background(), pod(), ctr([]string{"/init"})); err != nil || adj != nil {
		t.Errorf("init image with the binary gone: %v, %v", adj, err)
	}
}

func TestSynchronizeLeavesExistingAlone(t *testing.T) {
	p, logs := testPlugin(t)
	upd, err := p.Synchronize(context.Background(), []*api.PodSandbox{pod()}, []*api.Container{ctr([]string{"a"}), ctr([]string{"b"})})
	if err != nil || upd != nil || p.existing.Load() != 2 {
		t.Fatalf("updates %v, err %v, counted %d", upd, err, p.existing.Load())
	}
	if !strings.Contains(logs.String(), `"containers":2`) {
		t.Errorf("count not logged: %s", logs)
	}
}

// outcome is a transport-neutral record of what happened to a container.
type outcome struct {
	Err   string   // "" when none
	Skip  bool     // left alone
	Args  []string // the command after the change
	Env   []string // variables added, sorted
	Mount string   // the mount added, "" for none
}

// viaRunc runs the case through tend-runc's JSON spec rewrite.
func viaRunc(t *testing.T, c transportCase) outcome {
	spec := map[string]any{
		"ociVersion":  "1.2.0",
		"annotations": c.annotations,
		"process":     map[string]any{"args": c.args, "env": c.env, "user": map[string]any{"uid": c.uid}},
		"mounts":      []any{map[string]any{"destination": "/proc", "type": "proc", "source": "proc"}},
	}
	if c.userns {
		spec["linux"] = map[string]any{"uidMappings": []any{map[string]any{"containerID": 0, "hostID": 100000, "size": 65536}}}
	}
	in, _ := json.Marshal(spec)
	out, changed, err := ociruntime.Rewrite(in, c.tend)
	if err != nil {
		return outcome{Err: err.Error()}
	}
	if !changed {
		return outcome{Skip: true}
	}
	var got struct {
		Process struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
		} `json:"process"`
		Mounts []struct {
			Destination, Type, Source string
			Options                   []string
		} `json:"mounts"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	o := outcome{Args: got.Process.Args, Env: sorted(got.Process.Env[len(c.env):])}
	if len(got.Mounts) == 2 {
		m := got.Mounts[1]
		o.Mount = m.Destination + " " + m.Type + " " + m.Source + " " + strings.Join(m.Options, ",")
	}
	return o
}

// viaNRI runs the case through tend-nri's CreateContainer handler (the
// annotations on the container, as containerd gives them).
func viaNRI(t *testing.T, c transportCase) outcome {
	p, _ := testPlugin(t)
	p.tend = c.tend
	ct := &api.Container{Name: "app", Args: c.args, Env: c.env, Annotations: c.annotations, User: &api.User{Uid: c.uid},
		Mounts: []*api.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}}
	if c.userns {
		ct.Linux = &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "pid"}, {Type: "user"}}}
	}
	adj, _, err := p.CreateContainer(context.Background(), &api.PodSandbox{Name: "p"}, ct)
	if err != nil {
		return outcome{Err: strings.TrimPrefix(err.Error(), "tend-nri: ")}
	}
	if adj == nil {
		return outcome{Skip: true}
	}
	o := outcome{Args: adj.GetArgs()}
	if o.Args == nil {
		o.Args = c.args
	}
	for _, kv := range adj.GetEnv() {
		o.Env = append(o.Env, kv.GetKey()+"="+kv.GetValue())
	}
	o.Env = sorted(o.Env)
	if ms := adj.GetMounts(); len(ms) == 1 {
		o.Mount = ms[0].Destination + " " + ms[0].Type + " " + ms[0].Source + " " + strings.Join(ms[0].Options, ",")
	}
	return o
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	if len(s) == 0 {
		return nil
	}
	return s
}

type transportCase struct {
	name        string
	annotations map[string]string
	args, env   []string
	uid         uint32
	userns      bool
	tend        string
	want        outcome // Err: a substring
}

// TestTransportsAgree runs one table through both transports, tend-runc's
// config.json rewrite and tend-nri's ContainerAdjustment, and checks that
// they decide the same, and what the policy says.
func TestTransportsAgree(t *testing.T) {
	dir := t.TempDir()
	private := dir + "/tend-0750"
	if err := os.WriteFile(private, []byte("x"), 0o750); err != nil {
		t.Fatal(err)
	}
	mount := inject.TendPath + " bind " + self + " bind,ro,nosuid,nodev"
	injected := func(args ...string) []string { return append([]string{inject.TendPath, "--"}, args...) }
	cases := []transportCase{
		{name: "plain, Docker: no platform grace", args: []string{"app"}, want: outcome{Args: injected("app"), Env: []string{"TEND_GRACE=platform"}, Mount: mount}},
		{name: "kubelet grace", annotations: map[string]string{"io.kubernetes.pod.terminationGracePeriod": "30"}, args: []string{"sh", "-c", "app; echo after"},
			want: outcome{Args: injected("sh", "-c", "app; echo after"), Env: []string{"TEND_GRACE=29s"}, Mount: mount}},
		{name: "options and the container's own env", annotations: map[string]string{"tend.sh/remap-exit": "143:0", "tend.sh/hold": "1", "tend.sh/grace": "20s"}, args: []string{"app"}, env: []string{"PATH=/bin", "TEND_HOLD=0"},
			want: outcome{Args: injected("app"), Env: []string{"TEND_GRACE=20s", "TEND_REMAP_EXIT=143:0"}, Mount: mount}},
		{name: "opt-out", annotations: map[string]string{"tend.sh/inject": "false", "tend.sh/grace": "bogus"}, args: []string{"app"}, want: outcome{Skip: true}},
		{name: "sandbox with an invalid inject", annotations: map[string]string{"io.kubernetes.cri.container-type": "sandbox", "tend.sh/inject": "no"}, args: []string{"/pause"}, want: outcome{Skip: true}},
		{name: "CRI-O sandbox", annotations: map[string]string{"io.kubernetes.cri-o.ContainerType": "sandbox"}, args: []string{"/x"}, want: outcome{Skip: true}},
		{name: "init image", args: []string{"/usr/bin/dumb-init", "app"}, want: outcome{Skip: true}},
		{name: "s6-overlay", args: []string{"/init"}, want: outcome{Skip: true}},
		{name: "no args", want: outcome{Skip: true}},
		{name: "invalid inject", annotations: map[string]string{"tend.sh/inject": "no"}, args: []string{"app"}, want: outcome{Err: `invalid annotation tend.sh/inject="no"; want "true" or "false"`}},
		{name: "invalid option", annotations: map[string]string{"tend.sh/forward": "all"}, args: []string{"app"}, want: outcome{Err: `invalid annotation tend.sh/forward="all"`}},
		{name: "unknown option", annotations: map[string]string{"tend.sh/graec": "1s"}, args: []string{"app"}, want: outcome{Err: "unknown annotation tend.sh/graec"}},
		{name: "config and procfile", annotations: map[string]string{"tend.sh/config": "/a", "tend.sh/procfile": "/b"}, args: []string{"app"}, want: outcome{Err: "cannot be used together"}},
		{name: "non-root, tend a+rx", uid: 1000, args: []string{"app"}, want: outcome{Args: injected("app"), Env: []string{"TEND_GRACE=platform"}, Mount: mount}},
		{name: "non-root, tend 0750", uid: 1000, tend: private, args: []string{"app"}, want: outcome{Err: "process.user.uid 1000 cannot execute tend (" + private + ", mode 0750); chmod a+rx it"}},
		{name: "user namespace, tend 0750", userns: true, tend: private, args: []string{"app"}, want: outcome{Err: "the container's user namespace (linux.uidMappings) cannot execute tend"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.tend == "" {
				c.tend = self
			}
			runc, nri := viaRunc(t, c), viaNRI(t, c)
			if !reflect.DeepEqual(runc, nri) {
				t.Errorf("transports disagree:\n runc %+v\n  nri %+v", runc, nri)
			}
			if c.want.Err != "" {
				if !strings.Contains(runc.Err, c.want.Err) {
					t.Errorf("error %q, want %q", runc.Err, c.want.Err)
				}
				return
			}
			if !reflect.DeepEqual(runc, c.want) {
				t.Errorf("outcome %+v\nwant    %+v", runc, c.want)
			}
		})
	}
}
