package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tend-sh/tend/internal/status"
	"golang.org/x/sys/unix"
)

// Commands are the subcommands RunCLI implements.
var Commands = []string{"status", "start", "stop", "restart", "signal", "logs", "shutdown", "wait-ready", "run"}

// IsCommand reports whether arg (tend's first argument) is a control
// command for RunCLI.
func IsCommand(arg string) bool { return slices.Contains(Commands, arg) }

// Usage is the control commands' usage text.
const Usage = `usage: tend status [--json] [NAME...]
       tend start|stop|restart [--timeout DURATION] NAME...
       tend run JOB                  one run of a scheduled job now
       tend signal NAME SIG
       tend logs [-f] [-n N] [NAME...]
       tend logs --reopen            reopen every service's log file (logrotate)
       tend shutdown
       tend wait-ready [--timeout DURATION] [NAME...]
options: --socket PATH   the control socket (default $TEND_SOCKET, else /run/tend/control.sock)
exit codes: 0 ok, 1 failed (wait-ready: not ready in time, or a service failed or is stopped), 2 usage, 3 unknown service,
            4 no tend running here, 5 permission denied (or the socket is served
            by a user other than root and you)
`

// How long the client waits for an answer.
const (
	callTimeout = 60 * time.Second       // start/stop/... may wait for the supervisor
	pollEvery   = 100 * time.Millisecond // wait-ready
)

// failure is a command's error: its exit code and message.
type failure struct {
	code int
	msg  string
}

func fail(code int, format string, args ...any) *failure {
	return &failure{code: code, msg: fmt.Sprintf(format, args...)}
}

type cliOpts struct {
	socket  string
	help    bool
	json    bool
	follow  bool
	reopen  bool
	lines   int
	timeout time.Duration
	timeSet bool // --timeout given (start/stop/restart: 0 = no limit)
	args    []string
}

// RunCLI runs a control command: args[0] is the command (see Commands),
// socket the control socket (a --socket option in args overrides it). It
// writes to stdout and stderr and returns the exit code (Exit*).
func RunCLI(args []string, socket string, stdout, stderr io.Writer) int {
	if len(args) == 0 || !IsCommand(args[0]) {
		fmt.Fprint(stderr, Usage)
		return ExitUsage
	}
	cmd := args[0]
	o, err := parseCLI(cmd, args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "tend: %s: %v\n%s", cmd, err, Usage)
		return ExitUsage
	}
	if o.help {
		fmt.Fprint(stdout, Usage)
		return ExitOK
	}
	if o.socket != "" {
		socket = o.socket
	}
	if socket == "" {
		socket = DefaultSocket
	}
	c := &client{socket: socket, stdout: stdout, stderr: stderr}
	var f *failure
	switch cmd {
	case "status":
		f = c.status(o)
	case "start", "stop", "restart":
		// A start-first restart waits for the new processes to be ready,
		// one replica at a time: --timeout bounds the wait (default 60s).
		timeout := callTimeout
		if o.timeSet {
			timeout = o.timeout
		}
		_, _, conn, f2 := c.call(Request{V: Version, Op: cmd, Names: o.args}, timeout)
		if conn != nil {
			conn.Close()
		}
		f = f2
		if f != nil && timeout > 0 && strings.Contains(f.msg, "did not answer within") {
			f.msg += " (what was asked goes on in tend; --timeout DURATION waits longer, 0 for as long as it takes)"
		}
	case "shutdown", "run":
		f = c.simple(Request{V: Version, Op: cmd, Names: o.args})
	case "signal":
		sig, _ := ParseSignal(o.args[1]) // checked by parseCLI
		f = c.simple(Request{V: Version, Op: OpSignal, Names: o.args[:1], Signal: strconv.Itoa(int(sig))})
	case "logs":
		if o.reopen {
			f = c.simple(Request{V: Version, Op: OpReopenLogs})
		} else {
			f = c.logs(o)
		}
	case "wait-ready":
		f = c.waitReady(o)
	}
	if f != nil {
		fmt.Fprintf(stderr, "tend: %s\n", f.msg)
		return f.code
	}
	return ExitOK
}

