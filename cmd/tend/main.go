// Command tend is a PID 1 for containers and a small supervisor: it runs a
// command (or the services of a config file), forwards signals, reaps every
// orphan and, at shutdown, waits for every descendant (bounded by a grace
// period) before exiting with the right exit code. See README.md for
// exactly what happens when.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/compat"
	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/control"
	"github.com/tend-sh/tend/internal/httpapi"
	"github.com/tend-sh/tend/internal/listen"
	"github.com/tend-sh/tend/internal/logfile"
	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/notify"
	"github.com/tend-sh/tend/internal/ociruntime"
	"github.com/tend-sh/tend/internal/opts"
	"github.com/tend-sh/tend/internal/schedule"
	"github.com/tend-sh/tend/internal/shellwords"
	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/spawn"
	"github.com/tend-sh/tend/internal/supervise"
	"github.com/tend-sh/tend/internal/tendlog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit code for usage and configuration errors.
const codeUsage = 2

// logDrain is the least time tend gives, after the last process exited,
// to the services' output still in pipes (and to its own messages) to be
// written out, even when the grace is already spent; otherwise it drains
// until the end of the grace.
const logDrain = 2 * time.Second

func main() {
	// A child that inherits `listen` sockets is started through tend's
	// own binary, which sets LISTEN_PID to its pid and execs the program
	// (internal/listen): this returns at once otherwise.
	listen.RunTrampoline(os.Args)
	// Before anything reads the clock in local time: Go's own load of
	// time.Local must not open a named pipe or read /dev/zero ($TZ or
	// /etc/localtime). tend says so in its own face; the peers' stay quiet.
	localErr = schedule.GuardLocal()
	os.Exit(face(os.Args[0], os.Args[1:]))
}

// localErr is why time.Local was set to UTC (schedule.GuardLocal), if it was.
var localErr error

// face runs the program tend is invoked as: the face compat.FaceOf picks
// from argv[0]'s last element (a symlink to the one binary picks it; the
// names are compat's one list): tend-runc, an OCI runtime wrapper
// (internal/ociruntime); tini or dumb-init (internal/compat reads their
// command lines into tend's options); else tend itself.
func face(argv0 string, args []string) int {
	switch f := compat.FaceOf(argv0); f {
	case compat.Runtime:
		return ociruntime.Main(append([]string{argv0}, args...))
	case compat.Tini, compat.DumbInit:
		inv, err := compat.Parse(f, args, os.LookupEnv)
		if err != nil {
			return compat.Fail(f, err, version, os.Stderr)
		}
		if inv.Action != compat.Run {
			return compat.Answer(inv, version, os.Stdout, os.Stderr)
		}
		return runOptions(f, inv.Options, func(msg string) int { return compat.Fail(f, errors.New(msg), version, os.Stderr) })
	}
	return run(args)
}

func run(args []string) int {
	if localErr != nil {
		fmt.Fprintln(os.Stderr, "tend: warning: "+localErr.Error())
	}
	if len(args) > 0 && args[0] == "check" {
		return check(args[1:])
	}
	if len(args) > 0 && control.IsCommand(args[0]) {
		return control.RunCLI(args, control.ResolveSocket("", os.LookupEnv), os.Stdout, os.Stderr)
	}
	o, err := opts.Parse(args, os.LookupEnv)
	if err != nil {
		return usageError(err.Error())
	}
	switch {
	case o.Help:
		fmt.Print(opts.Usage())
		return 0
	case o.Version:
		fmt.Println("tend", version)
		return 0
	case len(o.Command) == 0 && !services(o):
		return usageError("no command given")
	}
	return runOptions(compat.Tend, o, usageError)
}

