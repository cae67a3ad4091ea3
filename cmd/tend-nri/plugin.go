package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/containerd/nri/pkg/api"

	"github.com/tend-sh/tend/internal/inject"
)

// plugin is tend-nri's NRI handler: CreateContainer maps the container in,
// asks the injection policy (internal/inject) and maps its plan out as a
// ContainerAdjustment. It holds no state but a count.
type plugin struct {
	tend string // host path of the tend binary, bind-mounted into containers
	log  *slog.Logger
	stat func(string) (fs.FileInfo, error)

	existing atomic.Int64 // containers found at the last Synchronize
}

func newPlugin(tend string, log *slog.Logger) *plugin {
	return &plugin{tend: tend, log: log, stat: os.Stat}
}

// Synchronize leaves the containers that exist when tend-nri registers
// alone (they started without tend; adjusting them is not possible) and
// counts them.
func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.existing.Store(int64(len(ctrs)))
	p.log.Info("synchronized: existing containers left alone", "containers", len(ctrs), "pods", len(pods))
	return nil, nil
}

// CreateContainer applies the injection policy to a container being
// created. An error (an invalid tend.sh/ annotation, a user that cannot
// execute tend) fails that container's creation with tend's message.
func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	adj, why, err := p.adjust(pod, ctr)
	who := []any{"pod", pod.GetNamespace() + "/" + pod.GetName(), "container", ctr.GetName()}
	switch {
	case err != nil:
		p.log.Warn("container creation refused", append(who, "err", err.Error())...)
		return nil, nil, fmt.Errorf("tend-nri: %v", err)
	case why != "":
		p.log.Debug("left alone", append(who, "reason", why)...)
		return nil, nil, nil
	}
	p.log.Debug("tend injected", append(who, "at", inject.TendPath, "args", adj.GetArgs(), "env", envString(adj.GetEnv()))...)
	return adj, nil, nil
}

// Shutdown is the runtime saying it stops; the connection's close follows.
func (p *plugin) Shutdown(context.Context) { p.log.Info("the runtime is shutting down") }

// adjust is CreateContainer's decision: the adjustment, or why the
// container is left alone, or the error that refuses it.
func (p *plugin) adjust(pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, string, error) {
	fi, statErr := p.stat(p.tend)
	c := facts(pod, ctr, p.tend)
	if statErr == nil {
		c.TendMode = fi.Mode()
	}
	plan, err := inject.Decide(c)
	if err != nil {
		return nil, "", err
	}
	if plan.Skip != "" {
		return nil, plan.Skip, nil
	}
	if statErr != nil {
		return nil, "", fmt.Errorf("the tend binary to mount (--tend): %v", statErr)
	}
	adj := &api.ContainerAdjustment{}
	if plan.Args != nil {
		adj.SetArgs(plan.Args)
	}
	for _, kv := range plan.Env {
		k, v, _ := strings.Cut(kv, "=")
		adj.AddEnv(k, v)
	}
	if m := plan.Mount; m != nil {
		adj.AddMount(&api.Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: m.Options})
	}
	return adj, "", nil
}

// facts maps an NRI container in: its annotations (the pod's tend.sh/ ones
// under the container's own, which win: the runtime only copies into the
// container those its handler lets through), args, env, mount
// destinations, user and whether it has a user namespace.
func facts(pod *api.PodSandbox, ctr *api.Container, tend string) inject.Container {
	ann := map[string]string{}
	for k, v := range pod.GetAnnotations() {
		if strings.HasPrefix(k, inject.AnnotationPrefix) {
			ann[k] = v
		}
	}
	for k, v := range ctr.GetAnnotations() {
		ann[k] = v
	}
	c := inject.Container{Annotations: ann, Args: ctr.GetArgs(), Env: ctr.GetEnv(), UID: ctr.GetUser().GetUid(), Tend: tend}
	for _, m := range ctr.GetMounts() {
		c.Mounts = append(c.Mounts, m.GetDestination())
	}
	for _, ns := range ctr.GetLinux().GetNamespaces() {
		if ns.GetType() == "user" {
			c.UserNamespace = true
		}
	}
	return c
}

func envString(kvs []*api.KeyValue) string {
	s := make([]string, len(kvs))
	for i, kv := range kvs {
		s[i] = kv.GetKey() + "=" + kv.GetValue()
	}
	return strings.Join(s, " ")
}