// parseCLI parses a command's options and arguments; options may follow
// arguments, "--" ends the options.
func parseCLI(cmd string, args []string) (cliOpts, error) {
	o := cliOpts{lines: -1}
	flagsDone := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if flagsDone || a == "-" || !strings.HasPrefix(a, "-") {
			o.args = append(o.args, a)
			continue
		}
		if a == "--" {
			flagsDone = true
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		if !hasVal && strings.HasPrefix(a, "-n") && len(a) > 2 && cmd == "logs" {
			name, val, hasVal = "-n", a[2:], true
		}
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		noValue := func() error {
			if hasVal {
				return fmt.Errorf("%s takes no value", name)
			}
			return nil
		}
		var err error
		switch {
		case name == "--socket":
			o.socket, err = value()
			if err == nil && o.socket == "" {
				err = errors.New("--socket: empty path")
			}
		case name == "-h" || name == "--help":
			o.help = true
			err = noValue()
		case cmd == "status" && name == "--json":
			o.json = true
			err = noValue()
		case cmd == "logs" && name == "--reopen":
			o.reopen = true
			err = noValue()
		case cmd == "logs" && (name == "-f" || name == "--follow"):
			o.follow = true
			err = noValue()
		case cmd == "logs" && (name == "-n" || name == "--lines"):
			var v string
			if v, err = value(); err == nil {
				o.lines, err = strconv.Atoi(v)
				if err != nil || o.lines < 0 {
					err = fmt.Errorf("%s: want a number of lines, got %q", name, v)
				}
			}
		case (cmd == "wait-ready" || cmd == "start" || cmd == "stop" || cmd == "restart") && (name == "--timeout" || name == "-t"):
			var v string
			if v, err = value(); err == nil {
				o.timeout, err = time.ParseDuration(v)
				o.timeSet = true
				if err != nil || o.timeout < 0 {
					err = fmt.Errorf("%s: want a duration such as 2s or 500ms, got %q", name, v)
				}
			}
		default:
			err = fmt.Errorf("unknown option %s", name)
		}
		if err != nil {
			return o, err
		}
	}
	if o.help {
		return o, nil
	}
	switch cmd {
	case "start", "stop", "restart":
		if len(o.args) == 0 {
			return o, errors.New("which services? (give at least one NAME)")
		}
	case "signal":
		if len(o.args) != 2 {
			return o, errors.New("want exactly NAME and SIG")
		}
		if _, err := ParseSignal(o.args[1]); err != nil {
			return o, err
		}
	case "shutdown":
		if len(o.args) != 0 {
			return o, errors.New("takes no arguments")
		}
	case "logs":
		if o.reopen && (len(o.args) != 0 || o.follow || o.lines >= 0) {
			return o, errors.New("--reopen takes no names and no other option (it reopens every log file)")
		}
	case "run":
		if len(o.args) != 1 {
			return o, errors.New("want exactly one JOB name")
		}
	}
	for _, n := range o.args {
		if n == "" {
			return o, errors.New("empty service name")
		}
	}
	return o, nil
}

type client struct {
	socket         string
	stdout, stderr io.Writer
}

// dial connects, turning the usual failures into one clear line, and
// checks who is listening before anything is sent or believed.
func (c *client) dial() (net.Conn, *failure) {
	conn, err := net.DialTimeout("unix", c.socket, 5*time.Second)
	if err == nil {
		if f := c.checkServer(conn); f != nil {
			conn.Close()
			return nil, f
		}
		return conn, nil
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
		return nil, fail(ExitNoTend, "no tend is running here (no socket at %s)", c.socket)
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fail(ExitNoTend, "no tend is running here (stale socket at %s)", c.socket)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return nil, fail(ExitPermission, "permission denied: cannot use %s (run as root or as the user tend runs as)", c.socket)
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return nil, fail(ExitNoTend, "cannot connect to tend at %s: %v", c.socket, err)
}

// checkServer reads the listening process's credentials (SO_PEERCRED: who
// called listen on the socket) and accepts only root and our own uid. Any
// user who can create a socket at the path (a directory it may write to, a
// stale path) could otherwise answer "ok" to root's "tend shutdown" or feed
// it a made-up status.
func (c *client) checkServer(conn net.Conn) *failure {
	cred, err := peerCred(conn)
	if err != nil {
		return fail(ExitPermission, "cannot tell who serves %s (SO_PEERCRED: %v); refusing to talk to it", c.socket, err)
	}
	if self := uint32(os.Getuid()); cred.Uid != 0 && cred.Uid != self {
		return fail(ExitPermission, "refusing to talk to %s: it is served by uid %d (pid %d), and only a tend running as root or as uid %d (this user) is trusted", c.socket, cred.Uid, cred.Pid, self)
	}
	return nil
}

// peerCred returns the SO_PEERCRED credentials of a unix socket's peer.
func peerCred(conn net.Conn) (*unix.Ucred, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a unix socket (%T)", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// call sends req and reads the reply; on success the connection stays open
// (for a logs stream) and the caller closes it.
func (c *client) call(req Request, timeout time.Duration) (Reply, *json.Decoder, net.Conn, *failure) {
	conn, f := c.dial()
	if f != nil {
		return Reply{}, nil, nil, f
	}
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
	}
	b, _ := json.Marshal(req)
	// A write error is reported only if no reply can be read: the server
	// may have answered (e.g. permission denied) and closed already.
	_, werr := conn.Write(append(b, '\n'))
	dec := json.NewDecoder(conn)
	var rep Reply
	if err := dec.Decode(&rep); err != nil {
		conn.Close()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return rep, nil, nil, fail(ExitFailed, "tend did not answer within %v", timeout)
		case werr != nil:
			return rep, nil, nil, fail(ExitNoTend, "cannot talk to tend at %s: %v", c.socket, errno(werr))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return rep, nil, nil, fail(ExitFailed, "tend closed the connection without answering")
		}
		return rep, nil, nil, fail(ExitFailed, "bad answer from tend: %v", err)
	}
	if rep.V != Version {
		conn.Close()
		return rep, nil, nil, fail(ExitFailed, "tend speaks protocol version %d, this command %d", rep.V, Version)
	}
	if !rep.OK {
		conn.Close()
		return rep, nil, nil, fail(exitCode(rep.Code), "%s", rep.Error)
	}
	return rep, dec, conn, nil
}

