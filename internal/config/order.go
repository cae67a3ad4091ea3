package config

import (
	"slices"
	"strings"
	"sync/atomic"
)

// service returns the named service, or nil: one scan, for a single
// question (Reserve). Code that asks for many names builds byName once.
func (c *Config) service(name string) *Service {
	for _, s := range c.Services {
		work.Add(1)
		if s.Name == name {
			return s
		}
	}
	return nil
}

// byName indexes the services by name, in one pass.
func (c *Config) byName() map[string]*Service {
	m := make(map[string]*Service, len(c.Services))
	for _, s := range c.Services {
		work.Add(1)
		m[s.Name] = s
	}
	return m
}

// work counts the steps of loading and ordering a configuration (services
// scanned or indexed, dependency edges followed): the tests check it grows
// linearly with services + edges, as supervise's stop-order work does.
// Atomic: configurations may be loaded on several goroutines at once (a
// reload's reader, tests in parallel).
var work atomic.Int64

// checkGraph checks that every after names a service and that there is no
// dependency cycle. afterLines gives the line of each service's after key.
func (c *Config) checkGraph(afterLines map[string]int) error {
	byName, groups := c.byName(), c.groups()
	for _, s := range c.Services {
		for _, a := range s.After {
			work.Add(1)
			deps := resolve(a, byName, groups)
			if deps == nil {
				names := make([]string, len(c.Services))
				for i, s := range c.Services {
					names[i] = s.Name
				}
				return &Error{File: c.fileOf(s), Line: afterLines[s.Name], Key: joinKey([]string{"service", s.Name, "after"}),
					Msg: "unknown service " + tomlQuote(a) + "; accepted: " + strings.Join(names, ", ")}
			}
			if dep := deps[0]; dep.IsJob() {
				return &Error{File: c.fileOf(s), Line: afterLines[s.Name], Key: joinKey([]string{"service", s.Name, "after"}),
					Msg: tomlQuote(a) + " is a job (it has a schedule): nothing can wait for a job; accepted: services without schedule"}
			}
		}
	}
	if cyc := c.cycle(byName, groups); cyc != nil {
		return &Error{File: c.fileOf(byName[cyc[0]]), Line: afterLines[cyc[0]], Key: joinKey([]string{"service", cyc[0], "after"}),
			Msg: "dependency cycle: " + strings.Join(cyc, " -> ")}
	}
	return nil
}

// fileOf is the file a service was defined in.
func (c *Config) fileOf(s *Service) string {
	if s != nil && s.File != "" {
		return s.File
	}
	return c.File
}

// cycle returns a dependency cycle as a -> b -> ... -> a, starting at the
// member that comes first in the file, or nil. byName is c.byName(),
// groups c.groups().
func (c *Config) cycle(byName map[string]*Service, groups map[string][]*Service) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(name string) bool
	visit = func(name string) bool {
		color[name] = grey
		stack = append(stack, name)
		for _, a := range byName[name].After {
			for _, ds := range resolve(a, byName, groups) {
				dep := ds.Name
				work.Add(1)
				switch color[dep] {
				case grey:
					i := slices.Index(stack, dep)
					found = append(slices.Clone(stack[i:]), dep)
					return true
				case white:
					if visit(dep) {
						return true
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
		return false
	}
	for _, s := range c.Services {
		work.Add(1)
		if color[s.Name] == white && visit(s.Name) {
			break
		}
	}
	if found == nil {
		return nil
	}
	// Rotate so the cycle starts at its member first in the file.
	members := found[:len(found)-1]
	index := make(map[string]int, len(c.Services))
	for i, s := range c.Services {
		index[s.Name] = i
	}
	first := 0
	for i, m := range members {
		if index[m] < index[members[first]] {
			first = i
		}
	}
	out := append(slices.Clone(members[first:]), members[:first]...)
	return append(out, out[0])
}

// StartOrder returns the services in topological levels: a service is in
// the level after the last of the services it is after, so the services of
// one level can start in parallel once the previous levels are ready. Within
// a level, services are in file order. The configuration must be acyclic
// (Parse and LoadProcfile guarantee it).
func (c *Config) StartOrder() [][]string {
	byName, groups := c.byName(), c.groups()
	level := map[string]int{}
	var depth func(s *Service, seen int) int
	depth = func(s *Service, seen int) int {
		if l, ok := level[s.Name]; ok {
			return l
		}
		l := 0
		if seen <= len(c.Services) { // guards against a cycle in a hand-made Config
			for _, a := range s.After {
				for _, dep := range resolve(a, byName, groups) {
					work.Add(1)
					l = max(l, depth(dep, seen+1)+1)
				}
			}
		}
		level[s.Name] = l
		return l
	}
	var out [][]string
	for _, s := range c.Services {
		l := depth(s, 0)
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], s.Name)
	}
	return out
}

// Diff compares two configurations for a reload: the services only in
// newCfg (added), only in oldCfg (removed), and in both with any effective
// setting different (changed; the lines a service and its user are
// defined at do not count; Env includes the env_file's contents as read at load time, so an
// edited env_file is a change). Each list is in its configuration's file
// order. Global settings (Grace, LogFormat, LogTimestamps) are the caller's
// to compare.
func Diff(oldCfg, newCfg *Config) (added, removed, changed []string) {
	oldNames, newNames := oldCfg.byName(), newCfg.byName()
	for _, n := range newCfg.Services {
		o := oldNames[n.Name]
		switch {
		case o == nil:
			added = append(added, n.Name)
		case !o.SameAs(n):
			changed = append(changed, n.Name)
		}
	}
	for _, o := range oldCfg.Services {
		if newNames[o.Name] == nil {
			removed = append(removed, o.Name)
		}
	}
	return added, removed, changed
}
