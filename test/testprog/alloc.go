package main

import (
	"flag"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// alloc [-orphan] [-pidfile F] BYTES: allocates BYTES of memory and touches
// every page of it (so it is resident and charged to the cgroup), then
// writes "allocated" to stdout and sleeps until killed. Past a cgroup's
// memory limit the kernel's OOM killer ends it (SIGKILL).
//
// With -orphan it starts a copy of itself in a new session and exits 0 at
// once; the copy waits until it has been re-parented (to tend) before it
// allocates, so that it dies as an orphan. -pidfile writes the pid (as
// this namespace numbers it) of the process that allocates, before it
// allocates.
func alloc(args []string) int {
	fs := flag.NewFlagSet("alloc", flag.ExitOnError)
	orphan := fs.Bool("orphan", false, "allocate in an orphaned copy")
	pidfile := fs.String("pidfile", "", "write the allocating process's pid here")
	delay := fs.Duration("delay", 0, "sleep this long before allocating")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fatalf("usage: alloc [-orphan] [-pidfile F] [-delay D] BYTES")
	}
	n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || n < 0 {
		fatalf("alloc: bad size %q", fs.Arg(0))
	}
	if *orphan {
		cmd := exec.Command("/proc/self/exe", "_alloc-orphan", strconv.Itoa(os.Getpid()), *pidfile, delay.String(), fs.Arg(0))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fatalf("alloc: %v", err)
		}
		return 0
	}
	return allocate(n, *pidfile, *delay)
}

// allocOrphan is the orphaned copy: PARENT PIDFILE DELAY BYTES.
func allocOrphan(args []string) int {
	if len(args) != 4 {
		fatalf("usage: _alloc-orphan PARENT PIDFILE DELAY BYTES")
	}
	parent, _ := strconv.Atoi(args[0])
	delay, _ := time.ParseDuration(args[2])
	n, _ := strconv.ParseInt(args[3], 10, 64)
	for os.Getppid() == parent {
		time.Sleep(5 * time.Millisecond)
	}
	return allocate(n, args[1], delay)
}

func allocate(n int64, pidfile string, delay time.Duration) int {
	if pidfile != "" {
		mustWrite(pidfile, strconv.Itoa(os.Getpid())+"\n")
	}
	time.Sleep(delay)
	if n > 0 {
		// mmap rather than make: the Go heap's own accounting plays no part,
		// and every page is touched at once.
		mem, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			fatalf("alloc: mmap %d bytes: %v", n, err)
		}
		for i := 0; i < len(mem); i += 4096 {
			mem[i] = 1
		}
	}
	os.Stdout.WriteString("allocated\n")
	for {
		time.Sleep(time.Hour)
	}
}