func errno(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

func (c *client) simple(req Request) *failure {
	_, _, conn, f := c.call(req, callTimeout)
	if conn != nil {
		conn.Close()
	}
	return f
}

func (c *client) status(o cliOpts) *failure {
	rep, _, conn, f := c.call(Request{V: Version, Op: OpStatus, Names: o.args, Usage: true}, callTimeout)
	if f != nil {
		return f
	}
	conn.Close()
	r := status.Report{ShuttingDown: rep.ShuttingDown, Services: rep.Services, Totals: rep.Totals}
	if o.json {
		if err := WriteStatusJSON(c.stdout, r); err != nil {
			return fail(ExitFailed, "%v", err)
		}
		return nil
	}
	if err := WriteStatusText(c.stdout, r, time.Now()); err != nil {
		return fail(ExitFailed, "%v", err)
	}
	return nil
}

// WriteStatusJSON writes r as "tend status --json" and GET /status show it:
// indented JSON with a final newline. Services is never null.
func WriteStatusJSON(w io.Writer, r status.Report) error {
	if r.Services == nil {
		r.Services = []status.ServiceStatus{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// statusColumn is a service's STATUS= text as one table cell: control
// characters and tabs become spaces, at most 80 characters, "-" for none.
func statusColumn(t string) string {
	if t == "" {
		return "-"
	}
	t = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(t, "\uFFFD"))
	if r := []rune(t); len(r) > 80 {
		t = string(r[:79]) + "…"
	}
	return t
}

// WriteStatusText writes r as the "tend status" table, uptimes relative to
// now.
func WriteStatusText(w io.Writer, r status.Report, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// The STATUS= texts of notify services, last (free text), when any
	// service has one.
	texts := false
	for _, s := range r.Services {
		texts = texts || s.StatusText != ""
	}
	header := "NAME\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tREADY\tHEALTH\tCPU\tMEM"
	if texts {
		header += "\tSTATUS"
	}
	fmt.Fprintln(tw, header)
	for _, s := range r.Services {
		pid, uptime, last, ready, health := "-", "-", "-", "no", "-"
		if s.PID != 0 {
			pid = strconv.Itoa(s.PID)
			if !s.Started.IsZero() {
				uptime = humanDuration(now.Sub(s.Started))
			}
		}
		if s.LastExit != nil {
			last = strconv.Itoa(*s.LastExit)
			if s.ExitReason != "" {
				last += " (" + s.ExitReason + ")"
			}
		}
		if s.Ready {
			ready = "yes"
		}
		if s.Health != "" {
			health = s.Health
		}
		cpu, mem := usageCells(s.Usage)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s", s.Name, s.State, pid, uptime, s.Restarts, last, ready, health, cpu, mem)
		if texts {
			fmt.Fprint(tw, "\t"+statusColumn(s.StatusText))
		}
		fmt.Fprintln(tw)
	}
	if r.Orphans != nil {
		fmt.Fprint(tw, orphansRow(r.Orphans))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeContainerLine(w, r.Totals); err != nil {
		return err
	}
	if err := writeJobsText(w, r.Services, now); err != nil {
		return err
	}
	if r.ShuttingDown {
		_, err := fmt.Fprintln(w, "tend is shutting down")
		return err
	}
	return nil
}

// humanDuration rounds to the second: "45s", "3m12s", "2h0m5s", "3d4h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
	return d.String()
}

func (c *client) logs(o cliOpts) *failure {
	timeout := callTimeout
	if o.follow {
		timeout = 0
	}
	_, dec, conn, f := c.call(Request{V: Version, Op: OpLogs, Names: o.args, Lines: o.lines, Follow: o.follow}, timeout)
	if f != nil {
		return f
	}
	defer conn.Close()
	prefix := len(o.args) != 1
	width := 0
	var buf []byte
	for {
		var m LogMsg
		if err := dec.Decode(&m); err != nil {
			if o.follow && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)) {
				return nil // tend went away: the stream is over
			}
			return fail(ExitFailed, "log stream interrupted: %v", errno(err))
		}
		if m.End {
			return nil
		}
		if m.Error != "" {
			return fail(ExitFailed, "%s", m.Error)
		}
		if m.Line == nil {
			continue
		}
		l := m.Line
		buf = buf[:0]
		if prefix {
			width = max(width, len(l.Service))
			buf = append(buf, l.Service...)
			for range width - len(l.Service) {
				buf = append(buf, ' ')
			}
			if l.Cont {
				buf = append(buf, " + "...)
			} else {
				buf = append(buf, " | "...)
			}
		}
		buf = append(buf, l.Text...)
		buf = append(buf, '\n')
		out := c.stdout
		if l.Stream == "stderr" {
			out = c.stderr
		}
		if _, err := out.Write(buf); err != nil {
			return fail(ExitFailed, "%v", err)
		}
	}
}

// failedForGood describes the services in state failed, as "name (last
// exit N)".
func failedForGood(ss []status.ServiceStatus) []string {
	var out []string
	for _, s := range ss {
		if s.State != status.Failed {
			continue
		}
		d := s.Name
		if s.LastExit != nil {
			d += " (last exit " + strconv.Itoa(*s.LastExit) + ")"
		}
		out = append(out, d)
	}
	return out
}

// stoppedForGood names the services that are stopped and not satisfied:
// nothing starts them again but `tend start`.
func stoppedForGood(ss []status.ServiceStatus) []string {
	var out []string
	for _, s := range ss {
		if s.State == status.Stopped && !s.Satisfied() {
			out = append(out, s.Name)
		}
	}
	return out
}

func (c *client) waitReady(o cliOpts) *failure {
	start := time.Now()
	var deadline time.Time
	if o.timeout > 0 {
		deadline = start.Add(o.timeout)
	}
	for {
		t := 5 * time.Second
		if !deadline.IsZero() {
			t = max(min(t, time.Until(deadline)), 50*time.Millisecond)
		}
		rep, _, conn, f := c.call(Request{V: Version, Op: OpStatus, Names: o.args}, t)
		if conn != nil {
			conn.Close()
		}
		var last *failure
		switch {
		case f == nil && rep.ShuttingDown:
			return fail(ExitFailed, "tend is shutting down")
		case f == nil:
			nr := status.NotReady(rep.Services)
			if len(nr) == 0 {
				return nil
			}
			// A service that failed for good will not become ready unless
			// someone starts it again: waiting out the timeout helps no one.
			if failed := failedForGood(rep.Services); len(failed) > 0 {
				return fail(ExitFailed, "failed, will not become ready (until `tend start`): %s", strings.Join(failed, ", "))
			}
			// Nor will one that is stopped (`tend stop`, or it exited
			// and is not restarted).
			if stopped := stoppedForGood(rep.Services); len(stopped) > 0 {
				return fail(ExitFailed, "stopped, will not become ready (until `tend start`): %s", strings.Join(stopped, ", "))
			}
			last = fail(ExitFailed, "not ready after %v: %s", o.timeout, strings.Join(nr, ", "))
		case f.code == ExitNoTend || f.code == ExitFailed:
			last = f // tend may still be starting: keep trying
		default:
			return f // permission, unknown service: waiting will not help
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return last
			}
			time.Sleep(min(pollEvery, left))
		} else {
			time.Sleep(pollEvery)
		}
	}
}

