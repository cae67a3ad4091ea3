package httpget

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a test server that records the requests it gets.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rec *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("no request received")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func newServer(t *testing.T) (*httptest.Server, *recorder) {
	rec := &recorder{}
	mux := http.NewServeMux()
	record := func(r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.mu.Unlock()
	}
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { record(r); io.WriteString(w, "ok\n") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Error(w, "not yet", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.Write(make([]byte, 1<<20)) // more than Get reads
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { record(r) })
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { record(r) })
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, rec
}

func TestGet(t *testing.T) {
	s, rec := newServer(t)
	tests := []struct {
		path string
		code int
	}{
		{"/ok", 200},
		{"/down", 503},
		{"/moved", 302}, // not followed: a probe fails on it
		{"/nope", 404},
		{"/big", 200},
	}
	for _, tt := range tests {
		code, err := Get(5*time.Second, s.URL+tt.path)
		if err != nil || code != tt.code {
			t.Errorf("GET %s: %d, %v; want %d", tt.path, code, err, tt.code)
		}
	}
	r := rec.last(t)
	if r.Method != "GET" || r.Proto != "HTTP/1.1" || r.UserAgent() != "tend" || !r.Close ||
		r.Host != strings.TrimPrefix(s.URL, "http://") {
		t.Errorf("request: %s %s host %q UA %q close %v", r.Method, r.Proto, r.Host, r.UserAgent(), r.Close)
	}
}

func TestPathAndQuery(t *testing.T) {
	s, rec := newServer(t)
	code, err := Get(5*time.Second, s.URL+"/echo?name=web&name=d%20b&x=%2F#frag")
	if err != nil || code != 200 {
		t.Fatal(code, err)
	}
	r := rec.last(t)
	if r.RequestURI != "/echo?name=web&name=d%20b&x=%2F" {
		t.Errorf("request target %q", r.RequestURI)
	}
	if got := r.URL.Query()["name"]; len(got) != 2 || got[1] != "d b" {
		t.Errorf("query %q", got)
	}
	// No path: "/".
	if _, err := Get(5*time.Second, s.URL); err != nil {
		t.Fatal(err)
	}
	if r := rec.last(t); r.RequestURI != "/" {
		t.Errorf("request target %q", r.RequestURI)
	}
	// User information becomes basic authentication.
	u := strings.Replace(s.URL, "http://", "http://probe:s%3Acret@", 1) + "/echo"
	if _, err := Get(5*time.Second, u); err != nil {
		t.Fatal(err)
	}
	if user, pass, ok := rec.last(t).BasicAuth(); !ok || user != "probe" || pass != "s:cret" {
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
}

func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	rec := &recorder{}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.mu.Unlock()
		w.WriteHeader(204)
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://[::1]:") {
		t.Fatal(s.URL)
	}
	code, err := Get(5*time.Second, s.URL+"/x")
	if err != nil || code != 204 {
		t.Fatal(code, err)
	}
	if r := rec.last(t); r.Host != strings.TrimPrefix(s.URL, "http://") {
		t.Errorf("Host %q", r.Host)
	}
}

func TestDefaultPort(t *testing.T) {
	addr, req, err := request("http://example.com/healthz")
	if err != nil || addr != "example.com:80" || !strings.Contains(req, "\r\nHost: example.com\r\n") {
		t.Errorf("%q %q %v", addr, req, err)
	}
	addr, req, err = request("http://[fe80::1%25eth0]:8080/")
	if err != nil || addr != "[fe80::1%eth0]:8080" || !strings.Contains(req, "\r\nHost: [fe80::1]:8080\r\n") {
		t.Errorf("%q %q %v", addr, req, err)
	}
	addr, _, err = request("http://[::1]/")
	if err != nil || addr != "[::1]:80" {
		t.Errorf("%q %v", addr, err)
	}
}

