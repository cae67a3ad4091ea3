package supervise

import sdnotify "github.com/tend-sh/tend/internal/notify"

// notifyUp tells tend's own manager (Config.NotifySocket) msg: READY=1
// once every service has settled at startup, STOPPING=1 when the
// shutdown starts. The send never blocks (MSG_DONTWAIT); a failure is
// logged and otherwise ignored.
func (s *Supervisor) notifyUp(msg string) {
	if s.cfg.NotifySocket == "" {
		return
	}
	if err := sdnotify.Send(s.cfg.NotifySocket, msg); err != nil {
		s.log.Warn("sd_notify to tend's manager: " + err.Error())
	}
}
