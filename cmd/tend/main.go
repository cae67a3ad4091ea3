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
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/control"
	"github.com/tend-sh/tend/internal/httpapi"
	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/opts"
	"github.com/tend-sh/tend/internal/shellwords"
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
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
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
	case len(o.Command) == 0 && o.Config == "" && o.Procfile == "":
		return usageError("no command given")
	}
	level := tendlog.LevelFor(o.Verbose)
	log := tendlog.New(os.Stderr, level)

	env := os.Environ()
	var cred *syscall.Credential
	if o.User != "" {
		if cred, env, err = supervise.Identity(o.User, env); err != nil {
			log.Error("--user: " + err.Error())
			return codeUsage
		}
	}
	cfg := supervise.Config{
		Grace:     o.Grace,
		ToChild:   o.Forward == opts.ForwardChild,
		Rewrite:   o.Rewrite,
		RemapExit: o.RemapExit,
		Hold:      o.Hold,
		Terminal:  isTerminal(0) && spawn.ControllingTerminal(0),
		Log:       log,
	}
	if o.PreStop != "" {
		argv, err := shellwords.Split(o.PreStop)
		if err == nil && len(argv) == 0 {
			err = errors.New("empty command")
		}
		if err != nil {
			return usageError(fmt.Sprintf("invalid --pre-stop %q: %v", o.PreStop, err))
		}
		// The pre-stop runs in the container's context, as the main does,
		// but in a session of its own: signals to the main group skip it.
		cfg.PreStop = &spawn.Spec{Argv: argv, Env: env, Cred: cred, Files: []uintptr{0, 1, 2}}
	}

	var mux *logs.Mux
	if o.Config != "" || o.Procfile != "" {
		c, err := load(o)
		if err != nil {
			log.Error(err.Error())
			return codeUsage
		}
		svcs, err := supervise.FromConfig(c, env)
		if err != nil {
			log.Error(err.Error())
			return codeUsage
		}
		if len(o.Command) > 0 {
			svcs = append(svcs, supervise.Main(o.Command, env, cred, supervise.Names(svcs)))
		}
		mux = logs.New(logs.Options{Format: logFormat(c.LogFormat), Timestamps: c.LogTimestamps, Width: supervise.NameWidth(svcs)})
		cfg.Logs = mux
		if !o.GraceSet {
			cfg.Grace = c.Grace
		}
		cfg.AnyExitStops = o.Procfile != ""
		cfg.Services = svcs
		cfg.Reload = func() (*supervise.Reloaded, error) {
			c, err := load(o)
			if err != nil {
				return nil, err
			}
			svcs, err := supervise.FromConfig(c, env)
			if err != nil {
				return nil, err
			}
			grace := c.Grace
			if o.GraceSet {
				grace = o.Grace
			}
			return &supervise.Reloaded{Services: svcs, Grace: grace}, nil
		}
	} else {
		cfg.Services = []*supervise.Service{supervise.Main(o.Command, env, cred, nil)}
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
	sup := supervise.New(cfg)
	var web *httpapi.Server
	if o.HTTP != "" {
		if _, err := httpapi.ListenAddr(o.HTTP); err != nil {
			return usageError(err.Error())
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
				src = control.MuxLogs(mux)
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

// drainDeadline is how long tend drains output at exit: until the end of
// the grace, and at least logDrain after now.
func drainDeadline(graceEnd, now time.Time) time.Time {
	if floor := now.Add(logDrain); graceEnd.Before(floor) {
		return floor
	}
	return graceEnd
}

// load reads the config file or Procfile named by the options.
func load(o opts.Options) (*config.Config, error) {
	if o.Procfile != "" {
		return config.LoadProcfile(o.Procfile, os.LookupEnv)
	}
	return config.Load(o.Config, os.LookupEnv)
}

// check implements `tend check -c FILE` / `tend check -f Procfile`: validate
// and print the resolved plan.
func check(args []string) int {
	o, err := opts.Parse(args, os.LookupEnv)
	if err != nil {
		return usageError("check: " + err.Error())
	}
	if o.Help {
		fmt.Print("Usage: tend check (-c FILE | -f Procfile)\n\nValidates the file and prints the resolved plan: start order and each\nservice's effective settings. Exit 0 when valid, 2 when not.\n")
		return 0
	}
	if o.Config == "" && o.Procfile == "" {
		return usageError("check: give -c FILE or -f Procfile")
	}
	c, err := load(o)
	if err == nil {
		_, err = supervise.FromConfig(c, os.Environ())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tend: "+err.Error())
		return codeUsage
	}
	fmt.Print(c.Plan())
	return 0
}

func logFormat(f string) logs.Format {
	if f == "json" {
		return logs.JSON
	}
	return logs.Text
}

func usageError(msg string) int {
	fmt.Fprintf(os.Stderr, "tend: %s\n\n%s", msg, opts.Usage())
	return codeUsage
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
