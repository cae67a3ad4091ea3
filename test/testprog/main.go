// Command testprog is a static multi-call workload used by tend's end-to-end
// tests (and later inside FROM-scratch images). Usage:
//
//	testprog SUBCOMMAND [flags] [args]
//
// Subcommands:
//
//	trapterm   --file F [--delay 1s] [--ready R] [--check P]
//	           handle SIGTERM/SIGINT; on the signal sleep --delay, write F
//	           ("done SIGTERM", plus "check=yes|no" when --check P was given:
//	           whether P existed when the signal arrived, plus "count=N": how
//	           many SIGTERM/SIGINT arrived by the end of the cleanup), exit 0.
//	worker     same as trapterm, meant to be backgrounded by a shell.
//	daemon     --file F [--delay 1s] [--ready R] [--pidfile P]
//	           double-fork (re-exec), grandchild calls setsid() then acts
//	           like trapterm; the original and the middle exit 0 at once.
//	ignoreterm [--ready R]   ignore SIGTERM and SIGINT, sleep forever.
//	orphans    --count N [--fanout K] [--ready R]
//	           create N short-lived orphans, exit 0 when all were started.
//	sigprint   [--out F] [--ready R] [--stay] [--cont]
//	           print "got SIGxxx" for every signal (not URG/CHLD, nor CONT
//	           unless --cont: tend follows every stop signal with SIGCONT);
//	           exit 0 after printing SIGTERM (unless --stay).
//	pscheck    [--settle D]
//	           list the processes of this PID namespace and count zombies;
//	           with --settle wait (up to D) until only our ancestors are
//	           left and there is no zombie (exit 1 if that never happens).
//	id         print uid, gid, groups and HOME.
//	touch [--delay D] F   sleep D, then create F (atomically) with our pid.
//	waitfile [--timeout D] F   wait until F exists (exit 99 on timeout).
//	exit N     exit with code N.
//	killself SIG   kill ourselves with SIG (name or number).
//	sleep D    sleep for D (Go duration, plain seconds, or Nd days).
//	svc        --name N --log F [--ready R] [--check P] [--stop-delay D]
//	           [--exit N] [--wait W]
//	           append "start N PID UNIXNANO check=yes|no|-" to F (one
//	           O_APPEND write); with --exit, wait for W (if given) then exit
//	           N; else wait for SIGTERM/SIGINT, sleep --stop-delay, append
//	           "stop N PID UNIXNANO" and exit 0.
//	listen     --addr A [--delay D] [--file F]
//	           sleep D, listen on TCP address A, write the listen time
//	           (UNIXNANO) to F, accept and close connections until
//	           SIGTERM/SIGINT, exit 0.
//	spew       --rate N [--lines M] [--long-every K] [--long-size B]
//	           [--count-file F] [--linger D] [--partial]
//	           write lines "SEQ PAYLOAD" (SEQ from 1, PAYLOAD = SpewPayload)
//	           to stdout, one write each, N lines/s, at most M (0: no
//	           limit); every K-th line has a B-byte payload (else 40). On
//	           SIGTERM/SIGINT keep writing for D, then with --partial write
//	           "end SEQ" without a newline, then write F ("lines=SEQ" of
//	           the last full line written) and exit 0.
//	forkstorm  --duration D [--workers W] [--fanout K] [--count-file F]
//	           [--ready R] [--min N]
//	           for D, W goroutines each run "_orphan-mid K" in a loop (K
//	           orphans per round) as fast as they can (past D until N
//	           orphans were made, at most 60 s more); then write F
//	           ("orphans=N cpu_ns=C": C = our CPU time plus that of the
//	           middle processes we waited for) and wait for SIGTERM/SIGINT,
//	           exit 0.
//	flood      --mode tiny|sizes|nonl|badutf8|close [--ready R]
//	           write stdout as fast as possible until SIGTERM/SIGINT, then
//	           exit 0 at once (even while blocked in a write). tiny: "a"
//	           lines; sizes: "SEQ N PAYLOAD" lines, PAYLOAD = SpewPayload(SEQ,
//	           N), N cycling through FloodSizes (1 B .. 1 MiB); nonl: an
//	           endless line of SpewPayload(0, ...) bytes, never a newline;
//	           badutf8: "SEQ " + FloodBad lines; close: ten lines "closing I",
//	           then close stdout and stderr and keep running.
//	sigexec    [--block LIST] [--ignore LIST] -- PROG [ARGS]
//	           block the signals of LIST (comma-separated names or
//	           numbers) and set those of --ignore to SIG_IGN, then exec
//	           PROG: it starts with that mask and those dispositions, as
//	           from a parent that set them (a shell's trap '' SIG).
//	execas     --uid U --gid G [--nproc N] [--nofile N] -- PROG [ARGS]
//	           set RLIMIT_NPROC/RLIMIT_NOFILE (soft and hard), drop
//	           supplementary groups, setgid, setuid, exec PROG.
//	sdserve    [--file F] [--delay D] [--status S] [--watchdog D]
//	           [--no-ready] [--sockpath P]
//	           a socket-activated sd_notify server (sdnotify.go): reports
//	           LISTEN_PID/LISTEN_FDS/WATCHDOG_PID to F, says READY=1 with a
//	           real datagram, answers "hello PID" on fd 3.
//	sdsend     --path-file F MSG   send MSG to the notify socket named in F.
//	fakectl    --socket S [--log F] [--ready R]
//	           impersonate tend's control socket: listen on the unix socket
//	           S (mode 0666), answer every connection with
//	           {"v":1,"ok":true} and append what the client sent to F;
//	           until SIGTERM/SIGINT, exit 0.
//	touch-mem  [--ready R] BYTES    touch BYTES of memory, then wait for
//	           SIGTERM/SIGINT (usage.go).
//	burn-cpu   [--ready R] SECONDS  use SECONDS of CPU time, then wait for
//	           SIGTERM/SIGINT (usage.go).
//	timecmd    --wait W --runs N --out F -- A... ::: B...  time two commands
//	           alternately (usage.go).
//
// Every --ready file is written atomically once the process is fully set up
// and contains the process's pid (as seen in its own PID namespace).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/procfs"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: testprog SUBCOMMAND [args]")
	}
	sub, args := os.Args[1], os.Args[2:]
	switch sub {
	case "trapterm", "worker":
		os.Exit(trapterm(sub, args))
	case "daemon":
		os.Exit(daemon(args))
	case "alloc":
		os.Exit(alloc(args))
	case "_alloc-orphan":
		os.Exit(allocOrphan(args))
	case "_daemon-mid":
		os.Exit(daemonMid(args))
	case "_daemon-child":
		os.Exit(daemonChild(args))
	case "ignoreterm":
		os.Exit(ignoreterm(args))
	case "orphans":
		os.Exit(orphans(args))
	case "_orphan-mid":
		os.Exit(orphanMid(args))
	case "_orphan-leaf":
		os.Exit(0)
	case "sigprint":
		os.Exit(sigprint(args))
	case "pscheck":
		os.Exit(pscheck(args))
	case "id":
		os.Exit(idCmd(args))
	case "touch":
		fs := flag.NewFlagSet("touch", flag.ExitOnError)
		delay := fs.Duration("delay", 0, "sleep this long before writing")
		fs.Parse(args)
		if fs.NArg() != 1 {
			fatalf("usage: testprog touch [--delay D] FILE")
		}
		time.Sleep(*delay)
		mustWrite(fs.Arg(0), strconv.Itoa(os.Getpid())+"\n")
		os.Exit(0)
	case "waitfile":
		fs := flag.NewFlagSet("waitfile", flag.ExitOnError)
		timeout := fs.Duration("timeout", 10*time.Second, "give up (exit 1) after this long")
		fs.Parse(args)
		if fs.NArg() != 1 {
			fatalf("usage: testprog waitfile [--timeout D] FILE")
		}
		deadline := time.Now().Add(*timeout)
		for {
			if _, err := os.Stat(fs.Arg(0)); err == nil {
				os.Exit(0)
			}
			if time.Now().After(deadline) {
				fatalf("waitfile: %s did not appear within %v", fs.Arg(0), *timeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "exit":
		if len(args) != 1 {
			fatalf("usage: testprog exit N")
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			fatalf("exit: %v", err)
		}
		os.Exit(n)
	case "killself":
		if len(args) != 1 {
			fatalf("usage: testprog killself SIG")
		}
		os.Exit(killself(args[0]))
	case "sleep":
		if len(args) != 1 {
			fatalf("usage: testprog sleep DURATION")
		}
		d, err := parseDuration(args[0])
		if err != nil {
			fatalf("sleep: %v", err)
		}
		time.Sleep(d)
		os.Exit(0)
	case "svc":
		os.Exit(svcCmd(args))
	case "listen":
		os.Exit(listenCmd(args))
	case "spew":
		os.Exit(spewCmd(args))
	case "forkstorm":
		os.Exit(forkstormCmd(args))
	case "flood":
		os.Exit(floodCmd(args))
	case "execas":
		os.Exit(execasCmd(args))
	case "sdserve":
		os.Exit(sdserveCmd(args))
	case "sdsend":
		os.Exit(sdsendCmd(args))
	case "fakectl":
		os.Exit(fakectlCmd(args))
	case "sigexec":
		os.Exit(sigexecCmd(args))
	case "touch-mem":
		os.Exit(touchMemCmd(args))
	case "burn-cpu":
		os.Exit(burnCPUCmd(args))
	case "timecmd":
		os.Exit(timecmdCmd(args))
	default:
		fatalf("unknown subcommand %q", sub)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "testprog: "+format+"\n", a...)
	os.Exit(99)
}

// mustWrite writes content to path atomically (temp file + fsync + rename)
// so pollers never observe a half-written file.
func mustWrite(path, content string) {
	if err := writeAtomic(path, content); err != nil {
		fatalf("%v", err)
	}
}

func writeAtomic(path, content string) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func ready(path string) {
	if path != "" {
		mustWrite(path, strconv.Itoa(os.Getpid())+"\n")
	}
}

// parseDuration accepts Go durations ("1.5s"), plain seconds ("3", like
// sleep(1)) and whole days ("1d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

// parseSignal accepts "TERM", "SIGTERM", "sigterm" or "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("bad signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("bad signal %q", s)
}

func sigName(s os.Signal) string {
	if ss, ok := s.(syscall.Signal); ok {
		if n := unix.SignalName(ss); n != "" {
			return n
		}
		return fmt.Sprintf("SIG%d", int(ss))
	}
	return s.String()
}

type trapFlags struct {
	file, ready, check, pidfile string
	delay                       time.Duration
}

func parseTrap(name string, args []string, withPidfile bool) trapFlags {
	var f trapFlags
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&f.file, "file", "", "file written after cleanup (required)")
	fs.DurationVar(&f.delay, "delay", time.Second, "simulated cleanup time")
	fs.StringVar(&f.ready, "ready", "", "file written once the handler is installed")
	fs.StringVar(&f.check, "check", "", "record whether this file existed when the signal arrived")
	if withPidfile {
		fs.StringVar(&f.pidfile, "pidfile", "", "daemon writes its pid here")
	}
	fs.Parse(args)
	if f.file == "" {
		fatalf("%s: --file is required", name)
	}
	return f
}