// writeJobsText writes the jobs' table below the services', when there are
// jobs: schedule, last run (start, duration, exit code), next run, counts.
func writeJobsText(w io.Writer, ss []status.ServiceStatus, now time.Time) error {
	jobs := status.Jobs(ss)
	if len(jobs) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tLAST RUN\tDURATION\tEXIT\tNEXT RUN\tOK/FAILED/TIMEOUT/SKIPPED")
	stamp := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, s := range jobs {
		j := s.Job
		dur, exit, next := "-", "-", "-"
		switch {
		case s.PID != 0 && j.LastStart != nil:
			dur = "running " + humanDuration(now.Sub(*j.LastStart))
		case j.LastDurationSeconds != nil:
			dur = (time.Duration(*j.LastDurationSeconds * float64(time.Second))).Round(time.Millisecond).String()
		}
		if s.LastExit != nil && s.PID == 0 {
			exit = strconv.Itoa(*s.LastExit)
		}
		if j.Next != nil {
			next = stamp(j.Next) + " (in " + humanDuration(j.Next.Sub(now)) + ")"
		}
		sched := j.Schedule
		if j.Timezone != "" && j.Timezone != "UTC" {
			sched += " " + j.Timezone
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d/%d/%d\n", s.Name, sched, stamp(j.LastStart), dur, exit, next,
			j.Runs["success"], j.Runs["failure"], j.Runs["timeout"], j.Skipped)
	}
	return tw.Flush()
}
