package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/control"
	"github.com/tend-sh/tend/internal/status"
)

// listenServer is listen returning the server and its host:port.
func listenServer(t *testing.T, b control.Backend, log *slog.Logger) (*Server, string) {
	t.Helper()
	s, err := Listen("127.0.0.1:0", b, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Addr().String()
}

// raw sends req as is on a new connection and returns all the server
// sends until it closes the connection.
func raw(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%q: %v (read %q)", req, err, b)
	}
	return string(b)
}

// parseResponse splits a response into its status line, headers (names
// as sent) and body, checking the framing.
func parseResponse(t *testing.T, resp string) (status string, hdr map[string]string, body string) {
	t.Helper()
	head, body, ok := strings.Cut(resp, "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of head in %q", resp)
	}
	lines := strings.Split(head, "\r\n")
	hdr = map[string]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		if _, dup := hdr[k]; dup {
			t.Errorf("header %s twice", k)
		}
		hdr[k] = v
	}
	if hdr["Connection"] != "close" {
		t.Errorf("Connection %q", hdr["Connection"])
	}
	if hdr["Content-Type"] == "" {
		t.Error("no Content-Type")
	}
	return lines[0], hdr, body
}

func TestRawRequests(t *testing.T) {
	_, addr := listenServer(t, newFake(), nil)
	tests := []struct {
		name, req, status, body string
	}{
		{"ok", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"http/1.0", "GET /healthz HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"http/1.0 head", "HEAD /healthz HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", ""},
		{"bare LF", "GET /healthz HTTP/1.1\nHost: x\n\n", "HTTP/1.1 200 OK", "ok\n"},
		{"leading blank lines", "\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"absolute form", "GET http://example/healthz HTTP/1.1\r\nHost: example\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"escaped path", "GET /heal%74hz HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"header without space", "GET /healthz HTTP/1.1\r\nHost:x\r\nX-Empty:\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"content-length 0", "GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK", "ok\n"},
		{"status query", "GET /status?name=nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found", "unknown service \"nope\"\n"},
		{"status bad escape", "GET /status?name=%ZZ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed query string: invalid URL escape \"%ZZ\" (want name=value pairs joined by &, with %XX escapes)\n"},
		{"status bad escape in key", "GET /status?na%zme=web HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"status semicolon", "GET /status?name=web;name=db HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"status truncated escape", "GET /status?name=web% HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"healthz bad query", "GET /healthz?x=%ZZ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"metrics bad query", "GET /metrics?%ZZ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"not found", "GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found", "404 page not found\n"},
		{"options star", "OPTIONS * HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found", ""},
		{"post", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed", "Method Not Allowed\n"},
		{"no version", "GET /healthz\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"double space", "GET  /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"trailing space", "GET /healthz HTTP/1.1 \r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"bad method", "G(T /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"relative target", "GET healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"control in target", "GET /heal\x01thz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"bad escape", "GET /%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"lower-case version", "GET /healthz http/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"http/2", "GET /healthz HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported", ""},
		{"http/0.9", "GET /healthz\r\n", "HTTP/1.1 400 Bad Request", ""}, // then EOF
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"header without colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"space before colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"obs-fold", "GET /healthz HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"bare CR", "GET /healthz HTTP/1.1\r\nX: a\rb\r\n\r\n", "HTTP/1.1 400 Bad Request", ""},
		{"incomplete then EOF", "GET /healthz HTTP/1.1\r\nHost: x\r\n", "HTTP/1.1 400 Bad Request", "incomplete request head\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.req)
			if !strings.HasSuffix(tt.req, "\n\n") {
				c.(*net.TCPConn).CloseWrite() // an incomplete head: say it ends there
			}
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("%v (read %q)", err, b)
			}
			status, hdr, body := parseResponse(t, string(b))
			if status != tt.status {
				t.Errorf("%q: status %q, want %q", tt.req, status, tt.status)
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if strings.HasPrefix(tt.req, "HEAD") && body != "" {
				t.Errorf("HEAD answered with body %q", body)
			}
			if cl := hdr["Content-Length"]; !strings.HasPrefix(tt.req, "HEAD") && cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s, body %d bytes", cl, len(body))
			}
			if strings.Contains(status, " 405 ") && hdr["Allow"] != "GET, HEAD" {
				t.Errorf("405 with Allow %q", hdr["Allow"])
			}
		})
	}
}

func TestOversizedHead(t *testing.T) {
	_, addr := listenServer(t, newFake(), nil)
	big := "GET /healthz HTTP/1.1\r\nX-Big: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n"
	if status, _, _ := parseResponse(t, raw(t, addr, big)); status != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Errorf("status %q", status)
	}
	// A request line alone longer than the limit.
	long := "GET /" + strings.Repeat("a", maxHeadBytes) + " HTTP/1.1\r\n\r\n"
	if status, _, _ := parseResponse(t, raw(t, addr, long)); status != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Errorf("status %q", status)
	}
	// Just within the limit.
	req := "GET /healthz HTTP/1.1\r\nX-Big: "
	req += strings.Repeat("a", maxHeadBytes-len(req)-4) + "\r\n\r\n"
	if len(req) != maxHeadBytes {
		t.Fatal(len(req))
	}
	if status, _, body := parseResponse(t, raw(t, addr, req)); status != "HTTP/1.1 200 OK" || body != "ok\n" {
		t.Errorf("status %q body %q", status, body)
	}
}

func setTimeouts(t *testing.T, head, linger time.Duration) {
	oh, ol := headTimeout, lingerTimeout
	headTimeout, lingerTimeout = head, linger
	t.Cleanup(func() { headTimeout, lingerTimeout = oh, ol })
}

func TestSlowClientCut(t *testing.T) {
	setTimeouts(t, 200*time.Millisecond, lingerTimeout)
	_, addr := listenServer(t, newFake(), nil)

	// Part of a head, then nothing: 408, then the connection is closed.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A hang guard: a connection never cut fails ReadAll at this deadline.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("cut after %v, before the 200ms head deadline", el)
	}
	if status, _, _ := parseResponse(t, string(b)); status != "HTTP/1.1 408 Request Timeout" {
		t.Errorf("status %q", status)
	}

	// A byte at a time, each in time, but the whole head too late: the
	// deadline is for the head, not for each read.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	var sent atomic.Bool
	go func() {
		for _, ch := range []byte("GET /healthz HTTP/1.1\r\n\r\n") {
			if _, err := c2.Write([]byte{ch}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		sent.Store(true)
	}()
	b, _ = io.ReadAll(c2)
	if sent.Load() || !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
		t.Errorf("trickled head: sent all %v, got %q", sent.Load(), b)
	}

	// Nothing at all: closed without a word.
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c3); err != nil || len(b) != 0 {
		t.Errorf("idle connection: %q, %v", b, err)
	}

	// Still serving.
	if status, _, _ := parseResponse(t, raw(t, addr, "GET /healthz HTTP/1.1\r\n\r\n")); status != "HTTP/1.1 200 OK" {
		t.Errorf("status %q", status)
	}
}