// trapUntilSignal is the shared body of trapterm, worker and the daemon.
func trapUntilSignal(f trapFlags) int {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	ready(f.ready)
	sig := <-ch
	content := "done " + sigName(sig) + "\n"
	if f.check != "" {
		_, err := os.Stat(f.check)
		if err == nil {
			content += "check=yes\n"
		} else {
			content += "check=no\n"
		}
	}
	time.Sleep(f.delay)
	// Count how many stop signals arrived in total (tend must send each
	// process the stop signal only once unless it is itself signalled again).
	n := 1
	for more := true; more; {
		select {
		case <-ch:
			n++
		default:
			more = false
		}
	}
	content += fmt.Sprintf("count=%d\n", n)
	mustWrite(f.file, content)
	return 0
}

func trapterm(name string, args []string) int {
	return trapUntilSignal(parseTrap(name, args, false))
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		fatalf("os.Executable: %v", err)
	}
	return exe
}

// daemon: original -> _daemon-mid -> _daemon-child (setsid). The original
// waits only for the middle process, which exits right after starting the
// grandchild, so the grandchild is orphaned in its own session.
func daemon(args []string) int {
	parseTrap("daemon", args, true) // validate early, in the foreground
	cmd := exec.Command(self(), append([]string{"_daemon-mid"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("daemon: middle process: %v", err)
	}
	return 0
}

func daemonMid(args []string) int {
	cmd := exec.Command(self(), append([]string{"_daemon-child"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, os.Stderr
	if err := cmd.Start(); err != nil {
		fatalf("daemon: grandchild: %v", err)
	}
	return 0 // do not wait: orphan the grandchild
}

func daemonChild(args []string) int {
	f := parseTrap("daemon", args, true)
	if _, err := unix.Setsid(); err != nil {
		fatalf("daemon: setsid: %v", err)
	}
	if f.pidfile != "" {
		mustWrite(f.pidfile, strconv.Itoa(os.Getpid())+"\n")
	}
	return trapUntilSignal(f)
}

func ignoreterm(args []string) int {
	fs := flag.NewFlagSet("ignoreterm", flag.ExitOnError)
	readyPath := fs.String("ready", "", "file written once signals are ignored")
	fs.Parse(args)
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	ready(*readyPath)
	for {
		time.Sleep(time.Hour)
	}
}

// orphans starts count/fanout intermediates (a few at a time); each starts
// up to fanout leaves that exit at once, and exits itself without waiting,
// so every leaf ends up orphaned (possibly already a zombie).
func orphans(args []string) int {
	fs := flag.NewFlagSet("orphans", flag.ExitOnError)
	count := fs.Int("count", 100, "number of orphans")
	fanout := fs.Int("fanout", 50, "orphans per intermediate process")
	readyPath := fs.String("ready", "", "file written when all were started")
	fs.Parse(args)
	if *count < 0 || *fanout < 1 {
		fatalf("orphans: bad --count/--fanout")
	}
	exe := self()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var mu sync.Mutex
	var firstErr error
	for left := *count; left > 0; left -= *fanout {
		n := min(left, *fanout)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := exec.Command(exe, "_orphan-mid", strconv.Itoa(n))
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		fatalf("orphans: %v", firstErr)
	}
	ready(*readyPath)
	return 0
}

func orphanMid(args []string) int {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		fatalf("_orphan-mid: %v", err)
	}
	exe := self()
	for range n {
		p, err := os.StartProcess(exe, []string{exe, "_orphan-leaf"}, &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}})
		if err != nil {
			fatalf("_orphan-mid: %v", err)
		}
		p.Release()
	}
	return 0 // exit at once: the leaves are orphaned
}

func sigprint(args []string) int {
	fs := flag.NewFlagSet("sigprint", flag.ExitOnError)
	out := fs.String("out", "", "append lines to this file (fsynced) instead of stdout")
	readyPath := fs.String("ready", "", "file written once handlers are installed")
	stay := fs.Bool("stay", false, "do not exit on SIGTERM (print it and keep going)")
	cont := fs.Bool("cont", false, "print SIGCONT too")
	fs.Parse(args)
	w := os.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fatalf("sigprint: %v", err)
		}
		w = f
	}
	// SIGTERM has a channel of its own, served first: signal.Notify drops
	// what does not fit in a full channel, and under a storm of forwarded
	// signals a shared channel lost the SIGTERM (TestSignalStormTermDuring).
	term := make(chan os.Signal, 8)
	signal.Notify(term, syscall.SIGTERM)
	ch := make(chan os.Signal, 64)
	for s := syscall.Signal(1); s <= 64; s++ {
		if s != syscall.SIGTERM {
			signal.Notify(ch, s)
		}
	}
	ready(*readyPath)
	for {
		var sig os.Signal
		select {
		case sig = <-term:
		default:
			select {
			case sig = <-term:
			case sig = <-ch:
			}
		}
		if sig == syscall.SIGURG || sig == syscall.SIGCHLD || (sig == syscall.SIGCONT && !*cont) {
			continue
		}
		fmt.Fprintf(w, "got %s\n", sigName(sig))
		if *out != "" {
			w.Sync()
		}
		if sig == syscall.SIGTERM && !*stay {
			return 0
		}
	}
}

