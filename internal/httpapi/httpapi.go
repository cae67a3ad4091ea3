// Package httpapi is tend's optional HTTP endpoint (--http ADDR) for
// Kubernetes probes and Prometheus:
//
//	GET /healthz  200 "ok" while tend runs; 503 once it is shutting down
//	GET /readyz   200 "ok" when every service is ready (oneshots: done);
//	              503 naming those that are not, or while shutting down
//	GET /status   the JSON of "tend status --json" (?name=web&name=db to
//	              select; 404 for an unknown name; 400 for an empty
//	              name or another parameter)
//	GET /metrics  Prometheus text exposition (see writeMetrics)
//
// HEAD works wherever GET does; other methods get 405, other paths 404.
// A query string that does not parse (a bad %-escape such as ?name=%ZZ, a
// ";" separator) gets 400 on every path: it is never silently ignored.
// The server is a minimal HTTP/1.1 one on package net (see server.go):
// one request per connection, "Connection: close", no request bodies.
// A bare ":PORT" binds 127.0.0.1 only: to be reachable from outside the
// container (kubelet HTTP probes, Prometheus) the address must be given
// explicitly, e.g. "0.0.0.0:9090".
//
// It reads the services' status (internal/status records, written by the
// supervisor through control.Backend) and decides nothing about it: /readyz
// is status.NotReady, the supervisor's own "ready".
package httpapi

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tend-sh/tend/internal/control"

	"github.com/tend-sh/tend/internal/safe"
	"github.com/tend-sh/tend/internal/status"
)

// Server is a running HTTP endpoint.
//
// It serves up to 1024 connections at once. Probes must be answered even
// while idle peers (connections that never send a request, or send it a
// byte at a time) try to use up that budget: a connection gets 2 s for its
// first byte and 5 s for its whole head, and when the budget is full a new
// connection takes the place of the oldest one still waiting for its head,
// which is closed. Only when every connection has sent its request is a
// new one refused. An idle connection costs a goroutine and a 1 KiB
// buffer; the head buffer grows to 16 KiB only as a client sends it.
type Server struct {
	ln       net.Listener
	b        control.Backend
	log      *slog.Logger
	done     chan struct{} // closed when the accept loop has returned
	maxConns int

	closeLn sync.Once
	lnErr   error
	mu      sync.Mutex
	conns   map[net.Conn]*conn
	waiting list.List      // of *conn still reading their head, oldest first
	serving sync.WaitGroup // connections being served
	closing bool
}

// conn is a connection being served.
type conn struct {
	c    net.Conn
	wait *list.Element // in Server.waiting while the head is being read
}

// ListenAddr returns the address Listen binds for addr: ":PORT" becomes
// "127.0.0.1:PORT"; anything else must be HOST:PORT and is kept.
func ListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http %q: want :PORT (loopback) or HOST:PORT, e.g. 0.0.0.0:9090", addr)
	}
	if port == "" {
		return "", fmt.Errorf("--http %q: missing port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Listen binds addr (see ListenAddr) and serves in the background until
// Close or Shutdown. log may be nil.
func Listen(addr string, b control.Backend, log *slog.Logger) (*Server, error) {
	a, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	return Serve(ln, b, log), nil
}

// Serve serves the API over b on ln, a listener of one's own, in the
// background until Close or Shutdown (which close ln). log may be nil.
func Serve(ln net.Listener, b control.Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		ln: ln, b: b, log: log, done: make(chan struct{}),
		maxConns: defaultConns,
		conns:    map[net.Conn]*conn{},
	}
	safe.Go("http server", func() {
		defer close(s.done)
		s.acceptLoop()
	})
	return s
}

func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosing() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait a little and go on.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("http: accept: " + err.Error() + "; retrying in " + backoff.String())
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		cc, ok := s.track(c)
		switch {
		case ok:
			go s.serve(cc)
		case s.isClosing():
			c.Close()
			return
		default:
			s.log.Debug("http: too many connections; closing one", "remote", c.RemoteAddr().String())
			c.Close()
		}
	}
}

// track records c as being served, unless the server is closing or every
// one of maxConns connections being served has sent its request already.
// When the budget is full, the connection waiting longest for its request
// head makes room: it is closed (its goroutine then finishes on its own).
func (s *Server) track(c net.Conn) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	if len(s.conns) >= s.maxConns {
		oldest := s.waiting.Front()
		if oldest == nil {
			return nil, false
		}
		victim := oldest.Value.(*conn)
		s.waiting.Remove(oldest)
		victim.wait = nil
		delete(s.conns, victim.c)
		victim.c.Close()
	}
	cc := &conn{c: c}
	cc.wait = s.waiting.PushBack(cc)
	s.conns[c] = cc
	s.serving.Add(1)
	return cc, true
}

