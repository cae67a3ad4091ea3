// Command pause is the CRI suite's pod sandbox process, a stand-in for
// Kubernetes' pause: it sleeps until SIGTERM or SIGINT (exit 0) and, as
// PID 1 of a pod that shares its process namespace, reaps every child.
// Built static into the FROM-scratch pause image as /pod-pause (a name no
// policy treats as an init: the sandbox must be recognised as a sandbox).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 16)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range c {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
