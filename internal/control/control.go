// Package control is tend's control socket: the server side that the
// supervisor runs (Serve) and the client side behind "tend status", "tend
// start", ... (RunCLI).
//
// It carries the supervisor's status and does not decide it: the service
// states, the status records and "ready" are internal/status's; the
// supervisor (internal/supervise) is the Backend that writes them.
//
// # Socket
//
// A unix stream socket, by default /run/tend/control.sock (see
// ResolveSocket). Serve refuses a socket directory that another user could
// change (it, or a directory above it, not owned by root or tend's uid, or
// writable by group or others without the sticky bit; the socket's own
// directory, if owned by root or tend's uid, is made sticky instead),
// creates the parent directory (0755) if missing, and creates the socket 0600 without
// following any link (see listen), so it never exists under its real name
// with a wider mode. An
// existing socket is probed: if a tend answers, Serve fails naming the path;
// if the connection is refused (a tend died without cleaning up) the stale
// socket is replaced. Every connection's peer credentials (SO_PEERCRED) are
// checked: only root and the uid tend runs as are served.
//
// # Protocol (version 1)
//
// One request per connection, newline-delimited JSON, at most MaxRequest
// bytes:
//
//	{"v":1,"op":"status","names":["web"]}
//	{"v":1,"op":"status","usage":true}         (with CPU and memory: usage.go)
//	{"v":1,"op":"start"|"stop"|"restart","names":["web","db"]}
//	{"v":1,"op":"signal","names":["web"],"signal":"HUP"}
//	{"v":1,"op":"logs","names":["web"],"lines":100,"follow":true}
//	{"v":1,"op":"shutdown"}
//	{"v":1,"op":"run","names":["backup"]}     (a scheduled job: one run now)
//	{"v":1,"op":"reopen_logs"}                  (reopen every service's log file)
//
// The server answers with one line:
//
//	{"v":1,"ok":true,"services":[...],"shutting_down":false}
//	{"v":1,"ok":false,"error":"unknown service \"x\"","code":"unknown_service"}
//
// and closes the connection, except for "logs": after an ok reply it sends
// one {"line":{...}} object per log line (LogMsg), then {"end":true} and
// closes; with "follow" it keeps sending lines until the client disconnects
// or tend stops. Followers never miss a line silently: what is not yet
// written to them is queued, at most FollowerBudget bytes per follower and
// FollowBudget for all together; a follower that falls further behind
// (the one furthest behind, when the global budget is full) is sent
// {"error":"... fell behind ..."} and closed, the others go on. At most
// MaxFollowers stream at once. Error codes are the Code* constants. The request must
// arrive within 5 s of connecting and every reply write must complete
// within 10 s, or the connection is closed; malformed or oversized requests
// get an error reply (code "bad_request") and a closed connection.
//
// # Exit codes of the commands
//
// See the Exit* constants: 0 ok, 1 the operation failed (or wait-ready timed
// out), 2 usage, 3 unknown service, 4 no tend running here, 5 permission
// denied.
package control

import (
	"errors"
	"strings"
	"syscall"

	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/status"
)

// DefaultSocket is the control socket's path when neither --socket nor
// TEND_SOCKET is given.
const DefaultSocket = "/run/tend/control.sock"

// SocketEnv is the environment variable naming the control socket.
const SocketEnv = "TEND_SOCKET"

// ResolveSocket returns the control socket path: flag if not empty, else
// $TEND_SOCKET if set and not empty, else DefaultSocket.
func ResolveSocket(flag string, getenv func(string) (string, bool)) string {
	if flag != "" {
		return flag
	}
	if getenv != nil {
		if v, ok := getenv(SocketEnv); ok && v != "" {
			return v
		}
	}
	return DefaultSocket
}

// Exit codes of the control commands.
const (
	ExitOK         = 0 // done; wait-ready: everything is ready
	ExitFailed     = 1 // the operation failed; wait-ready: not ready by the timeout, or tend is shutting down
	ExitUsage      = 2 // bad command line
	ExitUnknown    = 3 // a service name is not known to tend
	ExitNoTend     = 4 // no tend is running here (no socket, stale socket, cannot connect)
	ExitPermission = 5 // not allowed to use the socket
)

// JobRunner is implemented by backends that run scheduled jobs: RunJob
// starts one run of the named job now ("tend run NAME").
type JobRunner interface {
	RunJob(name string) error
}

// ErrUnknownService is wrapped by Backend errors about names tend does not
// know; the commands then exit with ExitUnknown.
var ErrUnknownService = errors.New("unknown service")

// UnknownServiceError returns an error wrapping ErrUnknownService that names
// the services.
func UnknownServiceError(names ...string) error {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	s := "unknown service"
	if len(names) > 1 {
		s = "unknown services"
	}
	return &unknownError{msg: s + " " + strings.Join(q, ", ")}
}

type unknownError struct{ msg string }

func (e *unknownError) Error() string { return e.msg }
func (e *unknownError) Is(target error) bool {
	return target == ErrUnknownService
}

// Backend is what the supervisor provides to the control socket and the
// HTTP API. Its methods are called from the servers' goroutines,
// concurrently; an implementation typically posts to its event loop and
// waits for the answer.
type Backend interface {
	// Status returns the named services, or all of them (in a stable
	// order) when names is empty. An unknown name gives an error wrapping
	// ErrUnknownService.
	Status(names []string) ([]status.ServiceStatus, error)
	Start(names []string) error
	Stop(names []string) error
	Restart(names []string) error
	Signal(name string, sig syscall.Signal) error
	// Shutdown starts tend's shutdown and returns.
	Shutdown() error
	ShuttingDown() bool
	Counters() (orphansReaped, signalsForwarded uint64)
}

// LogSource gives the recent and the future log lines of services; see
// MuxLogs for the adapter over *logs.Mux.
type LogSource interface {
	// Tail returns up to n recent lines of a service (all kept if n < 0),
	// oldest first.
	Tail(service string, n int) []logs.Line
	// Subscribe calls deliver with every line of the named services
	// (all when names is empty) recorded from now on, until cancel is
	// called (deliver is not called once cancel has returned). deliver
	// does not block; it may be called concurrently for different
	// services; a line's Text must not be modified.
	Subscribe(names []string, deliver func(logs.Line)) (cancel func())
}

// MuxLogs adapts a *logs.Mux to a LogSource.
func MuxLogs(m *logs.Mux) LogSource { return muxLogs{m} }

type muxLogs struct{ m *logs.Mux }

func (m muxLogs) Tail(service string, n int) []logs.Line { return m.m.Tail(service, n) }

func (m muxLogs) Subscribe(names []string, deliver func(logs.Line)) func() {
	return m.m.SubscribeFunc(deliver, names...).Close
}
