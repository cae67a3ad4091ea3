package config

import (
	"strconv"
	"strings"
)

// Replicas: a [service.NAME] table with replicas = N defines N services,
// NAME-0 … NAME-(N-1), each decoded from the same table with
// ${TEND_REPLICA} giving its index in command, env and ready values.

// MaxReplicas caps replicas = N: each instance is a process tree of its
// own, and a typo (1000 for 10) should be an error rather than a fork
// storm.
const MaxReplicas = 256

// ReplicaEnv is the variable that holds an instance's index, in its
// environment and for ${TEND_REPLICA} in its command, env and ready.
const ReplicaEnv = "TEND_REPLICA"

const replicasForm = "a number of instances 1-256"

// replicaMark stands for ${TEND_REPLICA} in the template decode of a
// replicated table, which the plan prints (a Unicode noncharacter: no
// text a user means has it).
const replicaMark = "\uFDD0"

// InstanceName is the name of instance i of the service base.
func InstanceName(base string, i int) string { return base + "-" + strconv.Itoa(i) }

// lookup is getenv for ${VAR} expansion, with TEND_REPLICA the instance's
// index while a per-instance key of a replicated table is decoded.
func (d *decoder) lookup(name string) (string, bool) {
	if name == ReplicaEnv && d.perInstance && d.replica != "" {
		return d.replica, true
	}
	return d.getenv(name)
}

// templated reports whether s is a template value whose check must wait
// for the index (the instances' decodes checked it).
func (d *decoder) templated(s string) bool {
	return d.template && strings.Contains(s, replicaMark)
}

// services decodes a [service.NAME] table: one Service, or with replicas
// one per instance.
func (d *decoder) services(name string, sf *field) ([]*Service, error) {
	var rf *field
	if sf.val.kind == kTable {
		rf = sf.val.tbl.get("replicas")
	}
	if rf == nil {
		s, err := d.service(name, sf)
		if err != nil {
			return nil, err
		}
		return []*Service{s}, nil
	}
	base := []string{"service", name}
	key := joinKey(append(base, "replicas"))
	n, err := d.integer(rf, key, 1, MaxReplicas, replicasForm)
	if err != nil {
		return nil, err
	}
	if sched := sf.val.tbl.get("schedule"); sched != nil {
		return nil, d.errf(rf.val.line, key, "not allowed with schedule: a job runs once per scheduled time; remove replicas (or schedule)")
	}
	if last := InstanceName(name, n-1); validServiceName(name) && !validServiceName(last) {
		return nil, d.errf(rf.val.line, key, "the instance name "+tomlQuote(last)+" is longer than "+strconv.Itoa(MaxServiceNameLen)+" characters; accepted: a shorter service name")
	}
	out := make([]*Service, 0, n)
	for i := range n {
		d.replica = strconv.Itoa(i)
		s, err := d.service(name, sf)
		d.replica = ""
		if err != nil {
			return nil, err
		}
		instance(s, name, i, n, "")
		if line, ok := d.afterLines[name]; ok {
			d.afterLines[s.Name] = line
		}
		out = append(out, s)
	}
	// The template the plan prints: the table decoded once more with a
	// mark for ${TEND_REPLICA}, kept only when it gives back every
	// instance exactly.
	d.replica, d.template = replicaMark, true
	t, err := d.service(name, sf)
	d.replica, d.template = "", false
	if err == nil {
		instance(t, name, 0, n, replicaMark)
		t.Name = name
		for i, s := range out {
			if !fill(t, i).SameAs(s) {
				return out, nil
			}
		}
		if d.templates == nil {
			d.templates = map[string]*Service{}
		}
		d.templates[name] = t
	}
	return out, nil
}

// instance makes s instance i of n of base; mark, when not "", is the
// template's TEND_REPLICA value.
func instance(s *Service, base string, i, n int, mark string) {
	idx := strconv.Itoa(i)
	if mark != "" {
		idx = mark
	}
	s.Name, s.ReplicaOf, s.Replica, s.Replicas = InstanceName(base, i), base, i, n
	var env envList
	env.setAll(s.Env)
	env.set(ReplicaEnv, idx)
	s.Env = env.list()
}