// pscheck prints "procs=N zombies=Z others=K" followed by one line per
// process ("pid ppid pgrp sid state comm"). "others" counts processes that
// are neither us nor our ancestors.
func pscheck(args []string) int {
	fs := flag.NewFlagSet("pscheck", flag.ExitOnError)
	settle := fs.Duration("settle", 0, "wait up to this long for others=0 zombies=0")
	fs.Parse(args)
	deadline := time.Now().Add(*settle)
	for {
		procs, err := procfs.List("/proc")
		if err != nil {
			fatalf("pscheck: %v", err)
		}
		mine := map[int]bool{os.Getpid(): true}
		for _, a := range procfs.Ancestors(procs, os.Getpid()) {
			mine[a] = true
		}
		zombies, others := 0, 0
		for _, p := range procs {
			if p.State == 'Z' {
				zombies++
			}
			if !mine[p.PID] {
				others++
			}
		}
		settled := zombies == 0 && others == 0
		if settled || *settle == 0 || time.Now().After(deadline) {
			fmt.Printf("procs=%d zombies=%d others=%d\n", len(procs), zombies, others)
			for i, p := range procs {
				if i >= 50 {
					fmt.Printf("... %d more\n", len(procs)-i)
					break
				}
				fmt.Printf("%d %d %d %d %c %s\n", p.PID, p.PPID, p.PGRP, p.SID, p.State, p.Comm)
			}
			if *settle > 0 && !settled {
				return 1
			}
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func idCmd(args []string) int {
	groups, err := os.Getgroups()
	if err != nil {
		fatalf("id: %v", err)
	}
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = strconv.Itoa(g)
	}
	fmt.Printf("uid=%d gid=%d euid=%d egid=%d groups=%s home=%s\n",
		os.Getuid(), os.Getgid(), os.Geteuid(), os.Getegid(), strings.Join(gs, ","), os.Getenv("HOME"))
	return 0
}

func killself(name string) int {
	sig, err := parseSignal(name)
	if err != nil {
		fatalf("killself: %v", err)
	}
	signal.Reset(sig)
	if err := unix.Kill(os.Getpid(), sig); err != nil {
		fatalf("killself: %v", err)
	}
	time.Sleep(5 * time.Second)
	fmt.Fprintf(os.Stderr, "testprog: killself %s: still alive\n", name)
	return 98
}

// appendRecord appends one line to path with a single O_APPEND write (and
// fsyncs it), so records of concurrent processes never interleave.
func appendRecord(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fatalf("%v", err)
	}
	if _, err := f.WriteString(line); err != nil {
		fatalf("%v", err)
	}
	f.Sync()
	f.Close()
}

func svcCmd(args []string) int {
	fs := flag.NewFlagSet("svc", flag.ExitOnError)
	name := fs.String("name", "", "name used in the records (required)")
	logPath := fs.String("log", "", "file the start/stop records are appended to (required)")
	readyPath := fs.String("ready", "", "file written once the handler is installed")
	check := fs.String("check", "", "record whether this file exists at start")
	stopDelay := fs.Duration("stop-delay", 0, "sleep this long after the stop signal")
	exitCode := fs.Int("exit", -1, "exit with this code right after the start record")
	wait := fs.String("wait", "", "with --exit: wait for this file first")
	fs.Parse(args)
	if *name == "" || *logPath == "" {
		fatalf("svc: --name and --log are required")
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	seen := "-"
	if *check != "" {
		seen = "no"
		if _, err := os.Stat(*check); err == nil {
			seen = "yes"
		}
	}
	appendRecord(*logPath, fmt.Sprintf("start %s %d %d check=%s\n", *name, os.Getpid(), time.Now().UnixNano(), seen))
	if *exitCode >= 0 {
		for *wait != "" {
			if _, err := os.Stat(*wait); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		return *exitCode
	}
	ready(*readyPath)
	<-ch
	time.Sleep(*stopDelay)
	appendRecord(*logPath, fmt.Sprintf("stop %s %d %d\n", *name, os.Getpid(), time.Now().UnixNano()))
	return 0
}

func listenCmd(args []string) int {
	fs := flag.NewFlagSet("listen", flag.ExitOnError)
	addr := fs.String("addr", "", "TCP address to listen on (required)")
	delay := fs.Duration("delay", 0, "sleep this long before listening")
	file := fs.String("file", "", "file the listen time (UNIXNANO) is written to, just before listening")
	fs.Parse(args)
	if *addr == "" {
		fatalf("listen: --addr is required")
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	time.Sleep(*delay)
	// The file is written just before listen(2): once the port accepts, a
	// ready probe may pass at once, and whoever it lets start must already
	// see the file.
	if *file != "" {
		mustWrite(*file, strconv.FormatInt(time.Now().UnixNano(), 10)+"\n")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatalf("listen: %v", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	<-ch
	ln.Close()
	return 0
}

func fakectlCmd(args []string) int {
	fs := flag.NewFlagSet("fakectl", flag.ExitOnError)
	sock := fs.String("socket", "", "unix socket path (required)")
	logf := fs.String("log", "", "append what clients send to this file")
	readyf := fs.String("ready", "", "ready file")
	fs.Parse(args)
	if *sock == "" {
		fatalf("fakectl: --socket is required")
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		fatalf("fakectl: %v", err)
	}
	os.Chmod(*sock, 0o666)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Write([]byte(`{"v":1,"ok":true}` + "\n"))
				b := make([]byte, 4096)
				n, _ := c.Read(b)
				if *logf != "" && n > 0 {
					if f, err := os.OpenFile(*logf, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666); err == nil {
						f.Write(b[:n])
						f.Close()
					}
				}
			}()
		}
	}()
	if *readyf != "" {
		ready(*readyf)
	}
	<-ch
	ln.Close()
	return 0
}

// SpewPayload is the payload of spew's line seq: n bytes cycling through
// a-z, starting at letter seq%26.
func SpewPayload(seq uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (seq+uint64(i))%26)
	}
	return b
}

func spewCmd(args []string) int {
	fs := flag.NewFlagSet("spew", flag.ExitOnError)
	rate := fs.Int("rate", 1000, "lines per second")
	lines := fs.Uint64("lines", 0, "stop writing after this many lines (0: no limit)")
	longEvery := fs.Uint64("long-every", 0, "every K-th line is long (0: none)")
	longSize := fs.Int("long-size", 8192, "payload size of the long lines")
	countFile := fs.String("count-file", "", "file the number of lines written goes to at exit")
	linger := fs.Duration("linger", 0, "keep writing this long after the stop signal")
	partial := fs.Bool("partial", false, "end with a line without a newline")
	fs.Parse(args)
	if *rate <= 0 {
		fatalf("spew: --rate must be > 0")
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	var seq uint64
	write := func(target uint64) {
		for seq < target && (*lines == 0 || seq < *lines) {
			n := 40
			if *longEvery > 0 && (seq+1)%*longEvery == 0 {
				n = *longSize
			}
			line := append(strconv.AppendUint(nil, seq+1, 10), ' ')
			line = append(append(line, SpewPayload(seq+1, n)...), '\n')
			if _, err := os.Stdout.Write(line); err != nil {
				fatalf("spew: %v", err)
			}
			seq++
		}
	}
	begin := time.Now()
	target := func() uint64 { return uint64(time.Since(begin).Seconds() * float64(*rate)) }
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var stopAt time.Time
	for {
		select {
		case <-ch:
			if stopAt.IsZero() {
				stopAt = time.Now().Add(*linger)
			}
		case <-tick.C:
		}
		write(target())
		if !stopAt.IsZero() && !time.Now().Before(stopAt) {
			break
		}
	}
	if *partial {
		if _, err := fmt.Fprintf(os.Stdout, "end %d", seq); err != nil {
			fatalf("spew: %v", err)
		}
	}
	if *countFile != "" {
		mustWrite(*countFile, fmt.Sprintf("lines=%d\n", seq))
	}
	return 0
}

// forkstormCmd: see the package documentation.
func forkstormCmd(args []string) int {
	fs := flag.NewFlagSet("forkstorm", flag.ExitOnError)
	duration := fs.Duration("duration", time.Second, "how long to create orphans")
	workers := fs.Int("workers", 4, "concurrent middle processes")
	fanout := fs.Int("fanout", 20, "orphans per middle process")
	countFile := fs.String("count-file", "", "file the totals go to")
	readyPath := fs.String("ready", "", "file written once the storm is over")
	minimum := fs.Int("min", 0, "go on past --duration until this many orphans were made (at most 60 s more): a starved storm still happens")
	fs.Parse(args)
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	exe := self()
	deadline := time.Now().Add(*duration)
	hardEnd := deadline.Add(60 * time.Second)
	var mu sync.Mutex
	var total, failures int
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := time.Now()
				mu.Lock()
				enough := total >= *minimum
				mu.Unlock()
				if !now.Before(hardEnd) || (!now.Before(deadline) && enough) {
					break
				}
				cmd := exec.Command(exe, "_orphan-mid", strconv.Itoa(*fanout))
				cmd.Stderr = os.Stderr
				err := cmd.Run()
				mu.Lock()
				if err != nil {
					failures++
				} else {
					total += *fanout
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var self, kids unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &self)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	cpu := self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano()
	if *countFile != "" {
		mustWrite(*countFile, fmt.Sprintf("orphans=%d failures=%d cpu_ns=%d\n", total, failures, cpu))
	}
	ready(*readyPath)
	<-ch
	return 0
}

// FloodSizes are the payload sizes of "flood --mode sizes", in turn.
var FloodSizes = []int{1, 2, 10, 100, 4095, 4096, 4097, 65535, 65536, 65537, 200000, 1 << 20}

// FloodBad is the invalid UTF-8 payload of "flood --mode badutf8".
const FloodBad = "\xff\xfe bad \xc3\x28 \xa0\xa1 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 end"

// floodCmd: see the package documentation.
func floodCmd(args []string) int {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	mode := fs.String("mode", "sizes", "tiny|sizes|nonl|badutf8|close")
	readyPath := fs.String("ready", "", "file written once set up")
	fs.Parse(args)
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	write := func(b []byte) {
		if _, err := os.Stdout.Write(b); err != nil {
			os.Exit(3)
		}
	}
	var body func()
	switch *mode {
	case "tiny":
		buf := []byte("a\n")
		body = func() {
			for {
				write(buf)
			}
		}
	case "sizes":
		body = func() {
			for seq := uint64(1); ; seq++ {
				n := FloodSizes[(seq-1)%uint64(len(FloodSizes))]
				line := fmt.Appendf(nil, "%d %d ", seq, n)
				line = append(append(line, SpewPayload(seq, n)...), '\n')
				write(line)
			}
		}
	case "nonl":
		body = func() {
			const chunk = 8192
			for off := uint64(0); ; off += chunk {
				write(SpewPayload(off, chunk))
			}
		}
	case "badutf8":
		body = func() {
			for seq := uint64(1); ; seq++ {
				write(fmt.Appendf(nil, "%d %s\n", seq, FloodBad))
			}
		}
	case "close":
		body = func() {
			for i := 1; i <= 10; i++ {
				write(fmt.Appendf(nil, "closing %d\n", i))
			}
			unix.Close(1)
			unix.Close(2)
			select {}
		}
	default:
		fatalf("flood: unknown --mode %q", *mode)
	}
	ready(*readyPath)
	go body()
	<-ch
	os.Exit(0)
	return 0
}

// execasCmd: see the package documentation.
func execasCmd(args []string) int {
	fs := flag.NewFlagSet("execas", flag.ExitOnError)
	uid := fs.Int("uid", -1, "user id")
	gid := fs.Int("gid", -1, "group id")
	nproc := fs.Uint64("nproc", 0, "RLIMIT_NPROC (0: unchanged)")
	nofile := fs.Uint64("nofile", 0, "RLIMIT_NOFILE (0: unchanged)")
	fs.Parse(args)
	if *uid < 0 || *gid < 0 || fs.NArg() == 0 {
		fatalf("usage: testprog execas --uid U --gid G [--nproc N] [--nofile N] -- PROG [ARGS]")
	}
	if *nproc > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: *nproc, Max: *nproc}); err != nil {
			fatalf("execas: RLIMIT_NPROC: %v", err)
		}
	}
	if *nofile > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: *nofile, Max: *nofile}); err != nil {
			fatalf("execas: RLIMIT_NOFILE: %v", err)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		fatalf("execas: setgroups: %v", err)
	}
	if err := syscall.Setgid(*gid); err != nil {
		fatalf("execas: setgid: %v", err)
	}
	if err := syscall.Setuid(*uid); err != nil {
		fatalf("execas: setuid: %v", err)
	}
	prog, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		fatalf("execas: %v", err)
	}
	err = syscall.Exec(prog, fs.Args(), os.Environ())
	fatalf("execas: exec %s: %v", prog, err)
	return 99
}

