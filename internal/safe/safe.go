// Package safe keeps a panic in one of tend's goroutines from killing tend.
//
// tend is PID 1: if it dies, the kernel kills the whole container. Every
// goroutine tend starts runs through Go (or defers Recover), which
// recovers a panic and hands it, with its stack, to the handler the
// supervisor installed; the supervisor logs it and turns it into an
// orderly shutdown that still forwards signals, waits and reaps.
package safe

import (
	"os"
	"runtime/debug"
	"sync/atomic"
)

// Handler receives a recovered panic: where it happened, the value and the
// stack.
type Handler func(where string, v any, stack []byte)

var handler atomic.Pointer[Handler]

// SetHandler installs h for every later panic.
func SetHandler(h Handler) { handler.Store(&h) }

// Recover, deferred at the top of a goroutine, recovers a panic and reports
// it. It must be called directly by the deferred statement.
func Recover(where string) {
	if v := recover(); v != nil {
		report(where, v)
	}
}

// Go runs f in a new goroutine under Recover.
func Go(where string, f func()) {
	go func() {
		defer Recover(where)
		f()
	}()
}

// Run calls f and reports a panic instead of propagating it; it reports
// whether f returned normally.
func Run(where string, f func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			report(where, v)
			ok = false
		}
	}()
	f()
	return true
}

func report(where string, v any) {
	stack := debug.Stack()
	if h := handler.Load(); h != nil {
		(*h)(where, v, stack)
		return
	}
	_, _ = os.Stderr.Write([]byte("tend: internal error (panic) in " + where + "\n" + string(stack)))
}
