package supervise

import (
	"slices"

	"github.com/tend-sh/tend/internal/status"
)

// The start order: a service waiting to start (state starting, no
// process) starts once every service in its `after` is satisfied. Rather
// than scanning every service at every event — a chain of n services that
// become ready one at a time would cost n² — schedule looks only at
// candidates: a service that entered starting, and the dependents of one
// that became satisfied. startWork counts the steps (the tests check it is
// linear in services + edges, as stopOrderWork is for the stop order).
type startOrder struct {
	candidates []*svc
	// dependents: by name, the services whose after lists it (rebuilt
	// when services are added or a reload changed them).
	dependents map[string][]*svc
	// rescan: put every service among the candidates at the next schedule
	// (a reload may change any after or kind).
	rescan bool
	// settledTo: s.order[:settledTo] were settled when last looked at;
	// startup is done once the cursor reaches the end and a final pass
	// confirms it (one may have become unsettled since it was passed).
	settledTo int
	seq       int // the next svc.seq: services are added in file order
	startWork int
}

// candidate marks v as possibly able to start at the next schedule.
func (s *Supervisor) candidate(v *svc) {
	s.startWork++
	if !v.queued {
		v.queued = true
		s.candidates = append(s.candidates, v)
	}
}

// stateChanged is every svc's setState hook: a service that (re)enters
// starting is a candidate, and one that became satisfied makes its
// dependents candidates.
func (s *Supervisor) stateChanged(v *svc, from State) {
	s.statusUp()
	if v.state == Starting {
		s.candidate(v)
	}
	if v.satisfied() && !status.Satisfied(v.kind(), from) {
		for _, d := range s.dependents[v.Name] {
			s.candidate(d)
		}
		if v.ReplicaOf != "" { // after names the replicated service
			for _, d := range s.dependents[v.ReplicaOf] {
				s.candidate(d)
			}
		}
	}
}

// indexDependents rebuilds dependents from every service's after.
func (s *Supervisor) indexDependents() {
	s.dependents = make(map[string][]*svc, len(s.order))
	s.indexGroups()
	for _, v := range s.order {
		s.indexAfter(v)
	}
}

// indexAfter adds v to the dependents of each service in its after.
func (s *Supervisor) indexAfter(v *svc) {
	if s.dependents == nil {
		s.dependents = map[string][]*svc{}
	}
	for _, a := range v.After {
		s.startWork++
		s.dependents[a] = append(s.dependents[a], v)
	}
}

// startReady starts (or arms, for a job) every candidate waiting to start
// whose dependencies are satisfied, in file order within each round; a
// start that satisfies others at once (no ready probe) makes them the next
// round's candidates.
func (s *Supervisor) startReady() {
	if s.rescan {
		s.rescan = false
		s.indexDependents()
		for _, v := range s.order {
			s.candidate(v)
		}
	}
	for len(s.candidates) > 0 {
		batch := s.candidates
		s.candidates = nil
		slices.SortFunc(batch, func(a, b *svc) int { return a.seq - b.seq })
		for _, v := range batch {
			s.startWork++
			v.queued = false
			if v.state != Starting || v.alive() || v.forgotten || !s.depsSatisfied(v) {
				continue
			}
			if v.Job != nil {
				s.armJob(v)
			} else {
				s.start(v)
			}
		}
	}
}

// checkStartup notes when every service has settled (satisfied, failed
// or stopped) for the first time.
func (s *Supervisor) checkStartup() {
	if s.startupDone {
		return
	}
	for s.settledTo < len(s.order) && s.order[s.settledTo].settled() {
		s.startWork++
		s.settledTo++
	}
	if s.settledTo < len(s.order) {
		return
	}
	for i, v := range s.order {
		s.startWork++
		if !v.settled() {
			s.settledTo = i
			return
		}
	}
	s.startupDone = true
	s.log.Info("all services started")
	s.lastStatusUp = s.summary()
	s.notifyUp("READY=1\nSTATUS=" + s.lastStatusUp)
}
