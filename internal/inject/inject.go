// Package inject is tend's injection policy: whether a container gets tend
// as PID 1, and how. It is one pure function, Decide, over plain data (a
// Container: annotations, args, env, mounts, user), returning a Plan: leave
// the container alone (and why), or the args to set, the variables to add
// and the bind mount of tend to add. It reads no file and keeps no state.
//
// Both transports call it and only translate: tend-runc (internal/ociruntime)
// maps a bundle's config.json in and patches the JSON with the plan;
// tend-nri (cmd/tend-nri) maps an NRI CreateContainer request in and turns
// the plan into a ContainerAdjustment. So the two can never disagree.
//
// The rules, in the order Decide applies them:
//
//  1. A pod sandbox (the pause container holding a pod's namespaces) is left
//     alone, whatever its annotations say: the transport says so
//     (Container.Sandbox) or the sandbox annotations of containerd's CRI
//     plugin or CRI-O do. It comes first, so that an invalid tend.sh/inject
//     fails the pod's containers, not its sandbox.
//  2. tend.sh/inject: "false" leaves the container alone; "true" or absent
//     injects; anything else is an error.
//  3. No command (empty args) is left alone: the runtime reports that itself.
//  4. A command whose basename is an init or a supervisor (Inits) is left
//     alone: it wants to be PID 1 already.
//  5. Every other tend.sh/<option> annotation becomes the option's TEND_*
//     variable, unless the container's environment sets that variable
//     already (the container's own environment wins). An unknown option or
//     an invalid value is an error naming the annotation.
//  6. The grace: unless tend.sh/grace or the container's TEND_GRACE says
//     otherwise, tend's grace is the platform's (GraceFor): the kubelet's
//     io.kubernetes.pod.terminationGracePeriod less a margin for the final
//     reap, or, with no platform figure (Docker passes none),
//     TEND_GRACE=platform: no deadline of tend's own on a stop the platform
//     started. A tend the platform put there never takes time the platform
//     gave.
//  7. A container whose args already start with TendPath and that has the
//     mount and every variable is left alone (tend is injected already):
//     applying a plan twice changes nothing.
//  8. A non-root user, or a user namespace, that could not execute tend (a
//     binary not readable and executable by others) is an error, rather
//     than a container that fails with "permission denied".
package inject

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tend-sh/tend/internal/compat"
	"github.com/tend-sh/tend/internal/opts"
)

// TendPath is where tend is bind-mounted inside the container. Under /dev
// because /dev is the tmpfs every runtime mounts (Docker, containerd,
// CRI-O, `runc spec`): the runtime creates the mount point in that tmpfs,
// so nothing is written to the image's root filesystem and a read-only or
// truly unwritable rootfs works. The last element is "tend", so
// /proc/1/comm reads tend.
const TendPath = "/dev/.tend/tend"

// Annotations the policy reads. Every other tend.sh/<option> is an option
// of tend (internal/opts) set through its TEND_* variable.
const (
	AnnotationPrefix = "tend.sh/"
	AnnotationInject = AnnotationPrefix + "inject"
	AnnotationGrace  = AnnotationPrefix + "grace"
	// AnnotationPodGrace is the kubelet's container annotation holding the
	// pod's terminationGracePeriodSeconds (a decimal number of seconds).
	AnnotationPodGrace = "io.kubernetes.pod.terminationGracePeriod"
)

// GraceEnv is the variable of tend's --grace.
const GraceEnv = "TEND_GRACE"

// Inits are the basenames of commands left alone, sorted: they are an
// init or a supervisor that wants to be PID 1 already. tend's own names and
// its stand-ins' (tini, tini-static, docker-init, dumb-init) are
// compat.InitNames, the one list of the binary's names; the others are
// other programs'. s6-overlay's is "/init" (and systemd's /sbin/init): any
// command whose basename is "init". "pause" is the Kubernetes sandbox's
// process, a reaping init of its own.
var Inits = slices.Sorted(slices.Values(append([]string{
	"catatonit", "init", "pause", "runsvdir", "s6-svscan", "supervisord", "systemd",
}, compat.InitNames()...)))

