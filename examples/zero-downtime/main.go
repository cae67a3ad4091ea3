// Command zero-downtime is a small HTTP server written the way tend's
// zero-downtime restarts want a server to be, with nothing but the standard
// library (copy what you need):
//
//   - it takes its listening socket from tend (systemd's socket activation:
//     LISTEN_FDS, LISTEN_PID, fd 3), so the socket outlives every instance
//     and a connection made while no instance accepts waits in the backlog;
//     with no inherited socket it binds -addr itself;
//   - it says READY=1 on NOTIFY_SOCKET once it serves, so that tend (ready
//     = { notify = true }) stops the old instance only then;
//   - on SIGTERM it stops accepting, answers every connection it accepted
//     and exits 0 (not with http.Server.Shutdown alone, which closes a
//     connection whose request it reads after Shutdown began: see main).
//
// GET / answers "hello from pid N". -warmup is a start-up delay before it
// serves, as a real application's (caches, connections) would have.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to bind when tend passes no socket")
	warmup := flag.Duration("warmup", 0, "start-up work before serving")
	drain := flag.Duration("drain", 10*time.Second, "longest wait for requests under way at SIGTERM")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix(fmt.Sprintf("zero-downtime[%d]: ", os.Getpid()))

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)

	time.Sleep(*warmup)
	ln, how, err := listener(*addr)
	if err != nil {
		log.Fatal(err)
	}
	conns := &tracker{state: map[net.Conn]http.ConnState{}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "hello from pid %d\n", os.Getpid())
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         conns.set,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("serving on %s (%s)", ln.Addr(), how)
	if err := notify("READY=1\nSTATUS=serving on " + ln.Addr().String()); err != nil {
		log.Printf("cannot notify: %v", err)
	}

	select {
	case err := <-served:
		log.Fatal(err)
	case sig := <-term:
		log.Printf("%v: draining", sig)
		_ = notify("STOPPING=1")
		// Not srv.Shutdown at once: it drops a request read after it
		// began, so a connection this process accepted just before the
		// signal would be closed unanswered. Stop accepting instead (the
		// socket itself stays open in tend: new connections go to the
		// other instance), let Serve return (every accepted connection
		// is then tracked), and answer what was accepted, each answer
		// closing its connection.
		srv.SetKeepAlivesEnabled(false)
		ln.Close()
		<-served
		if !conns.drain(*drain) {
			log.Printf("drain: connections still open after %v", *drain)
		}
	}
}

// tracker knows the state of every connection the server accepted.
type tracker struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

func (t *tracker) set(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(t.state, c)
	} else {
		t.state[c] = st
	}
}

// drain waits until every accepted connection got its answer (with
// keep-alives off, a connection closes after its answer), closing idle
// ones, for at most d; it reports whether none is left.
func (t *tracker) drain(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		t.mu.Lock()
		for c, st := range t.state {
			if st == http.StateIdle {
				c.Close()
				delete(t.state, c)
			}
		}
		left := len(t.state)
		t.mu.Unlock()
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listener returns the socket tend passed (fd 3, when LISTEN_PID is this
// process and LISTEN_FDS at least 1), else one bound to addr. The
// variables are removed, so that a child of this server does not take them
// for its own (sd_listen_fds(1) does the same).
func listener(addr string) (net.Listener, string, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	names := os.Getenv("LISTEN_FDNAMES")
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(k)
	}
	if pid != os.Getpid() || n < 1 {
		ln, err := net.Listen("tcp", addr)
		return ln, "bound by itself", err
	}
	f := os.NewFile(3, strings.Split(names, ":")[0])
	ln, err := net.FileListener(f) // dups fd 3
	f.Close()
	if err != nil {
		return nil, "", fmt.Errorf("the inherited fd 3: %w", err)
	}
	return ln, "inherited from tend", nil
}

// notify sends state to the service manager's NOTIFY_SOCKET, if any (a
// path, or an abstract name written with a leading @).
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	} else if path[0] != '/' {
		return errors.New("NOTIFY_SOCKET is neither a path nor an abstract name")
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
