// Command gofloor is the Go floor of the start-up comparison: the least a
// static Go program can do to run a child as an init would — fork+exec
// argv[1:] with tend's stdio, wait for it, exit with its code. No signal
// handling, no reaping of orphans: it is not an init, only the cost of the
// Go runtime plus one fork, for tendbench's "go floor" column (built by
// `make bench-compare` with tend's flags).
package main

import (
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	pid, err := syscall.ForkExec(os.Args[1], os.Args[1:], &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		os.Exit(127)
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	os.Exit(ws.ExitStatus())
}
