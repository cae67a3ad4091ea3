package supervise

import (
	"fmt"
	"strings"

	sdnotify "github.com/tend-sh/tend/internal/notify"
	"github.com/tend-sh/tend/internal/status"
)

// notifyUp tells tend's own manager (Config.NotifySocket) msg: READY=1
// once every service has settled at startup, STATUS= with a one-line
// summary whenever it changes, STOPPING=1 when the shutdown starts. The
// send never blocks (MSG_DONTWAIT); a failure is logged and otherwise
// ignored.
func (s *Supervisor) notifyUp(msg string) {
	if s.cfg.NotifySocket == "" {
		return
	}
	if err := sdnotify.Send(s.cfg.NotifySocket, msg); err != nil {
		s.log.Warn("sd_notify to tend's manager: " + err.Error())
	}
}

// statusUp sends STATUS= with the summary when it differs from the last
// one sent (stateChanged calls it on every change of a service's state).
func (s *Supervisor) statusUp() {
	if s.cfg.NotifySocket == "" {
		return
	}
	line := s.summary()
	if line == s.lastStatusUp {
		return
	}
	s.lastStatusUp = line
	s.notifyUp("STATUS=" + line)
}

// summary is one line for a manager's status display: how many services
// are in each state, in the states' order, and the first three that are
// failed or waiting to restart, by name ("3 ready, 1 backoff (db)").
func (s *Supervisor) summary() string {
	counts := make(map[State]int, len(status.States))
	var trouble []string
	for _, v := range s.order {
		counts[v.state]++
		if v.state == Failed || v.state == Backoff {
			trouble = append(trouble, v.Name)
		}
	}
	var parts []string
	for _, st := range status.States {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	line := strings.Join(parts, ", ")
	if len(trouble) > 3 {
		trouble = append(trouble[:3], "…")
	}
	if len(trouble) > 0 {
		line += " (" + strings.Join(trouble, ", ") + ")"
	}
	return line
}
