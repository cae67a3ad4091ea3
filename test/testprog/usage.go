package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Workloads of a known footprint, for the usage figures of tend status:
//
//	touch-mem [--ready R] N      map N bytes (anonymous, private), write
//	                             every page, then sleep until SIGTERM/SIGINT
//	burn-cpu [--ready R] SECONDS spin on one thread until this process has
//	                             used SECONDS of CPU time (not wall time),
//	                             then sleep until SIGTERM/SIGINT
//
// --ready is written once the footprint is in place.
//
//	timecmd --wait W --runs N --out F -- CMD_A... ::: CMD_B...
//	                             wait for the file W, then run CMD_A and
//	                             CMD_B alternately, N times each after 3
//	                             warm-up runs, stdin and stdout on
//	                             /dev/null; write F: one "a NANOS" or
//	                             "b NANOS" line per run (wall time from
//	                             before the fork to after the wait), then
//	                             "end"; sleep until SIGTERM/SIGINT. Run
//	                             inside a PID namespace it times commands
//	                             that see that namespace's /proc (the
//	                             usage benchmark: tend status vs ps -e).

func touchMemCmd(args []string) int {
	fs := flag.NewFlagSet("touch-mem", flag.ExitOnError)
	readyPath := fs.String("ready", "", "file written once every page is touched")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fatalf("usage: testprog touch-mem [--ready R] BYTES")
	}
	n, err := strconv.Atoi(fs.Arg(0))
	if err != nil || n <= 0 {
		fatalf("touch-mem: bad size %q", fs.Arg(0))
	}
	// mmap rather than make: the Go heap would round and may give back.
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fatalf("touch-mem: mmap %d bytes: %v", n, err)
	}
	page := os.Getpagesize()
	for i := 0; i < n; i += page {
		mem[i] = 1
	}
	ready(*readyPath)
	waitStop()
	unix.Munmap(mem)
	return 0
}

func burnCPUCmd(args []string) int {
	fs := flag.NewFlagSet("burn-cpu", flag.ExitOnError)
	readyPath := fs.String("ready", "", "file written once the CPU time is spent")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fatalf("usage: testprog burn-cpu [--ready R] SECONDS")
	}
	sec, err := strconv.ParseFloat(fs.Arg(0), 64)
	if err != nil || sec < 0 {
		fatalf("burn-cpu: bad seconds %q", fs.Arg(0))
	}
	want := time.Duration(sec * float64(time.Second))
	x := uint64(1)
	for cpuTime() < want {
		for range 1 << 16 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 42 {
		os.Exit(3) // keeps the loop from being optimised away
	}
	ready(*readyPath)
	waitStop()
	return 0
}

// cpuTime is this process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitStop blocks until SIGTERM or SIGINT.
func waitStop() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}

func timecmdCmd(args []string) int {
	fs := flag.NewFlagSet("timecmd", flag.ExitOnError)
	wait := fs.String("wait", "", "start once this file exists")
	runs := fs.Int("runs", 30, "measured runs of each command")
	out := fs.String("out", "", "write the times here (required)")
	fs.Parse(args)
	rest := fs.Args()
	sep := slices.Index(rest, ":::")
	if *out == "" || sep < 1 || sep == len(rest)-1 {
		fatalf("usage: testprog timecmd --wait W --runs N --out F -- CMD_A... ::: CMD_B...")
	}
	cmds := [][]string{rest[:sep], rest[sep+1:]}
	for *wait != "" {
		if _, err := os.Stat(*wait); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var b strings.Builder
	for i := -3; i < *runs; i++ {
		for j, argv := range cmds {
			cmd := exec.Command(argv[0], argv[1:]...)
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				fatalf("timecmd: %v: %v", argv, err)
			}
			if i >= 0 {
				fmt.Fprintf(&b, "%c %d\n", 'a'+j, time.Since(t0).Nanoseconds())
			}
		}
	}
	b.WriteString("end\n")
	mustWrite(*out, b.String())
	waitStop()
	return 0
}
