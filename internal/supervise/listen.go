package supervise

import (
	"reflect"

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

// socketsFor is what v's open sockets were made for; a start reopens them
// when it no longer matches the definition.
type socketsFor struct {
	addrs []listen.Addr
	user  string
}

// openSockets makes sure v's sockets are open as its definition says,
// returning the bind error (listen.BindError: service, address, errno).
func (s *Supervisor) openSockets(v *svc) error {
	want := socketsFor{addrs: v.Listen, user: v.User}
	if v.zd.sockets != nil && reflect.DeepEqual(v.zd.sockFor, want) {
		return nil
	}
	if v.zd.sockets != nil {
		s.log.Info("listen changed; reopening its sockets", "service", v.Name)
		v.zd.sockets.Close()
		v.zd.sockets = nil
	}
	if len(v.Listen) == 0 {
		return nil
	}
	owner := listen.Owner{UID: -1, GID: -1}
	if c := v.Spec.Cred; c != nil {
		owner = listen.Owner{UID: int(c.Uid), GID: int(c.Gid)}
	}
	set, err := listen.OpenAll(v.Name, v.Name, v.Listen, owner)
	if err != nil {
		return err
	}
	v.zd.sockets, v.zd.sockFor = set, want
	for _, a := range v.Listen {
		s.log.Debug("listening", "service", v.Name, "address", a.Text)
	}
	return nil
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