// runOptions runs tend as the options say, as face f; usage reports an
// invalid value the way the face reports usage errors.
func runOptions(f compat.Face, o opts.Options, usage func(msg string) int) int {
	if o.Pdeathsig != 0 {
		// Any thread of tend's does: when the parent dies, the kernel
		// signals the whole process for each thread that asked.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(o.Pdeathsig), 0, 0, 0); err != nil {
			return usage(fmt.Sprintf("parent-death signal %s: %v", signals.Name(o.Pdeathsig), err))
		}
	}
	level := tendlog.LevelFor(o.Verbose)
	log := tendlog.New(os.Stderr, level)

	// tend's own manager's notify socket is tend's, never its children's.
	// The stand-ins pass it through untouched, as tini and dumb-init do:
	// there the program behind them says when it is ready.
	env, notifySocket := os.Environ(), ""
	if f == compat.Tend {
		notifySocket = os.Getenv("NOTIFY_SOCKET")
		env = notify.StripEnv(env)
	}
	var err error
	var cred *syscall.Credential
	if o.User != "" {
		if cred, env, err = supervise.Identity(o.User, env); err != nil {
			log.Error("--user: " + err.Error())
			return codeUsage
		}
	}
	cfg := supervise.Config{
		NotifySocket: notifySocket,
		ToChild:      o.Forward == opts.ForwardChild,
		Rewrite:      o.Rewrite,
		RemapExit:    o.RemapExit,
		Hold:         o.Hold,
		Terminal:     !o.SingleChild && !o.NoTerminal && isTerminal(0) && spawn.ControllingTerminal(0),
		Log:          log,

		WarnReaped:   o.WarnReaped,
		SingleChild:  o.SingleChild,
		JobControl:   o.JobControl,
		ResetSignals: o.ResetSignals,
		ChdirRoot:    o.ChdirRoot,
		// dumb-init leading its terminal's session (docker run -it) hands
		// the terminal to the child's own session.
		HandTerminal: o.NoTerminal && !o.SingleChild && sessionLeader() && isTerminal(0) && spawn.ControllingTerminal(0),
	}
	cfg.PlatformGrace = o.GracePlatform // --grace=platform: a stop signal's sender owns the deadline
	// Notify services' sockets go beside the control socket (a test's or
	// a read-only root's --socket directory; /run/tend by default).
	cfg.NotifyParent = filepath.Dir(control.ResolveSocket(o.Socket, os.LookupEnv))
	if o.PreStop != "" {
		argv, err := shellwords.Split(o.PreStop)
		if err == nil && len(argv) == 0 {
			err = errors.New("empty command")
		}
		if err != nil {
			return usage(fmt.Sprintf("invalid --pre-stop %q: %v", o.PreStop, err))
		}
		// The pre-stop runs in the container's context, as the main does,
		// but in a session of its own: signals to the main group skip it.
		cfg.PreStop = &spawn.Spec{Argv: argv, Env: env, Cred: cred, Files: []uintptr{0, 1, 2}}
		if o.ChdirRoot {
			cfg.PreStop.Dir, _ = os.Getwd() // tend itself moves to / after the start
		}
	}

	c, def, err := buildConfig(o, env, cred)
	if err != nil {
		log.Error(err.Error())
		return codeUsage
	}
	cfg.Services, cfg.Grace = def.Services, def.Grace
	var mux *logs.Mux
	files := logfile.NewSet()
	defer files.Close()
	if c != nil {
		mux = logs.New(logs.Options{Format: logFormat(c.LogFormat), Timestamps: c.LogTimestamps, Width: supervise.NameWidth(def.Services)})
		if err := attachLogFiles(mux, files, c); err != nil {
			log.Error(err.Error())
			return codeUsage
		}
		cfg.Logs = mux
		cfg.AnyExitStops = o.Procfile != ""
		cfg.Reload = func() (*supervise.Reloaded, error) {
			c, def, err := buildConfig(o, env, cred)
			if err == nil {
				err = attachLogFiles(mux, files, c)
			}
			return def, err
		}
	}

	// From here on tend logs through a queue, so that a stderr nobody
	// reads can never stall the event loop; in config mode its lines share
	// the services' stderr lock, so they are never torn.
	var dest io.Writer = os.Stderr
	if mux != nil {
		dest = mux.Writer(logs.Stderr)
	}
	logq := tendlog.NewAsync(dest, 1024)
	log = tendlog.New(logq, level)
	cfg.Log = log
	files.SetReport(reportLogFile(log))
	if f == compat.DumbInit {
		// A program that cannot be executed is reported in dumb-init's
		// shape ("[dumb-init] PROGRAM: No such file or directory"), which
		// log filters match, with its exit code.
		cfg.MainStartError = func(err error) int {
			line, code, _ := compat.StartError(f, err)
			_, _ = logq.Write([]byte(line))
			return code
		}
	}
	sup := supervise.New(cfg)
	var web *httpapi.Server
	if o.HTTP != "" {
		if _, err := httpapi.ListenAddr(o.HTTP); err != nil {
			return usage(err.Error())
		}
		if web, err = httpapi.Listen(o.HTTP, sup, log); err != nil {
			log.Error(err.Error())
		}
	}
	// The control socket is set up beside the first fork, off the start
	// path. With services (-c, -f) it is on by default; in single-command
	// mode, the tini replacement, only when a path is asked for: one main
	// needs little control, and the socket costs ~0.6 MiB and ~0.2 ms of
	// shutdown (measured, BENCHMARKS.md). Failing to create it is only
	// worth a warning when a path was asked for.
	_, socketEnv := os.LookupEnv(control.SocketEnv)
	asked := socketEnv || o.Socket != ""
	sockc := make(chan *control.Server, 1)
	if mux == nil && !asked {
		sockc <- nil
	} else {
		go func() {
			path := control.ResolveSocket(o.Socket, os.LookupEnv)
			var src control.LogSource
			if mux != nil {
				src = fileLogs{control.MuxLogs(mux), files}
			}
			srv, err := control.Serve(path, sup, src, log)
			if err != nil {
				if asked {
					log.Warn("control socket: " + err.Error())
				} else {
					log.Info("no control socket", "err", err)
				}
			}
			sockc <- srv
		}()
	}

	code := sup.Run()
	if srv := <-sockc; srv != nil {
		srv.Close()
	}
	if web != nil {
		web.Close()
	}
	// Every process is gone: what the services wrote is in their pipes (or
	// in the readers, blocked on a slow stdout). Drain it all, until every
	// pipe reached EOF, within the rest of the grace.
	drainEnd := drainDeadline(sup.GraceEnd(), time.Now())
	if mux != nil {
		ctx, cancel := context.WithDeadline(context.Background(), drainEnd)
		if err := mux.Wait(ctx); err != nil {
			log.Warn("some service output was still not written at exit", "err", err)
		}
		cancel()
	}
	logq.Flush(max(time.Until(drainEnd), time.Second))
	return code
}

