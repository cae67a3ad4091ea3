package supervise

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"

	"github.com/tend-sh/tend/internal/listen"
)

// The sockets of a service's `listen` key (issue 20). They are opened when
// the service joins the configuration (at startup, or when a reload adds
// it), so connections made before its first start already wait in the
// backlog; a start opens them when that failed (a bind error is then the
// start's failure, retried with the backoff). They stay open across
// restarts and `tend stop` (connections wait in the backlog until the next
// start), are reopened at the next start when a reload changed `listen`
// (or the service's user, who owns unix socket files), and are closed when
// a reload removes the service or tend exits (releaseZD, closeZD).

// socketsFor is what a pool's sockets were made for; a start reopens them
// when it no longer matches the definition.
type socketsFor struct {
	addrs []listen.Addr
	user  string
}

// sockPool is the open sockets of one configured service: shared by every
// instance of replicas = N (one accept queue: the kernel spreads the
// connections) and by both processes of a start-first replacement.
type sockPool struct {
	set  *listen.Set
	made socketsFor
}

// poolKey names v's pool: the replicated service's name for an instance
// (also the default LISTEN_FDNAMES name), else its own.
func poolKey(v *svc) string {
	if v.ReplicaOf != "" {
		return v.ReplicaOf
	}
	return v.Name
}

// sockets is v's open sockets (nil: none).
func (s *Supervisor) sockets(v *svc) *listen.Set {
	if p := s.pools[poolKey(v)]; p != nil {
		return p.set
	}
	return nil
}

// dropPool closes the sockets of v's pool once no service of the
// configuration uses it (a reload removed v, and it was the last
// instance).
func (s *Supervisor) dropPool(v *svc) {
	key := poolKey(v)
	p := s.pools[key]
	if p == nil {
		return
	}
	for _, o := range s.order {
		if o != v && !o.forgotten && poolKey(o) == key {
			return
		}
	}
	p.set.Close()
	delete(s.pools, key)
}

// openSockets makes sure v's sockets are open as its definition says,
// returning the bind error (listen.BindError: service, address, errno).
// When `listen` changed, a socket whose address is still listed (the
// same address, whatever its name, and the same user) is kept with what
// waits in its backlog; the others are closed and the new ones opened.
func (s *Supervisor) openSockets(v *svc) error {
	want := socketsFor{addrs: v.Listen, user: v.User}
	key := poolKey(v)
	p := s.pools[key]
	if p == nil {
		p = &sockPool{}
	}
	old := p.set
	if old != nil && reflect.DeepEqual(p.made, want) {
		return nil
	}
	// The old sockets no longer listed are closed first: their ports may
	// be what a new entry binds (0.0.0.0:80 becoming 127.0.0.1:80).
	keep := map[string]*os.File{}
	if old != nil {
		listed := map[string]bool{}
		for _, a := range v.Listen {
			listed[sameAddr(a)] = true
		}
		for i, a := range p.made.addrs {
			if k := sameAddr(a); listed[k] && p.made.user == v.User {
				keep[k] = old.Files[i]
			} else {
				old.Files[i].Close()
			}
		}
		delete(s.pools, key)
		s.log.Info("listen changed; reopening its sockets", "service", v.Name)
	}
	owner := listen.Owner{UID: -1, GID: -1}
	if c := v.Spec.Cred; c != nil {
		owner = listen.Owner{UID: int(c.Uid), GID: int(c.Gid)}
	}
	set := &listen.Set{}
	for _, a := range v.Listen {
		f := keep[sameAddr(a)]
		delete(keep, sameAddr(a))
		if f == nil {
			var err error
			if f, err = listen.Open(v.Name, a, owner); err != nil {
				// Those taken so far and those still to take.
				for _, f := range append(set.Files, slices.Collect(maps.Values(keep))...) {
					f.Close()
				}
				return err // the next start opens them all afresh
			}
		}
		name := a.Name
		if name == "" {
			name = key
		}
		set.Files, set.Names = append(set.Files, f), append(set.Names, name)
	}
	if len(set.Files) > 0 {
		if s.pools == nil {
			s.pools = map[string]*sockPool{}
		}
		s.pools[key] = &sockPool{set: set, made: want}
	}
	return nil
}

// sameAddr identifies an address whatever its name: a socket kept across
// a reload is one bound the same way.
func sameAddr(a listen.Addr) string {
	a.Name = ""
	return fmt.Sprintf("%+v", a)
}

// openEarly opens a service's sockets as it joins the configuration; an
// error is logged (and met again at its start).
func (s *Supervisor) openEarly(v *svc) {
	if len(v.Listen) == 0 {
		return
	}
	if err := s.openSockets(v); err != nil {
		s.log.Error(err.Error(), "service", v.Name)
	}
}