func TestRequestBody(t *testing.T) {
	_, addr := listenServer(t, newFake(), nil)
	tests := []struct{ name, req, status string }{
		{"get with body", "GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 400 Bad Request"},
		{"chunked", "GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"post with body", "POST /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 405 Method Not Allowed"},
		{"bad length", "GET /healthz HTTP/1.1\r\nContent-Length: five\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"signed length", "GET /healthz HTTP/1.1\r\nContent-Length: +0\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"two lengths", "GET /healthz HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\nx", "HTTP/1.1 400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, _ := parseResponse(t, raw(t, addr, tt.req)); status != tt.status {
				t.Errorf("status %q, want %q", status, tt.status)
			}
		})
	}
	// A large body the server does not read: the client still gets the
	// answer (no reset before it has read it).
	for i := range 20 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", bytes.NewReader(make([]byte, 32<<10)))
		resp, err := client.Do(req)
		if err != nil {
			// The client may fail writing the body the server never reads;
			// what matters is that it usually gets the status.
			t.Logf("%d: %v", i, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET with a body: %d", resp.StatusCode)
		}
	}
}

// waitConns waits until s serves n connections.
func waitConns(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		s.mu.Lock()
		got := len(s.conns)
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections served, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// dialN opens n connections that send nothing.
func dialN(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

// At the connection limit, a new connection takes the place of the one
// that has waited longest for its request head; only when every
// connection has sent its request is a new one closed unanswered.
func TestConnectionLimit(t *testing.T) {
	setTimeouts(t, 10*time.Second, 5*time.Second) // busy connections linger
	oi := idleTimeout
	idleTimeout = 10 * time.Second // only eviction closes idle peers here
	t.Cleanup(func() { idleTimeout = oi })
	s, addr := listenServer(t, newFake(), nil)
	const limit = 8
	s.mu.Lock()
	s.maxConns = limit
	s.mu.Unlock()
	idle := dialN(t, addr, limit)
	waitConns(t, s, limit)
	// A probe at the limit is answered; the oldest idle peer is closed.
	for i := range 3 {
		if i > 0 { // back to the limit
			idle = append(idle, dialN(t, addr, 1)...)
			waitConns(t, s, limit)
		}
		if status, _, _ := parseResponse(t, raw(t, addr, "GET /healthz HTTP/1.1\r\n\r\n")); status != "HTTP/1.1 200 OK" {
			t.Fatalf("probe %d at the limit: %q", i, status)
		}
		idle[i].SetDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(idle[i]); len(b) != 0 || (err != nil && !isReset(err)) {
			t.Errorf("evicted idle peer %d: %q, %v", i, b, err)
		}
	}
	// The younger idle ones are still served when they speak.
	last := idle[len(idle)-1]
	io.WriteString(last, "GET /healthz HTTP/1.1\r\n\r\n")
	last.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(last); !strings.HasPrefix(string(b), "HTTP/1.1 200 ") {
		t.Errorf("idle connection got %q", b)
	}
	for _, c := range idle {
		c.Close()
	}
	waitConns(t, s, 0)

	// Every connection has sent its request (and lingers, draining a body
	// it was refused): a new one is closed without an answer.
	busy := dialN(t, addr, limit)
	for _, c := range busy {
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nContent-Length: 100\r\n\r\nxx")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		n, w := len(s.conns), s.waiting.Len()
		s.mu.Unlock()
		if n == limit && w == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, %d waiting; want %d busy", n, w, limit)
		}
	}
	c := dialN(t, addr, 1)[0]
	c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.1\r\n\r\n")
	if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err)) {
		t.Errorf("over the limit of busy connections: %q, %v", b, err)
	}
	for _, c := range busy {
		c.Close()
	}
	waitConns(t, s, 0)
	if status, _, _ := parseResponse(t, raw(t, addr, "GET /healthz HTTP/1.1\r\n\r\n")); status != "HTTP/1.1 200 OK" {
		t.Errorf("after: %q", status)
	}
}

