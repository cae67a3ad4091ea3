package inject

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const tend = "/usr/local/bin/tend"

// app is a container with nothing special: injected.
func app(mod func(c *Container)) Container {
	c := Container{
		Annotations: map[string]string{"io.kubernetes.cri.container-type": "container"},
		Args:        []string{"sh", "-c", "app"},
		Env:         []string{"PATH=/bin"},
		Mounts:      []string{"/proc", "/dev"},
		Tend:        tend,
		TendMode:    0o755,
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

func ann(kv ...string) func(c *Container) {
	return func(c *Container) {
		for i := 0; i+1 < len(kv); i += 2 {
			c.Annotations[kv[i]] = kv[i+1]
		}
	}
}

var tendMount = &Mount{Destination: TendPath, Type: "bind", Source: tend, Options: []string{"bind", "ro", "nosuid", "nodev"}}

func TestDecideInjects(t *testing.T) {
	cases := []struct {
		name string
		c    Container
		want Plan
	}{
		{"plain", app(nil), Plan{Args: []string{TendPath, "--", "sh", "-c", "app"}, Env: []string{"TEND_GRACE=platform"}, Mount: tendMount}},
		{"options become TEND_*, sorted; the container's own variable wins", app(func(c *Container) {
			ann("tend.sh/hold", "true", "tend.sh/remap-exit", "143:0", "tend.sh/grace", "20s")(c)
			c.Env = append(c.Env, "TEND_GRACE=3s")
		}), Plan{Args: []string{TendPath, "--", "sh", "-c", "app"}, Env: []string{"TEND_HOLD=true", "TEND_REMAP_EXIT=143:0"}, Mount: tendMount}},
		{"inject true", app(ann("tend.sh/inject", "true")), Plan{Args: []string{TendPath, "--", "sh", "-c", "app"}, Env: []string{"TEND_GRACE=platform"}, Mount: tendMount}},
		{"an init's name as an argument is no init", app(func(c *Container) { c.Args = []string{"sh", "-c", "exec tini app"} }),
			Plan{Args: []string{TendPath, "--", "sh", "-c", "exec tini app"}, Env: []string{"TEND_GRACE=platform"}, Mount: tendMount}},
		{"args already tend's: only the mount", app(func(c *Container) { c.Args = []string{TendPath, "--", "app"}; c.Env = []string{"TEND_GRACE=1s"} }), Plan{Mount: tendMount}},
		{"mount present: only the args", app(func(c *Container) { c.Mounts = append(c.Mounts, TendPath+"/"); c.Env = []string{"TEND_GRACE=1s"} }), Plan{Args: []string{TendPath, "--", "sh", "-c", "app"}}},
		{"non-root user, tend a+rx", app(func(c *Container) { c.UID = 1000; c.TendMode = 0o755 }), Plan{Args: []string{TendPath, "--", "sh", "-c", "app"}, Env: []string{"TEND_GRACE=platform"}, Mount: tendMount}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(c.c)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("Decide = %+v, %v\nwant %+v", got, err, c.want)
			}
		})
	}
}

