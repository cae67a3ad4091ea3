package supervise

import (
	"reflect"
	"slices"
)

// reload re-reads the configuration on SIGHUP: services added are started
// (once their dependencies are ready), services removed are stopped and
// forgotten, services whose definition changed are stopped and started
// again with the new one; unchanged ones are not touched. An invalid new
// configuration is reported and the running one kept whole.
func (s *Supervisor) reload() {
	r, err := s.cfg.Reload()
	if err != nil {
		s.log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	if s.phase != running {
		s.log.Info("reload ignored during shutdown")
		return
	}
	s.cfg.Grace = r.Grace
	seen := map[string]bool{}
	for _, def := range r.Services {
		seen[def.Name] = true
		v := s.byName[def.Name]
		if v == nil {
			s.add(def)
			s.log.Info("reload: added", "service", def.Name)
			continue
		}
		v.removed = false
		if v.Main || reflect.DeepEqual(*v.Service, *def) {
			continue
		}
		s.log.Info("reload: changed; restarting", "service", def.Name)
		if v.alive() {
			v.next = def
			if v.Job == nil { // a job's run finishes; the new definition applies after it
				s.signalStop(v, v.StopSignal)
			}
			continue
		}
		v.Service = def
		v.rearm()
	}
	for _, v := range slices.Clone(s.order) {
		if seen[v.Name] || v.Main {
			continue
		}
		s.log.Info("reload: removed; stopping", "service", v.Name)
		if v.alive() {
			v.removed = true
			s.stop(v, v.StopSignal)
			continue
		}
		v.invalidate()
		s.forget(v)
	}
	if s.cfg.Logs != nil {
		defs := make([]*Service, len(s.order))
		for i, v := range s.order {
			defs[i] = v.Service
		}
		s.cfg.Logs.SetWidth(NameWidth(defs))
	}
	s.schedule()
}

// NameWidth is the width service names in log prefixes are aligned to:
// the longest name.
func NameWidth(svcs []*Service) int {
	w := 0
	for _, s := range svcs {
		w = max(w, len(s.Name))
	}
	return w
}