// fill returns instance i made from the template t.
func fill(t *Service, i int) *Service {
	idx := strconv.Itoa(i)
	r := func(s string) string { return strings.ReplaceAll(s, replicaMark, idx) }
	rs := func(ss []string) []string {
		if ss == nil {
			return nil
		}
		out := make([]string, len(ss))
		for j, s := range ss {
			out[j] = r(s)
		}
		return out
	}
	c := *t
	c.Name, c.Replica = InstanceName(t.ReplicaOf, i), i
	c.Command, c.Env = rs(t.Command), rs(t.Env)
	if t.Ready != nil {
		p := *t.Ready
		p.Address, p.URL, p.Path, p.Exec = r(p.Address), r(p.URL), r(p.Path), rs(p.Exec)
		c.Ready = &p
	}
	return &c
}

// checkUpdate rejects start-first where there is nothing to overlap.
func (d *decoder) checkUpdate(s *Service, base []string, f *field) error {
	if f == nil || s.Update != UpdateStartFirst {
		return nil
	}
	key := joinKey(append(base, "update"))
	switch {
	case s.Oneshot:
		return d.errf(f.val.line, key, `"start-first" is not allowed with oneshot = true: a oneshot runs to completion, there is nothing to keep serving; accepted: stop-first`)
	case s.IsJob():
		return d.errf(f.val.line, key, `"start-first" is not allowed with schedule: a job's run is not replaced; accepted: stop-first`)
	}
	return nil
}

// checkNames reports a service whose name is that of an instance of
// replicas (web-0 beside web with replicas), or of a replicated table
// itself, at the line of the colliding table (the one without replicas).
func checkNames(services []*Service) error {
	instances := map[string]*Service{} // instance name -> instance
	bases := map[string]*Service{}     // replicated table -> its first instance
	for _, s := range services {
		work.Add(1)
		if s.ReplicaOf != "" {
			instances[s.Name] = s
			if bases[s.ReplicaOf] == nil {
				bases[s.ReplicaOf] = s
			}
		}
	}
	for _, s := range services {
		work.Add(1)
		if s.ReplicaOf != "" {
			continue
		}
		what, inst := "the name of", bases[s.Name]
		if inst == nil {
			what, inst = "instance "+tomlQuote(s.Name)+" of", instances[s.Name]
		}
		if inst == nil {
			continue
		}
		return &Error{File: s.File, Line: s.Line, Key: joinKey([]string{"service", s.Name}),
			Msg: "the name collides with " + what + " service " + tomlQuote(inst.ReplicaOf) + " (replicas = " + strconv.Itoa(inst.Replicas) + " at " + where(inst.File, inst.Line) + ": " + instancesText(inst.ReplicaOf, inst.Replicas) + "); accepted: a name that is neither another service's nor one of its instances'"}
	}
	return nil
}

// groups indexes the instances of each replicated service by its name.
func (c *Config) groups() map[string][]*Service {
	var g map[string][]*Service
	for _, s := range c.Services {
		if s.ReplicaOf != "" {
			if g == nil {
				g = map[string][]*Service{}
			}
			g[s.ReplicaOf] = append(g[s.ReplicaOf], s)
		}
	}
	return g
}

// resolve is what an after entry a names: the service a, or every
// instance of the replicated service a; nil for neither.
func resolve(a string, byName map[string]*Service, groups map[string][]*Service) []*Service {
	if s := byName[a]; s != nil {
		return []*Service{s}
	}
	return groups[a]
}

// Instances returns the services a name stands for in after, tend
// restart and the like: the service of that name, or every instance of
// the replicated service of that name (nil for neither).
func (c *Config) Instances(name string) []*Service {
	return resolve(name, c.byName(), c.groups())
}

// instancesText names the instances of replicas = n: "instances web-0 …
// web-2", or "instance web-0" for one.
func instancesText(name string, n int) string {
	if n == 1 {
		return "instance " + InstanceName(name, 0)
	}
	return "instances " + InstanceName(name, 0) + " … " + InstanceName(name, n-1)
}