func TestDecideLeavesAlone(t *testing.T) {
	args := func(a ...string) Container { return app(func(c *Container) { c.Args = a }) }
	cases := []struct {
		name string
		c    Container
		why  string
	}{
		{"sandbox with an invalid tend.sh/inject: the sandbox runs", app(ann("io.kubernetes.cri.container-type", "sandbox", "tend.sh/inject", "no")), "pod sandbox"},
		{"transport-known sandbox with an invalid tend.sh/inject", app(func(c *Container) { c.Sandbox = true; c.Annotations["tend.sh/inject"] = "no" }), "pod sandbox"},
		{"opt-out, other annotations not even checked", app(ann("tend.sh/inject", "false", "tend.sh/grace", "bogus")), `tend.sh/inject is "false"`},
		{"containerd CRI sandbox", app(ann("io.kubernetes.cri.container-type", "sandbox")), "pod sandbox"},
		{"CRI-O sandbox", app(ann("io.kubernetes.cri-o.ContainerType", "sandbox")), "pod sandbox"},
		{"transport says sandbox", app(func(c *Container) { c.Sandbox = true }), "pod sandbox"},
		{"no args", args(), "no process.args"},
		{"tini", args("/sbin/tini", "--", "app"), "is an init"},
		{"docker-init", args("/sbin/docker-init", "--", "app"), "is an init"},
		{"dumb-init", args("dumb-init", "app"), "is an init"},
		{"catatonit", args("/usr/bin/catatonit", "--", "app"), "is an init"},
		{"tend in the image", args("/tend", "--", "app"), "is an init"},
		{"s6-overlay", args("/init"), "is an init"},
		{"systemd", args("/sbin/init"), "is an init"},
		{"supervisord", args("/usr/bin/supervisord", "-n"), "is an init"},
		{"pause", args("/pause"), "is an init"},
		{"init with a bad option annotation: left alone", app(func(c *Container) { c.Args = []string{"/sbin/tini", "app"}; c.Annotations["tend.sh/grace"] = "soon" }), "is an init"},
		{"injected already", app(func(c *Container) {
			c.Args, c.Mounts, c.Env = []string{TendPath, "--", "app"}, append(c.Mounts, TendPath), append(c.Env, "TEND_GRACE=platform")
		}), "injected already"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(c.c)
			if err != nil || !strings.Contains(got.Skip, c.why) || got.Args != nil || got.Env != nil || got.Mount != nil {
				t.Errorf("Decide = %+v, %v; want left alone because %q", got, err, c.why)
			}
		})
	}
}

func TestDecideErrors(t *testing.T) {
	cases := []struct {
		name string
		c    Container
		want string
	}{
		{"bad grace", app(ann("tend.sh/grace", "soon")), `invalid annotation tend.sh/grace="soon": not a duration; want DURATION`},
		{"bad remap", app(ann("tend.sh/remap-exit", "1:300")), `invalid annotation tend.sh/remap-exit="1:300"`},
		{"bad forward", app(ann("tend.sh/forward", "all")), "want group|child"},
		{"empty value", app(ann("tend.sh/user", "")), `tend.sh/user="": empty value`},
		{"unknown option: the long names listed, no empty one", app(ann("tend.sh/graec", "1s")), "unknown annotation tend.sh/graec; tend's are tend.sh/inject and tend.sh/<option> for the options config, crontab, procfile, forward, rewrite, grace, pre-stop, remap-exit, hold, user, socket, http, verbose"},
		{"bad inject", app(ann("tend.sh/inject", "no")), `invalid annotation tend.sh/inject="no"; want "true" or "false"`},
		{"config and procfile", app(ann("tend.sh/config", "/a", "tend.sh/procfile", "/b")), "cannot be used together"},
		{"non-root cannot execute tend", app(func(c *Container) { c.UID = 1000; c.TendMode = 0o750 }), "process.user.uid 1000 cannot execute tend (/usr/local/bin/tend, mode 0750); chmod a+rx it"},
		{"user namespace cannot execute tend", app(func(c *Container) { c.UserNamespace = true; c.TendMode = 0o700 }), "the container's user namespace (linux.uidMappings) cannot execute tend"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(c.c)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Decide = %+v, %v; want an error containing %q", got, err, c.want)
			}
		})
	}
}

// TestDecideIsIdempotent: a container the plan was applied to is left
// alone by a second Decide.
func TestDecideIsIdempotent(t *testing.T) {
	for _, c := range []Container{app(nil), app(ann("tend.sh/hold", "1", "tend.sh/pre-stop", "drain")), app(func(c *Container) { c.Env = nil })} {
		p, err := Decide(c)
		if err != nil || p.Skip != "" {
			t.Fatalf("first Decide = %+v, %v", p, err)
		}
		c.Args, c.Env, c.Mounts = p.Args, append(c.Env, p.Env...), append(c.Mounts, p.Mount.Destination)
		if again, err := Decide(c); err != nil || !strings.Contains(again.Skip, "injected already") {
			t.Errorf("second Decide = %+v, %v; want left alone", again, err)
		}
	}
}