// An idle connection is closed after idleTimeout, long before the head
// deadline; one that has started its head gets the whole head deadline.
func TestIdleFirstByte(t *testing.T) {
	oi := idleTimeout
	idleTimeout = 200 * time.Millisecond
	t.Cleanup(func() { idleTimeout = oi })
	// The head deadline (30 s) is far from the idle one (200 ms): the
	// bound (15 s) sits between them with room for a loaded machine.
	setTimeouts(t, 30*time.Second, lingerTimeout)
	_, addr := listenServer(t, newFake(), nil)
	c := dialN(t, addr, 1)[0]
	c.SetDeadline(time.Now().Add(60 * time.Second))
	t0 := time.Now()
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("idle: %q", b)
	}
	if el := time.Since(t0); el > 15*time.Second {
		t.Errorf("idle connection closed after %v, want about %v (the head deadline is 30s)", el, idleTimeout)
	}
	c = dialN(t, addr, 1)[0]
	c.SetDeadline(time.Now().Add(60 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.1\r\n")
	time.Sleep(500 * time.Millisecond) // past idleTimeout, within headTimeout
	io.WriteString(c, "Host: x\r\n\r\n")
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "HTTP/1.1 200 ") {
		t.Errorf("started head: %q", b)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// Many clients at once, more than the limit: each gets a whole answer or
// a closed connection, never a broken one, and the server serves on.
func TestManyConcurrentClients(t *testing.T) {
	s, addr := listenServer(t, newFake(), nil)
	const limit = 64
	s.mu.Lock()
	s.maxConns = limit
	s.mu.Unlock()
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 4 * limit {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			path := []string{"/metrics", "/readyz", "/healthz", "/status"}[i%4]
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			b, err := io.ReadAll(c)
			switch {
			case len(b) == 0 && (err == nil || isReset(err)):
				refused.Add(1)
			case err != nil:
				t.Errorf("%s: %v after %q", path, err, b)
			default:
				status, hdr, body := parseResponse(t, string(b))
				if status != "HTTP/1.1 200 OK" && status != "HTTP/1.1 503 Service Unavailable" {
					t.Errorf("%s: %q", path, status)
				}
				if hdr["Content-Length"] != strconv.Itoa(len(body)) {
					t.Errorf("%s: Content-Length %s, body %d bytes", path, hdr["Content-Length"], len(body))
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d answered, %d closed at the limit", ok.Load(), refused.Load())
	if ok.Load() < limit {
		t.Errorf("only %d answered", ok.Load())
	}
	waitConns(t, s, 0)
}

func TestShutdownWaits(t *testing.T) {
	s, addr := listenServer(t, newFake(), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitConns(t, s, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a request in progress: %v", err)
	}
	// The request in progress is still answered.
	io.WriteString(c, "GET /healthz HTTP/1.1\r\n\r\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "HTTP/1.1 200 ") {
		t.Errorf("got %q", b)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := s.Shutdown(ctx2); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// TestCloseEndsConnections: Close ends an idle connection instead of
// waiting for its deadlines, which the test sets far past the bound (with
// the 2 s idle deadline a Close that waited returned within the old 3 s
// bound, and the test passed).
func TestCloseEndsConnections(t *testing.T) {
	oi := idleTimeout
	idleTimeout = 2 * time.Minute
	t.Cleanup(func() { idleTimeout = oi })
	setTimeouts(t, 2*time.Minute, lingerTimeout)
	s, err := Listen("127.0.0.1:0", newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitConns(t, s, 1)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second): // a hang guard: Close takes microseconds, a wait 2 minutes
		t.Fatal("Close waited for an idle connection")
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("got %q", b)
	}
}

type panicky struct{ *fake }

func (panicky) Status([]string) ([]status.ServiceStatus, error) { panic("boom") }

func TestHandlerPanic(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	_, addr := listenServer(t, panicky{newFake()}, log)
	if b := raw(t, addr, "GET /metrics HTTP/1.1\r\n\r\n"); b != "" {
		t.Errorf("got %q", b)
	}
	// The server lives on.
	if status, _, _ := parseResponse(t, raw(t, addr, "GET /healthz HTTP/1.1\r\n\r\n")); status != "HTTP/1.1 200 OK" {
		t.Errorf("after a panic: %q", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "boom") {
		t.Errorf("panic not logged: %q", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestParseHead(t *testing.T) {
	r, err := parseHead([]byte("GET /status?name=a&name=b%20c HTTP/1.0\r\nHost: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.method != "GET" || r.path != "/status" || r.minor != 0 || r.hasBody ||
		strings.Join(r.query["name"], ",") != "a,b c" {
		t.Errorf("%+v", r)
	}
}

func TestHeadEndIncremental(t *testing.T) {
	for _, head := range []string{
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\n\n",
		"\r\n\nGET / HTTP/1.1\r\nA: b\n\r\n",
	} {
		b := []byte(head + "rest")
		want := len(head)
		if got := headEnd(b, 0); got != want {
			t.Errorf("headEnd(%q) = %d, want %d", b, got, want)
		}
		// Fed a byte at a time.
		got := -1
		for n := 1; n <= len(b) && got < 0; n++ {
			got = headEnd(b[:n], n-1)
		}
		if got != want {
			t.Errorf("headEnd(%q) byte by byte = %d, want %d", b, got, want)
		}
	}
}
