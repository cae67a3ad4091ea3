package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sdnotify sends msg to $NOTIFY_SOCKET as sd_notify(3) does: one
// datagram; the kernel attaches our credentials.
func sdnotify(msg string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return fmt.Errorf("no NOTIFY_SOCKET")
	}
	return sendDatagram(addr, msg)
}

func sendDatagram(addr, msg string) error {
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrUnix{Name: addr})
}

// sdserveCmd is a socket-activated, sd_notify-speaking server:
//
//	sdserve [--file F] [--delay D] [--status S] [--watchdog D] [--no-ready]
//	        [--sockpath P]
//
// It checks LISTEN_PID == its pid and LISTEN_FDS/LISTEN_FDNAMES, writes
// "listen_pid=ok|BAD(V) fds=N names=A:B notify=PATH watchdog_usec=U
// watchdog_pid=ok|BAD(V)|-" to F (atomically), writes its NOTIFY_SOCKET to P,
// sleeps D, sends "READY=1\nSTATUS=S" (unless --no-ready), then sends
// WATCHDOG=1 every --watchdog (0: never) and answers every connection on
// fd 3 (a stream socket) with "hello PID\n"; until SIGTERM/SIGINT, exit 0.
func sdserveCmd(args []string) int {
	fs := flag.NewFlagSet("sdserve", flag.ExitOnError)
	file := fs.String("file", "", "report file")
	delay := fs.Duration("delay", 0, "sleep this long before READY=1")
	status := fs.String("status", "serving", "STATUS= sent with READY=1")
	watchdog := fs.Duration("watchdog", 0, "send WATCHDOG=1 this often (0: never)")
	noReady := fs.Bool("no-ready", false, "never send READY=1")
	sockpath := fs.String("sockpath", "", "write NOTIFY_SOCKET's value to this file")
	fs.Parse(args)
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	pid := strconv.Itoa(os.Getpid())
	check := func(k string) string {
		v, ok := os.LookupEnv(k)
		switch {
		case !ok:
			return "-"
		case v == pid:
			return "ok"
		}
		return "BAD(" + v + ")"
	}
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if *file != "" {
		mustWrite(*file, fmt.Sprintf("listen_pid=%s fds=%d names=%s notify=%s watchdog_usec=%s watchdog_pid=%s\n",
			check("LISTEN_PID"), n, os.Getenv("LISTEN_FDNAMES"), os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), check("WATCHDOG_PID")))
	}
	if *sockpath != "" {
		mustWrite(*sockpath, os.Getenv("NOTIFY_SOCKET"))
	}
	if check("LISTEN_PID") == "ok" && n >= 1 {
		ln, err := net.FileListener(os.NewFile(3, "listen"))
		if err == nil {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					fmt.Fprintf(c, "hello %s\n", pid)
					c.Close()
				}
			}()
		}
	}
	time.Sleep(*delay)
	if !*noReady {
		if err := sdnotify("READY=1\nSTATUS=" + *status); err != nil {
			fatalf("sdserve: %v", err)
		}
	}
	if *watchdog > 0 {
		go func() {
			for range time.Tick(*watchdog) {
				sdnotify("WATCHDOG=1")
			}
		}()
	}
	<-ch
	return 0
}

// sdsendCmd sends one message to a notify socket named in a file:
//
//	sdsend --path-file F MSG
//
// waits (up to 30 s) for F, sends MSG ("\n" written as "\\n") to the path
// in it, then writes "sent" to F.sent and sleeps until SIGTERM/SIGINT.
func sdsendCmd(args []string) int {
	fs := flag.NewFlagSet("sdsend", flag.ExitOnError)
	pathFile := fs.String("path-file", "", "file holding the socket's path (required)")
	fs.Parse(args)
	if *pathFile == "" || fs.NArg() != 1 {
		fatalf("sdsend: usage: sdsend --path-file F MSG")
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	var path []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(*pathFile)
		if err == nil && len(b) > 0 {
			path = b
			break
		}
		if time.Now().After(deadline) {
			fatalf("sdsend: no %s", *pathFile)
		}
	}
	if err := sendDatagram(string(path), strings.ReplaceAll(fs.Arg(0), `\n`, "\n")); err != nil {
		fatalf("sdsend: %v", err)
	}
	mustWrite(*pathFile+".sent", "sent\n")
	<-ch
	return 0
}