// FuzzDecide: never panics; a plan that injects starts the args with tend
// and keeps the original args after "--"; applied, the next Decide leaves it.
func FuzzDecide(f *testing.F) {
	f.Add("sh", "-c", "tend.sh/grace", "20s", "TEND_HOLD=1")
	f.Add("/init", "", "tend.sh/inject", "false", "")
	f.Add(TendPath, "--", "tend.sh/hold", "true", "TEND_HOLD=0")
	f.Fuzz(func(t *testing.T, a0, a1, k, v, e string) {
		c := Container{Annotations: map[string]string{k: v}, Args: []string{a0, a1}, Env: []string{e}, Tend: tend, TendMode: 0o755}
		p, err := Decide(c)
		if err != nil || p.Skip != "" {
			return
		}
		if p.Args != nil && !reflect.DeepEqual(p.Args, append([]string{TendPath, "--"}, c.Args...)) {
			t.Fatalf("args %q from %q", p.Args, c.Args)
		}
		if p.Args == nil && c.Args[0] != TendPath {
			t.Fatalf("args kept %q", c.Args)
		}
		if p.Args != nil {
			c.Args = p.Args
		}
		c.Env = append(c.Env, p.Env...)
		if p.Mount != nil {
			c.Mounts = append(c.Mounts, p.Mount.Destination)
		}
		if again, err := Decide(c); err != nil || again.Skip == "" {
			t.Fatalf("second Decide = %+v, %v", again, err)
		}
	})
}

// TestDecideGrace: an injected tend takes the platform's grace (less the
// margin), or none of its own; tend.sh/grace and the container's
// TEND_GRACE win.
func TestDecideGrace(t *testing.T) {
	cases := []struct {
		name string
		c    Container
		want string // the TEND_GRACE the plan adds, "" for none
	}{
		{"Docker: no platform figure", app(nil), "TEND_GRACE=platform"},
		{"the kubelet's default 30 s", app(ann(AnnotationPodGrace, "30")), "TEND_GRACE=29s"},
		{"a long grace keeps a 1 s margin", app(ann(AnnotationPodGrace, "3600")), "TEND_GRACE=59m59s"},
		{"a short grace keeps a tenth", app(ann(AnnotationPodGrace, "5")), "TEND_GRACE=4.5s"},
		{"0 is the kubelet's 2 s floor", app(ann(AnnotationPodGrace, "0")), "TEND_GRACE=1.8s"},
		{"not a number: no figure, not an error", app(ann(AnnotationPodGrace, "30s")), "TEND_GRACE=platform"},
		{"negative: no figure", app(ann(AnnotationPodGrace, "-1")), "TEND_GRACE=platform"},
		{"tend.sh/grace wins", app(ann(AnnotationPodGrace, "30", "tend.sh/grace", "45s")), "TEND_GRACE=45s"},
		{"tend.sh/grace platform", app(ann(AnnotationPodGrace, "30", "tend.sh/grace", "platform")), "TEND_GRACE=platform"},
		{"the container's TEND_GRACE wins", app(func(c *Container) { c.Annotations[AnnotationPodGrace] = "30"; c.Env = []string{"TEND_GRACE=7s"} }), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Decide(c.c)
			if err != nil || p.Skip != "" {
				t.Fatalf("Decide = %+v, %v", p, err)
			}
			var got []string
			for _, kv := range p.Env {
				if strings.HasPrefix(kv, GraceEnv+"=") {
					got = append(got, kv)
				}
			}
			if c.want == "" && len(got) != 0 || c.want != "" && !reflect.DeepEqual(got, []string{c.want}) {
				t.Errorf("grace variables %q, want %q", got, c.want)
			}
		})
	}
}

func TestMargin(t *testing.T) {
	for g, want := range map[time.Duration]time.Duration{30 * time.Second: time.Second, 10 * time.Second: time.Second, 5 * time.Second: 500 * time.Millisecond, 2 * time.Second: 200 * time.Millisecond} {
		if got := Margin(g); got != want {
			t.Errorf("Margin(%v) = %v, want %v", g, got, want)
		}
	}
}

func TestAnnotations(t *testing.T) {
	got := Annotations()
	if got[0] != AnnotationInject || !contains(got, "tend.sh/grace") || !contains(got, "tend.sh/crontab") {
		t.Errorf("Annotations() = %q", got)
	}
	for _, a := range got {
		if a == AnnotationPrefix {
			t.Errorf("an empty option name in %q", got)
		}
		if a == AnnotationInject {
			continue
		}
		if _, err := Decide(app(ann(a, "x"))); err != nil && strings.Contains(err.Error(), "unknown annotation") {
			t.Errorf("%s listed but unknown to Decide: %v", a, err)
		}
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
