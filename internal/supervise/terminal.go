package supervise

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/signals"
)

// handOverTerminal is dumb-init's terminal hand-over (Config.HandTerminal),
// done before the first fork as dumb-init does it: tend detaches from its
// controlling terminal (TIOCNOTTY), so that the main, in a session of its
// own, takes the terminal as its controlling terminal (spawn.Spec
// TakeTerminal). When tend leads the terminal's session, the kernel answers
// the detach with SIGHUP and SIGCONT to the terminal's foreground process
// group (tend's own, as a rule): they are not the user's, and tend drops
// the first SIGHUP and the first SIGCONT it receives afterwards, exactly as
// dumb-init does (its signal_temporary_ignores), so that the main does not
// get a hang-up it was never sent. Later ones are forwarded as usual.
func (s *Supervisor) handOverTerminal() {
	if err := unix.IoctlSetInt(0, unix.TIOCNOTTY, 0); err != nil {
		s.log.Debug("cannot detach from the controlling terminal", "err", err)
		return
	}
	s.handedTerminal = true
	if sid, err := unix.Getsid(0); err == nil && sid == os.Getpid() {
		s.log.Debug("detached from the controlling terminal; ignoring the first SIGHUP and SIGCONT (the kernel's, for the hand-over)")
		s.ignoreOnce = map[syscall.Signal]bool{unix.SIGHUP: true, unix.SIGCONT: true}
	}
}

// ignoredOnce reports whether sig is the first of its kind after the
// terminal hand-over, and consumes it.
func (s *Supervisor) ignoredOnce(sig syscall.Signal) bool {
	if !s.ignoreOnce[sig] {
		return false
	}
	delete(s.ignoreOnce, sig)
	s.log.Debug("ignored the terminal hand-over's signal", "signal", signals.Name(sig))
	return true
}