// SandboxAnnotations mark a Kubernetes pod sandbox: containerd's CRI plugin
// and CRI-O set one of them on every container they create.
var SandboxAnnotations = map[string]string{
	"io.kubernetes.cri.container-type":  "sandbox",
	"io.kubernetes.cri-o.ContainerType": "sandbox",
}

// MountOptions of tend's bind mount: read-only, no set-uid, no devices.
var MountOptions = []string{"bind", "ro", "nosuid", "nodev"}

// Container is what the policy needs to know about a container, as the
// transport found it.
type Container struct {
	Annotations map[string]string
	Args        []string // the command, as the runtime resolved it (entrypoint + cmd)
	Env         []string // KEY=VALUE
	Mounts      []string // the destinations of its mounts
	// Sandbox is set when the transport knows the container is a pod
	// sandbox (the annotations in SandboxAnnotations are checked anyway).
	Sandbox bool
	// UID is the container process's user; UserNamespace is set when the
	// container has a user namespace of its own (its root is not root).
	UID           uint32
	UserNamespace bool
	// Tend is the host path of the tend binary to mount, TendMode its
	// permission bits (the transport stats it).
	Tend     string
	TendMode fs.FileMode
}

// Mount is a bind mount in the OCI runtime spec's terms (NRI's are the same).
type Mount struct {
	Destination string
	Type        string
	Source      string
	Options     []string
}

// Plan is Decide's answer. Skip != "" means leave the container alone, for
// that reason; otherwise the container gets Args (when not nil), the
// variables in Env (KEY=VALUE, to append) and Mount (when not nil).
type Plan struct {
	Skip  string
	Args  []string
	Env   []string
	Mount *Mount
}

// Decide applies the policy (see the package doc) to c. The error, for a
// container that must not be created as asked, names the annotation or
// field at fault and what would be valid.
func Decide(c Container) (Plan, error) {
	for k, v := range SandboxAnnotations {
		if c.Annotations[k] == v {
			return Plan{Skip: "a Kubernetes pod sandbox (" + k + ")"}, nil
		}
	}
	if c.Sandbox {
		return Plan{Skip: "a Kubernetes pod sandbox"}, nil
	}
	if v, ok := c.Annotations[AnnotationInject]; ok {
		switch v {
		case "false":
			return Plan{Skip: AnnotationInject + " is \"false\""}, nil
		case "true":
		default:
			return Plan{}, fmt.Errorf("invalid annotation %s=%q; want \"true\" or \"false\"", AnnotationInject, v)
		}
	}
	if len(c.Args) == 0 {
		return Plan{Skip: "no process.args"}, nil
	}
	injected := c.Args[0] == TendPath
	if !injected && isInit(c.Args[0]) {
		return Plan{Skip: "the command " + c.Args[0] + " is an init"}, nil
	}
	env, err := annotationEnv(c.Annotations, c.Env)
	if err != nil {
		return Plan{}, err
	}
	hasMount := false
	for _, d := range c.Mounts {
		if path.Clean(d) == TendPath {
			hasMount = true
		}
	}
	if injected && hasMount && len(env) == 0 {
		return Plan{Skip: "tend is injected already"}, nil
	}
	if err := checkUser(c); err != nil {
		return Plan{}, err
	}
	p := Plan{Env: env}
	if !injected {
		p.Args = append([]string{TendPath, "--"}, c.Args...)
	}
	if !hasMount {
		p.Mount = &Mount{Destination: TendPath, Type: "bind", Source: c.Tend, Options: append([]string(nil), MountOptions...)}
	}
	return p, nil
}