// buildConfig decides what the supervisor runs, and with which grace, from
// the options: the same at the start and at every reload (SIGHUP). With
// files (-c, -f, --crontab) it reads them (c is the loaded configuration):
// their services, then the main service of -- CMD, which waits for all of
// them; without, the main alone (c is nil). The grace is --grace (or
// TEND_GRACE) when given, else the files' grace, else the default.
func buildConfig(o opts.Options, env []string, cred *syscall.Credential) (c *config.Config, def *supervise.Reloaded, err error) {
	if !services(o) {
		return nil, &supervise.Reloaded{Services: []*supervise.Service{supervise.Main(o.Command, env, cred, nil)}, Grace: o.Grace}, nil
	}
	if c, err = load(o); err != nil {
		return nil, nil, err
	}
	svcs, err := supervise.FromConfig(c, env)
	if err != nil {
		return nil, nil, err
	}
	if len(o.Command) > 0 {
		svcs = append(svcs, supervise.Main(o.Command, env, cred, supervise.Names(svcs)))
	}
	grace := c.Grace
	if o.GraceSet {
		grace = o.Grace
	}
	return c, &supervise.Reloaded{Services: svcs, Grace: grace}, nil
}

// drainDeadline is how long tend drains output at exit: until the end of
// the grace, and at least logDrain after now.
func drainDeadline(graceEnd, now time.Time) time.Time {
	if floor := now.Add(logDrain); graceEnd.Before(floor) {
		return floor
	}
	return graceEnd
}

// services reports whether the options name services to run (-c, -f,
// --crontab) rather than a single command.
func services(o opts.Options) bool {
	return o.Config != "" || o.Procfile != "" || len(o.Crontabs) > 0
}

// oneFile reports whether the options name a single config file (not a
// directory) and no crontab.
func oneFile(o opts.Options) bool {
	if len(o.Configs) != 1 || len(o.Crontabs) != 0 {
		return false
	}
	fi, err := os.Stat(o.Config)
	return err != nil || !fi.IsDir()
}

// load reads the config files, crontabs or Procfile named by the options.
// With a command (-- CMD), the files may not define a service of the
// main's name: the main waits for every service of the files, so it would
// wait for itself forever.
func load(o opts.Options) (*config.Config, error) {
	if o.Procfile != "" {
		return config.LoadProcfile(o.Procfile, os.LookupEnv)
	}
	var c *config.Config
	var err error
	if oneFile(o) {
		c, err = config.Load(o.Config, os.LookupEnv) // one file, as before
	} else {
		c, err = config.LoadSet(o.Configs, o.Crontabs, os.LookupEnv)
	}
	if err == nil && len(o.Command) > 0 {
		err = c.Reserve(supervise.MainName, "the command given after -- (the main service)")
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// check implements `tend check -c FILE` / `tend check -f Procfile`: validate
// and print the resolved plan.
func check(args []string) int {
	o, err := opts.Parse(args, os.LookupEnv)
	if err != nil {
		return usageError("check: " + err.Error())
	}
	if o.Help {
		fmt.Print("Usage: tend check (-c FILE|DIR... [--crontab FILE] [-- CMD ...] | --crontab FILE | -f Procfile)\n\nValidates the files and prints the resolved plan: start order and each\nservice's effective settings and the file:line it came from. With -- CMD,\nalso checks that the files can run with that main service (they may not\ndefine [service.main]). Exit 0 when valid, 2 when not.\n")
		return 0
	}
	if !services(o) {
		return usageError("check: give -c FILE|DIR, --crontab FILE or -f Procfile")
	}
	c, _, err := buildConfig(o, os.Environ(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tend: "+err.Error())
		return codeUsage
	}
	fmt.Print(c.Plan())
	for _, w := range supervise.LimitWarnings(c.Services) {
		fmt.Fprintln(os.Stderr, "tend: "+w)
	}
	for _, w := range logFileWarnings(c) {
		fmt.Fprintln(os.Stderr, "tend: "+w)
	}
	return 0
}

func logFormat(f string) logs.Format {
	if f == "json" {
		return logs.JSON
	}
	return logs.Text
}

func usageError(msg string) int {
	fmt.Fprintf(os.Stderr, "tend: %s\nsee 'tend --help'\n", msg)
	return codeUsage
}

// sessionLeader reports whether tend leads its session (docker run -it
// makes the container's first process one).
func sessionLeader() bool {
	sid, err := unix.Getsid(0)
	return err == nil && sid == os.Getpid()
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
