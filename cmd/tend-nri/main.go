// Command tend-nri is tend's NRI plugin: a node daemon that connects to the
// container runtime's NRI socket (containerd >= 2.2, CRI-O >= 1.34 for the
// args adjustment) and gives every container tend as PID 1 at its
// creation, with no runtime reconfiguration: a read-only bind mount of the
// tend binary at /dev/.tend/tend, args [/dev/.tend/tend, --, original
// args...], and the TEND_* variables from tend.sh/ annotations. The
// decisions are internal/inject's, the same as tend-runc's.
//
//	tend-nri --socket PATH --tend PATH [--index NN] [-v]
//
// It registers as "tend" with index NN (default 10), reconnects with a
// backoff when the runtime restarts, and exits 0 on SIGTERM or SIGINT.
// --tend defaults to the file tend beside tend-nri's own executable.
// Launched by the runtime itself (a symlink NN-tend in its NRI plugin
// directory: NRI_PLUGIN_SOCKET names an inherited connection, the index
// comes from the name), it takes no arguments, uses the defaults and exits
// when the connection closes: the runtime launches it again.
//
// Its own binary: NRI's dependencies (ttrpc, protobuf) are never linked
// into tend, the PID 1 of every container.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // a runtime-launched plugin could not connect
	exitUsage = 2
)

// Defaults of the command line.
const (
	defaultSocket = api.DefaultSocketPath // /var/run/nri/nri.sock
	defaultIndex  = "10"
	pluginName    = "tend"
)

// Reconnection backoff: the first retry after minBackoff, doubling to
// maxBackoff; a registration that held resets it.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

type options struct {
	socket, tend, index string
	verbose             bool
}

var indexRE = regexp.MustCompile(`^[0-9]{2}$`)

func parse(args []string, stderr io.Writer) (options, int, bool) {
	var o options
	fs := flag.NewFlagSet("tend-nri", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.socket, "socket", defaultSocket, "the runtime's NRI socket")
	fs.StringVar(&o.tend, "tend", defaultTend(), "host path of the tend binary to bind-mount at /dev/.tend/tend; default: tend beside tend-nri")
	fs.StringVar(&o.index, "index", defaultIndex, "the plugin's index NN (two digits): its place among NRI plugins")
	fs.BoolVar(&o.verbose, "v", false, "log each container's decision (debug)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tend-nri --socket PATH --tend PATH [--index NN] [-v]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, exitOK, false
		}
		return o, exitUsage, false
	}
	if *showVersion {
		fmt.Fprintln(os.Stdout, "tend-nri", version)
		return o, exitOK, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tend-nri: unexpected argument %q; usage: tend-nri --socket PATH --tend PATH [--index NN] [-v]\n", fs.Arg(0))
		return o, exitUsage, false
	}
	if !indexRE.MatchString(o.index) {
		fmt.Fprintf(stderr, "tend-nri: invalid --index %q; want two digits, 00-99\n", o.index)
		return o, exitUsage, false
	}
	fi, err := os.Stat(o.tend)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "tend-nri: --tend %s: %v; want the host path of the tend binary\n", o.tend, unwrap(err))
		return o, exitUsage, false
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		fmt.Fprintf(stderr, "tend-nri: --tend %s: not an executable file (mode %s)\n", o.tend, fi.Mode())
		return o, exitUsage, false
	}
	return o, 0, true
}

func run(args []string, stderr io.Writer) int {
	o, code, ok := parse(args, stderr)
	if !ok {
		return code
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, o, newPlugin(o.tend, log), log)
}

// serve registers the plugin and keeps it registered until ctx ends:
// whenever the connection is lost (the runtime restarted), it connects
// again after a backoff. Runtime-launched, it returns when the connection
// closes.
func serve(ctx context.Context, o options, p *plugin, log *slog.Logger) int {
	launched := os.Getenv(api.PluginSocketEnvVar) != ""
	backoff := minBackoff
	for {
		closed := make(chan struct{})
		var once sync.Once
		opts := []stub.Option{
			stub.WithPluginName(pluginName),
			stub.WithSocketPath(o.socket),
			stub.WithLogger(nriLogger{log}),
			stub.WithOnClose(func() { once.Do(func() { close(closed) }) }),
		}
		name := o.index + "-" + pluginName
		if idx := os.Getenv(api.PluginIdxEnvVar); idx != "" { // runtime-launched: the index is the file name's
			name = idx + "-" + pluginName
		} else {
			opts = append(opts, stub.WithPluginIdx(o.index))
		}
		s, err := stub.New(p, opts...)
		if err != nil {
			log.Error("cannot create the NRI plugin: " + err.Error())
			return exitError
		}
		started := make(chan error, 1)
		go func() { started <- s.Start(ctx) }()
		select {
		case <-ctx.Done():
			log.Info("stopping (signal) while registering")
			return exitOK // Start holds the stub's lock: nothing to stop cleanly
		case err = <-started:
		}
		if err == nil {
			log.Info("registered", "plugin", name, "socket", where(o.socket, launched), "runtime_nri", s.RuntimeNRIVersion())
			backoff = minBackoff
			select {
			case <-ctx.Done():
				s.Stop()
				log.Info("stopped (signal)")
				return exitOK
			case <-closed:
				log.Warn("connection to the runtime lost")
			}
		} else {
			log.Warn("cannot register with the runtime: "+err.Error(), "socket", where(o.socket, launched), "retry_in", backoff)
		}
		if launched {
			// The inherited connection is gone for good; the runtime
			// launches its plugins again when it starts.
			log.Info("runtime-launched: exiting")
			if err != nil {
				return exitError
			}
			return exitOK
		}
		select {
		case <-ctx.Done():
			log.Info("stopped (signal)")
			return exitOK
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// defaultTend is the file named tend in the directory of tend-nri's own
// executable (symlinks resolved): where a node install puts both, and what
// a runtime-launched tend-nri, which gets no arguments, uses.
func defaultTend() string {
	exe, err := os.Executable()
	if err != nil {
		return "tend"
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Join(filepath.Dir(exe), "tend")
}

func where(socket string, launched bool) string {
	if launched {
		return "inherited fd " + os.Getenv(api.PluginSocketEnvVar)
	}
	return socket
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// nriLogger routes the NRI stub's messages to tend-nri's log: its chatty
// Info at debug.
type nriLogger struct{ l *slog.Logger }

func (n nriLogger) Debugf(_ context.Context, f string, a ...any) {
	n.l.Debug("nri: " + fmt.Sprintf(f, a...))
}
func (n nriLogger) Infof(_ context.Context, f string, a ...any) {
	n.l.Debug("nri: " + fmt.Sprintf(f, a...))
}
func (n nriLogger) Warnf(_ context.Context, f string, a ...any) {
	n.l.Warn("nri: " + fmt.Sprintf(f, a...))
}
func (n nriLogger) Errorf(_ context.Context, f string, a ...any) {
	n.l.Error("nri: " + fmt.Sprintf(f, a...))
}