// annotationEnv returns TEND_X=value for every tend.sh/x annotation whose
// variable env does not set already, checked by tend's own option parser,
// and the platform's grace (GraceFor) unless TEND_GRACE is set; then the
// resulting TEND_* set is checked as tend will read it.
func annotationEnv(ann map[string]string, env []string) ([]string, error) {
	set := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	keys := make([]string, 0, len(ann))
	for k := range ann {
		if strings.HasPrefix(k, AnnotationPrefix) && k != AnnotationInject {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		name, v := strings.TrimPrefix(k, AnnotationPrefix), ann[k]
		twin, ok := opts.Twin(name)
		if !ok {
			return nil, fmt.Errorf("unknown annotation %s; tend's are %sinject and %s<option> for the options %s", k, AnnotationPrefix, AnnotationPrefix, strings.Join(optionNames(), ", "))
		}
		if err := opts.CheckTwin(name, v); err != nil {
			return nil, fmt.Errorf("invalid annotation %s=%q: %v", k, v, err)
		}
		if _, ok := set[twin]; ok {
			continue // the container's own environment wins
		}
		set[twin] = v
		out = append(out, twin+"="+v)
	}
	if _, ok := set[GraceEnv]; !ok { // always valid: checked below only with the annotations
		g := GraceFor(ann)
		set[GraceEnv] = g
		out = append(out, GraceEnv+"="+g)
	}
	if len(keys) > 0 {
		if _, err := opts.Parse(nil, func(k string) (string, bool) { v, ok := set[k]; return v, ok }); err != nil {
			return nil, fmt.Errorf("annotations %s* with the container's environment: %v", AnnotationPrefix, err)
		}
	}
	return out, nil
}

// Annotations lists every tend.sh/ annotation the policy accepts:
// tend.sh/inject and tend.sh/<option> for each long option of tend's.
func Annotations() []string {
	out := []string{AnnotationInject}
	for _, n := range optionNames() {
		out = append(out, AnnotationPrefix+n)
	}
	return out
}

// optionNames are the long names of tend's options (the one-letter flags
// have none, so no annotation).
func optionNames() []string {
	var out []string
	for _, n := range opts.Names() {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Margin is what an injected tend keeps of the pod's grace for itself: the
// time between its own deadline and the platform's SIGKILL, in which it
// SIGKILLs what is left, reaps it, drains the logs and exits with the code
// it computed (137 for a main it killed, the app's own code for one that
// finished) rather than being SIGKILLed by the runtime with everything
// else. That step takes milliseconds on an idle node; a second covers
// scheduling delays on a loaded one. A tenth of the grace when that is
// shorter, so that a short grace stays mostly the app's.
func Margin(grace time.Duration) time.Duration {
	return min(time.Second, grace/10)
}

// minPodGrace is the shortest grace the kubelet gives a container it stops
// (its minimumGracePeriodInSeconds): a pod whose
// terminationGracePeriodSeconds is 0 or 1 still gets 2 s.
const minPodGrace = 2 * time.Second

// GraceFor is the value of TEND_GRACE for an injected tend with the
// annotations ann, when neither tend.sh/grace nor the container's TEND_GRACE
// sets one: the kubelet's io.kubernetes.pod.terminationGracePeriod (at least
// the kubelet's 2 s floor) less Margin, as a duration ("29s" for the
// default 30); else "platform" (tend's --grace=platform: a stop signal
// starts a shutdown with no deadline of tend's own). A value that is not a
// number of seconds is not tend's annotation to reject: it counts as no
// figure.
func GraceFor(ann map[string]string) string {
	v, ok := ann[AnnotationPodGrace]
	if !ok {
		return opts.GracePlatformValue
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > int64(24*365*time.Hour/time.Second) {
		return opts.GracePlatformValue
	}
	g := max(time.Duration(n)*time.Second, minPodGrace)
	return (g - Margin(g)).String()
}

// checkUser refuses a non-root user, or a user namespace, that could not
// execute tend (a binary not readable and executable by others).
func checkUser(c Container) error {
	who := ""
	switch {
	case c.UserNamespace:
		who = "the container's user namespace (linux.uidMappings)"
	case c.UID != 0:
		who = fmt.Sprintf("process.user.uid %d", c.UID)
	default:
		return nil
	}
	if c.TendMode.Perm()&0o005 != 0o005 {
		return fmt.Errorf("%s cannot execute tend (%s, mode %04o); chmod a+rx it", who, c.Tend, c.TendMode.Perm())
	}
	return nil
}

func isInit(arg0 string) bool {
	base := path.Base(arg0)
	for _, n := range Inits {
		if base == n {
			return true
		}
	}
	return false
}
