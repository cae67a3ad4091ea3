// Command tendbench measures tend side by side with tini, dumb-init,
// catatonit and supervisord and prints a Markdown table of medians and
// tend's ratio to each peer; with -out it also rewrites the generated part of
// that file (BENCHMARKS.md). Run it as root (PID namespaces). See
// bench/bench.mk: `make bench-compare`.
//
//	tendbench [-tend bin/tend] [-testprog PATH] [-gofloor bin/gofloor] [-out BENCHMARKS.md] [counts...]
//	tendbench stamp --file F [--run 50ms] [--code 1]   (helper: the crashing service)
//	tendbench oci -tend-runc PATH [-runs N] [-out BENCHMARKS.md]   (tend-runc vs runc)
//	tendbench cri -bins DIR -tend PATH -tend-nri PATH -testprog PATH -pause PATH [-rounds N] [-out BENCHMARKS.md]
//	                                                               (a pod's CRI lifecycle: runc, RuntimeClass, NRI)
//	tendbench usage -tend PATH -testprog PATH [-services 200] [-per-service 5] [-runs 30] [-out BENCHMARKS.md]
//	                                                               (tend status with usage vs ps -e, issue 21)
//	tendbench restart -tend PATH -server PATH [-restarts 10] [-out BENCHMARKS.md]
//	                                                               (restarts under traffic: start-first, stop-first, supervisord)
//	tendbench exec-runtime RUNTIME ARGS...   (helper: the Go floor of a runtime wrapper)
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tend-sh/tend/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "stamp" {
		stamp(os.Args[2:])
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "exec-runtime" {
		// The Go floor of a runtime wrapper: exec the runtime at once.
		err := syscall.Exec(os.Args[2], os.Args[2:], os.Environ())
		fmt.Fprintln(os.Stderr, "tendbench exec-runtime:", err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "cri" {
		cri(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "restart" {
		restart(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "oci" {
		oci(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "usage" {
		usage(os.Args[2:])
		return
	}
	d := bench.Defaults()
	fs := flag.NewFlagSet("tendbench", flag.ExitOnError)
	fs.StringVar(&d.Tend, "tend", "bin/tend", "tend binary")
	fs.StringVar(&d.Testprog, "testprog", "bin/testprog", "test/testprog binary")
	fs.StringVar(&d.GoFloor, "gofloor", "bin/gofloor", "bench/cmd/gofloor binary, the Go floor column (\"\": none)")
	out := fs.String("out", "", "also write the table into this file (between markers)")
	fs.IntVar(&d.StartupRuns, "startup-runs", d.StartupRuns, "startup runs per tool (round-robin)")
	fs.IntVar(&d.Rounds, "rounds", d.Rounds, "idle rounds (RSS, threads, wakeups)")
	fs.DurationVar(&d.Idle, "idle", d.Idle, "idle window")
	fs.IntVar(&d.TermRuns, "term-runs", d.TermRuns, "SIGTERM -> exit runs per tool")
	fs.IntVar(&d.Orphans, "orphans", d.Orphans, "orphans per run")
	fs.IntVar(&d.OrphanRuns, "orphan-runs", d.OrphanRuns, "orphan runs per tool")
	fs.IntVar(&d.ShellRuns, "shell-runs", d.ShellRuns, "shell-wrapper runs per tool")
	fs.DurationVar(&d.ShellDelay, "shell-delay", d.ShellDelay, "app cleanup time after SIGTERM")
	fs.IntVar(&d.SuperRuns, "super-runs", d.SuperRuns, "service start runs per supervisor")
	fs.IntVar(&d.Services, "services", d.Services, "services for the supervision rows")
	fs.IntVar(&d.Crashes, "crashes", d.Crashes, "crashes timed per supervisor")
	fs.DurationVar(&d.CrashRun, "crash-run", d.CrashRun, "lifetime of the crashing service")
	fs.IntVar(&d.LogLines, "log-lines", d.LogLines, "lines of the log-forwarding workloads")
	fs.IntVar(&d.LogRuns, "log-runs", d.LogRuns, "log-forwarding runs per tool and workload")
	fs.Func("variant", "NAME=PATH: also measure this tend build, as a column (repeatable)", func(v string) error {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH")
		}
		d.Variants = append(d.Variants, bench.Variant{Name: name, Path: path})
		return nil
	})
	sections := fs.String("sections", "", "comma-separated subset: startup,idle,term,orphans,shell,supervision,logs")
	fs.Parse(os.Args[1:])
	if *sections != "" {
		d.Sections = strings.Split(*sections, ",")
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tendbench:", err)
		os.Exit(1)
	}
	d.Stamp = []string{self, "stamp"}
	rep, err := bench.Run(d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tendbench:", err)
		os.Exit(1)
	}
	md := rep.Markdown("tendbench " + strings.Join(os.Args[1:], " "))
	publish(md, *out, bench.UpdateFile)
}

// stamp is the crashing service of the restart-latency row: it appends
// "s <unix ns>" as soon as it runs, lives --run, appends "c <unix ns>" and
// exits with --code.
func stamp(args []string) {
	now := time.Now().UnixNano()
	fs := flag.NewFlagSet("stamp", flag.ExitOnError)
	file := fs.String("file", "", "append stamps here")
	run := fs.Duration("run", 50*time.Millisecond, "how long to live")
	code := fs.Int("code", 1, "exit code")
	fs.Parse(args)
	f, err := os.OpenFile(*file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stamp:", err)
		os.Exit(2)
	}
	f.WriteString("s " + strconv.FormatInt(now, 10) + "\n")
	time.Sleep(*run)
	f.WriteString("c " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\n")
	os.Exit(*code)
}

// oci measures containers through tend-runc against plain runc
// (bench.RunOCI) and prints (and with -out writes) its table.
func oci(args []string) {
	var o bench.OCIOptions
	fs := flag.NewFlagSet("oci", flag.ExitOnError)
	fs.StringVar(&o.TendRunc, "tend-runc", "bin/tend-runc", "tend-runc (a symlink named tend-runc to tend)")
	fs.StringVar(&o.Runc, "runc", "", "the real runtime (default: runc from PATH)")
	fs.StringVar(&o.Busybox, "busybox", "/bin/busybox", "static busybox for the rootfs")
	fs.IntVar(&o.Runs, "runs", 100, "measured runs per column")
	out := fs.String("out", "", "also write the table into this file (between its markers)")
	fs.Parse(args)
	runc := o.Runc
	if runc == "" {
		runc, _ = exec.LookPath("runc")
	}
	if self, err := os.Executable(); err == nil && runc != "" {
		o.Floor = []string{self, "exec-runtime", runc}
	}
	o.Log = logf
	rep, err := bench.RunOCI(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tendbench oci:", err)
		os.Exit(1)
	}
	md := rep.Markdown("tendbench oci " + strings.Join(args, " "))
	publish(md, *out, bench.UpdateOCIFile)
}

// cri measures a pod's CRI lifecycle with plain runc, the tend
// RuntimeClass and tend-nri (bench.RunCRI) and prints (and with -out
// writes) its table.
func cri(args []string) {
	var o bench.CRIOptions
	fs := flag.NewFlagSet("cri", flag.ExitOnError)
	fs.StringVar(&o.Bins, "bins", "bin/cri", "directory of containerd, its runc shim, ctr and crictl (scripts/cri-bins)")
	fs.StringVar(&o.Tend, "tend", "bin/tend", "the tend binary")
	fs.StringVar(&o.TendRunc, "tend-runc", "bin/tend-runc", "tend-runc (a symlink named tend-runc to tend)")
	fs.StringVar(&o.TendNRI, "tend-nri", "bin/tend-nri", "the tend-nri binary")
	fs.StringVar(&o.Testprog, "testprog", "bin/testprog", "static test/testprog")
	fs.StringVar(&o.Pause, "pause", "bin/pod-pause", "static pause (test/cri/pause)")
	fs.IntVar(&o.Rounds, "rounds", 30, "measured rounds per column")
	out := fs.String("out", "", "also write the table into this file (between its markers)")
	fs.Parse(args)
	for _, p := range []*string{&o.Bins, &o.Tend, &o.TendRunc, &o.TendNRI, &o.Testprog, &o.Pause} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	o.Log = logf
	rep, err := bench.RunCRI(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tendbench cri:", err)
		os.Exit(1)
	}
	md := bench.CRIMarkdown(rep, "tendbench cri "+strings.Join(args, " "))
	publish(md, *out, bench.UpdateCRIFile)
}

// usage times `tend status` (every service's CPU and memory) against
// `ps -e` over the same processes (bench.RunUsage) and prints (and with
// -out writes) its table.
func usage(args []string) {
	var o bench.UsageOptions
	fs := flag.NewFlagSet("usage", flag.ExitOnError)
	fs.StringVar(&o.Tend, "tend", "bin/tend", "the tend binary")
	fs.StringVar(&o.Testprog, "testprog", "bin/testprog", "static test/testprog")
	fs.IntVar(&o.Services, "services", 200, "services")
	fs.IntVar(&o.PerService, "per-service", 5, "processes per service (a shell and its sleeps)")
	fs.IntVar(&o.Runs, "runs", 30, "measured runs per command")
	out := fs.String("out", "", "also write the table into this file (between its markers)")
	fs.Parse(args)
	for _, p := range []*string{&o.Tend, &o.Testprog} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	o.Log = logf
	rep, err := bench.RunUsage(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tendbench usage:", err)
		os.Exit(1)
	}
	md := rep.Markdown("tendbench usage " + strings.Join(args, " "))
	publish(md, *out, bench.UpdateUsageFile)
}

// restart measures restarts under traffic (bench.RunRestart) and prints
// (and with -out writes) its table.
func restart(args []string) {
	var o bench.RestartOptions
	fs := flag.NewFlagSet("restart", flag.ExitOnError)
	fs.StringVar(&o.Tend, "tend", "bin/tend", "the tend binary")
	fs.StringVar(&o.Server, "server", "bin/zero-downtime", "examples/zero-downtime, built")
	fs.IntVar(&o.Restarts, "restarts", 10, "restarts per column")
	fs.DurationVar(&o.Baseline, "baseline", 2*time.Second, "traffic before the first restart")
	fs.DurationVar(&o.Warmup, "warmup", 300*time.Millisecond, "the server's start-up work before it serves")
	cols := fs.String("columns", "", "a comma-separated subset of the columns, by number (1-4)")
	out := fs.String("out", "", "also write the table into this file (between its markers)")
	fs.Parse(args)
	for _, c := range strings.Split(*cols, ",") {
		if i, err := strconv.Atoi(c); err == nil && i >= 1 && i <= len(bench.RestartColumns) {
			o.Columns = append(o.Columns, bench.RestartColumns[i-1])
		} else if c != "" {
			fmt.Fprintf(os.Stderr, "tendbench restart: -columns: %q is not a column number 1-%d\n", c, len(bench.RestartColumns))
			os.Exit(2)
		}
	}
	o.Log = logf
	rep, err := bench.RunRestart(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tendbench restart:", err)
		os.Exit(1)
	}
	publish(rep.Markdown("tendbench restart "+strings.Join(args, " ")), *out, bench.UpdateRestartFile)
}

// publish prints a table and, with -out, writes it into that file through
// write (its block between the table's markers).
func publish(md, out string, write func(path, md string) error) {
	fmt.Print(md)
	if out == "" {
		return
	}
	if err := write(out, md); err != nil {
		fmt.Fprintln(os.Stderr, "tendbench:", err)
		os.Exit(1)
	}
}

// logf is the measurements' progress log, on stderr.
func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "tendbench: "+format+"\n", a...) }