// headDone takes cc off the waiting list: it may no longer be evicted.
func (s *Server) headDone(cc *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc.wait != nil {
		s.waiting.Remove(cc.wait)
		cc.wait = nil
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// serve answers one request on c and closes it. A panic while answering
// is logged and costs only that connection, as it did with net/http: one
// bad scrape must not take the container down.
func (s *Server) serve(cc *conn) {
	c := cc.c
	defer func() {
		if v := recover(); v != nil {
			s.log.Error(fmt.Sprintf("http: panic serving %v: %v\n%s", c.RemoteAddr(), v, debug.Stack()))
		}
		c.Close()
		s.mu.Lock()
		if cc.wait != nil {
			s.waiting.Remove(cc.wait)
			cc.wait = nil
		}
		if s.conns[c] == cc {
			delete(s.conns, c)
		}
		s.mu.Unlock()
		s.serving.Done()
	}()
	h := handler{s.b}
	serveConn(c, h.route, func() { s.headDone(cc) })
}

// stop closes the listener and marks the server closing.
func (s *Server) stop() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.closeLn.Do(func() { s.lnErr = s.ln.Close() })
	return s.lnErr
}

// Addr returns the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server at once, closing every connection.
func (s *Server) Close() error {
	err := s.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-s.done
	s.serving.Wait()
	return err
}

// Shutdown stops accepting and waits for requests in progress, until ctx
// is done (then it returns ctx's error; Close ends them).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.stop()
	idle := make(chan struct{})
	go func() {
		<-s.done
		s.serving.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handler answers requests from a backend.
type handler struct{ b control.Backend }

// route answers r: 404 for an unknown path, 405 for a method other than
// GET or HEAD.
func (h handler) route(r *request) response {
	var f func(*request) response
	switch r.path {
	case "/healthz":
		f = h.healthz
	case "/readyz":
		f = h.readyz
	case "/status":
		f = h.status
	case "/metrics":
		f = h.metrics
	default:
		return plain(404, "404 page not found\n")
	}
	if r.method != "GET" && r.method != "HEAD" {
		resp := plain(405, "Method Not Allowed\n")
		resp.allow = "GET, HEAD"
		return resp
	}
	return f(r)
}

func text(code int, body string) response {
	r := plain(code, body)
	r.noStore = true
	return r
}

func (h handler) healthz(*request) response {
	if h.b.ShuttingDown() {
		return text(503, "shutting down\n")
	}
	return text(200, "ok\n")
}

func (h handler) readyz(*request) response {
	if h.b.ShuttingDown() {
		return text(503, "shutting down\n")
	}
	ss, err := h.b.Status(nil)
	if err != nil {
		return text(503, "error: "+err.Error()+"\n")
	}
	if nr := status.NotReady(ss); len(nr) > 0 {
		return text(503, "not ready: "+strings.Join(nr, ", ")+"\n")
	}
	return text(200, "ok\n")
}

func (h handler) status(r *request) response {
	for k := range r.query {
		if k != "name" {
			return text(400, fmt.Sprintf("unknown query parameter %q (/status takes only name=SERVICE, repeatable)\n", k))
		}
	}
	names := r.query["name"]
	if slices.Contains(names, "") {
		return text(400, "empty service name in name= (want /status?name=SERVICE)\n")
	}
	ss, tot, err := control.StatusWithUsage(h.b, names)
	if err != nil {
		code := 500
		if errors.Is(err, control.ErrUnknownService) {
			code = 404
		}
		return text(code, err.Error()+"\n")
	}
	var buf bytes.Buffer
	if err := control.WriteStatusJSON(&buf, status.Report{ShuttingDown: h.b.ShuttingDown(), Services: ss, Totals: tot}); err != nil {
		return text(500, err.Error()+"\n")
	}
	return response{code: 200, contentType: "application/json", body: buf.Bytes(), noStore: true}
}

func (h handler) metrics(*request) response {
	ss, tot, err := control.StatusWithUsage(h.b, nil)
	if err != nil {
		return text(500, err.Error()+"\n")
	}
	orphans, forwarded := h.b.Counters()
	var buf bytes.Buffer
	writeMetrics(&buf, ss, orphans, forwarded)
	writeUsageMetrics(&buf, ss, tot)
	return response{code: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: buf.Bytes(), noStore: true}
}