// sigexecCmd blocks and ignores signals, then execs the rest of the
// command line. The exec runs on the thread whose mask was set, so the new
// program starts with exactly that mask.
func sigexecCmd(args []string) int {
	fs := flag.NewFlagSet("sigexec", flag.ExitOnError)
	block := fs.String("block", "", "signals to block")
	ignore := fs.String("ignore", "", "signals to set to SIG_IGN")
	fs.Parse(args)
	if fs.NArg() == 0 {
		fatalf("usage: testprog sigexec [--block LIST] [--ignore LIST] -- PROG [ARGS]")
	}
	parse := func(list string) []unix.Signal {
		var out []unix.Signal
		for _, f := range strings.Split(list, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, unix.Signal(n))
				continue
			}
			sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(f), "SIG"))
			if sig == 0 {
				fatalf("sigexec: unknown signal %q", f)
			}
			out = append(out, sig)
		}
		return out
	}
	runtime.LockOSThread()
	for _, sig := range parse(*ignore) {
		// struct kernel_sigaction { handler; flags; restorer; mask }
		act := struct {
			handler  uintptr
			flags    uint64
			restorer uintptr
			mask     uint64
		}{handler: 1} // SIG_IGN
		if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); errno != 0 {
			fatalf("sigexec: ignore %v: %v", sig, errno)
		}
	}
	var set unix.Sigset_t
	for _, sig := range parse(*block) {
		set.Val[(sig-1)/64] |= 1 << ((uint(sig) - 1) % 64)
	}
	// Raw, so that the runtime does not put back what it unblocks.
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0); errno != 0 {
		fatalf("sigexec: block: %v", errno)
	}
	prog, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		fatalf("sigexec: %v", err)
	}
	err = syscall.Exec(prog, fs.Args(), os.Environ())
	fatalf("sigexec: exec %s: %v", prog, err)
	return 99
}