func TestTimeout(t *testing.T) {
	// Accepts and reads, never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns sync.WaitGroup
	defer conns.Wait()
	conns.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	})
	start := time.Now()
	code, err := Get(300*time.Millisecond, "http://"+ln.Addr().String()+"/")
	el := time.Since(start)
	if err == nil || code != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%d, %v", code, err)
	}
	// The lower bound is the promise; the upper one only guards a hang.
	if el < 250*time.Millisecond || el > 30*time.Second {
		t.Errorf("took %v", el)
	}
	t.Log(err)
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, err := Get(5*time.Second, "http://"+addr+"/")
	if err == nil || code != 0 || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), addr) {
		t.Errorf("%d, %v", code, err)
	}
}

func TestBadURLs(t *testing.T) {
	for _, tt := range []struct{ url, err string }{
		{"https://127.0.0.1/healthz", "https probes are not supported; use exec with a client such as curl or wget"},
		{"ftp://x/", "not an http:// URL"},
		{"localhost/healthz", "not an http:// URL"},
		{"http:///x", "no host"},
		{"http://x/%zz", "invalid URL escape"},
	} {
		code, err := Get(time.Second, tt.url)
		if err == nil || code != 0 || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %d, %v; want %q", tt.url, code, err, tt.err)
		}
	}
	if _, err := Get(time.Second, "https://x/"); !errors.Is(err, ErrHTTPS) {
		t.Errorf("https: %v", err)
	}
}

// rawServer answers every connection with resp (after reading the
// request head) and closes it.
func rawServer(t *testing.T, resp string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == "\r\n" {
					break
				}
			}
			io.WriteString(c, resp)
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

func TestRawResponses(t *testing.T) {
	for _, tt := range []struct {
		resp string
		code int
		err  string
	}{
		{"HTTP/1.1 200 OK\r\n", 200, ""}, // closed right after the status line
		{"HTTP/1.1 200 OK", 200, ""},     // ... without its line end
		{"HTTP/1.0 204 No Content\r\n\r\n", 204, ""},
		{"HTTP/1.1 503\r\n\r\n", 503, ""}, // no reason phrase
		{"HTTP/1.1 200 \r\n\r\n", 200, ""},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 200, ""},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, ""},
		{"", 0, "unexpected EOF"},
		{"HTTP/1.1 100 Continue\r\n", 0, "unexpected EOF"},
		{"SSH-2.0-OpenSSH_9.6\r\n", 0, "malformed status line"},
		{"HTTP/2 200\r\n\r\n", 0, "malformed status line"},
		{"HTTP/1.1 2000 OK\r\n\r\n", 0, "malformed status line"},
		{"HTTP/1.1 20x OK\r\n\r\n", 0, "malformed status line"},
		{"HTTP/1.1 099 X\r\n\r\n", 0, "malformed status line"},
	} {
		url := rawServer(t, tt.resp)
		code, err := Get(5*time.Second, url)
		if code != tt.code || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: %d, %v; want %d, %q", tt.resp, code, err, tt.code, tt.err)
		}
	}
}

func TestContextCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns sync.WaitGroup
	defer conns.Wait()
	conns.Go(func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = GetContext(ctx, "http://"+ln.Addr().String()+"/")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v", err)
	}
}

// The point of this package and of internal/httpapi's server: tend links
// neither net/http nor crypto/tls.
func TestTendLinksNoNetHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	// go test runs this, so the go command is there: not finding it or
	// go list failing is a failure, not a reason to check nothing.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list cmd/tend's dependencies: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/tend-sh/tend/cmd/tend").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/tend-sh/tend/internal/httpget") {
		t.Fatalf("go list -deps of cmd/tend does not list internal/httpget: not the list this test reads\n%s", out)
	}
	for _, pkg := range deps {
		switch pkg {
		case "net/http", "crypto/tls", "compress/gzip":
			t.Errorf("cmd/tend depends on %s", pkg)
		}
	}
}
