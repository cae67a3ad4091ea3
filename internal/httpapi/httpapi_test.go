package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/control"
	"github.com/tend-sh/tend/internal/status"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 500_000_000, time.UTC)

func exitp(n int) *int { return &n }

type fake struct {
	mu       sync.Mutex
	ss       []status.ServiceStatus
	shutting bool
}

func newFake() *fake {
	return &fake{ss: []status.ServiceStatus{
		{Name: "web", State: status.Ready, PID: 42, Since: t0, Started: t0, Restarts: 2, LastExit: exitp(143), Ready: true, Health: "healthy"},
		{Name: "db", State: status.Starting, PID: 43, Since: t0, Started: t0},
		{Name: "migrate", State: status.Done, Since: t0, Started: t0, LastExit: exitp(0), Ready: true, Oneshot: true},
		{Name: "idle", State: status.Stopped, LastExit: exitp(137), Reason: status.ReasonOOMKilled, OOMKills: 3},
	}}
}

func (f *fake) Status(names []string) ([]status.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(names) == 0 {
		return slices.Clone(f.ss), nil
	}
	var out []status.ServiceStatus
	for _, n := range names {
		i := slices.IndexFunc(f.ss, func(s status.ServiceStatus) bool { return s.Name == n })
		if i < 0 {
			return nil, control.UnknownServiceError(n)
		}
		out = append(out, f.ss[i])
	}
	return out, nil
}
func (f *fake) Start([]string) error                { return nil }
func (f *fake) Stop([]string) error                 { return nil }
func (f *fake) Restart([]string) error              { return nil }
func (f *fake) Signal(string, syscall.Signal) error { return nil }
func (f *fake) Shutdown() error                     { return nil }
func (f *fake) ShuttingDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shutting
}
func (f *fake) Counters() (uint64, uint64) { return 5, 12 }

func (f *fake) update(mod func(f *fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mod(f)
}

func listen(t *testing.T, b control.Backend) string {
	t.Helper()
	s, err := Listen("127.0.0.1:0", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "http://" + s.Addr().String()
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestListenAddr(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{":9090", "127.0.0.1:9090", ""},
		{"0.0.0.0:9090", "0.0.0.0:9090", ""},
		{"[::]:9090", "[::]:9090", ""},
		{"[::1]:80", "[::1]:80", ""},
		{"localhost:80", "localhost:80", ""},
		{"9090", "", "want :PORT"},
		{"0.0.0.0:", "", "missing port"},
		{"", "", "want :PORT"},
	}
	for _, tt := range tests {
		got, err := ListenAddr(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestBarePortIsLoopback(t *testing.T) {
	// Find a free port, then listen on ":PORT". Another process may take
	// the port in between: a new port then, a few times, and a failure
	// after that (never a skip: the test must run).
	var s *Server
	var port int
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s, err = Listen(":"+strconv.Itoa(port), newFake(), nil)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatalf("Listen(:%d), attempt %d: %v", port, attempt, err)
		}
	}
	defer s.Close()
	if ip := s.Addr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("bound %v", s.Addr())
	}
	// The same port is still free on other addresses of the host.
	if _, err := Listen("127.0.0.1:"+strconv.Itoa(port), newFake(), nil); err == nil {
		t.Error("second listener on the same address succeeded")
	}
}

func TestEndpoints(t *testing.T) {
	b := newFake()
	base := listen(t, b)
	tests := []struct {
		name, method, path string
		setup              func(f *fake)
		code               int
		body               string // exact, unless empty
	}{
		{name: "healthz", method: "GET", path: "/healthz", code: 200, body: "ok\n"},
		{name: "healthz head", method: "HEAD", path: "/healthz", code: 200},
		{name: "readyz not ready", method: "GET", path: "/readyz", code: 503, body: "not ready: db (starting), idle (stopped)\n"},
		{name: "readyz ready", method: "GET", path: "/readyz", code: 200, body: "ok\n", setup: func(f *fake) {
			f.ss[1].Ready, f.ss[1].State = true, status.Ready
			f.ss = f.ss[:3]
		}},
		{name: "readyz oneshot not done", method: "GET", path: "/readyz", code: 503, body: "not ready: migrate (running)\n", setup: func(f *fake) {
			f.ss[1].Ready = true
			f.ss[2].Ready, f.ss[2].State = false, status.Running
			f.ss = f.ss[:3]
		}},
		{name: "readyz shutting down", method: "GET", path: "/readyz", code: 503, body: "shutting down\n", setup: func(f *fake) {
			f.ss = f.ss[:1]
			f.shutting = true
		}},
		{name: "healthz shutting down", method: "GET", path: "/healthz", code: 503, body: "shutting down\n", setup: func(f *fake) { f.shutting = true }},
		{name: "status unknown", method: "GET", path: "/status?name=web&name=nope", code: 404, body: "unknown service \"nope\"\n"},
		{name: "status typo param", method: "GET", path: "/status?names=nope", code: 400, body: "unknown query parameter \"names\" (/status takes only name=SERVICE, repeatable)\n"},
		{name: "status empty name", method: "GET", path: "/status?name=", code: 400, body: "empty service name in name= (want /status?name=SERVICE)\n"},
		{name: "status bare name", method: "GET", path: "/status?name", code: 400},
		{name: "healthz ignores params", method: "GET", path: "/healthz?probe=kubelet", code: 200, body: "ok\n"},
		{name: "post", method: "POST", path: "/healthz", code: 405},
		{name: "delete status", method: "DELETE", path: "/status", code: 405},
		{name: "not found", method: "GET", path: "/", code: 404},
		{name: "not found 2", method: "GET", path: "/healthz/x", code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.update(func(f *fake) {
				f.ss, f.shutting = newFake().ss, false
				if tt.setup != nil {
					tt.setup(f)
				}
			})
			code, body, hdr := get(t, tt.method, base+tt.path)
			if code != tt.code {
				t.Errorf("%s %s: %d, want %d (%q)", tt.method, tt.path, code, tt.code, body)
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.method == "HEAD" && body != "" {
				t.Errorf("HEAD body %q", body)
			}
			if code == 200 && hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
			}
		})
	}
}

func TestStatusIsStatusJSON(t *testing.T) {
	b := newFake()
	base := listen(t, b)
	for _, q := range []string{"", "?name=db&name=web"} {
		code, body, hdr := get(t, "GET", base+"/status"+q)
		if code != 200 || hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %q", code, hdr.Get("Content-Type"))
		}
		var names []string
		if q != "" {
			names = []string{"db", "web"}
		}
		ss, _ := b.Status(names)
		var want bytes.Buffer
		control.WriteStatusJSON(&want, status.Report{Services: ss})
		if body != want.String() {
			t.Errorf("GET /status%s:\n%s\nwant (tend status --json):\n%s", q, body, want.String())
		}
	}
}

// sampleRE is a sample line of the text format as written here: a metric
// name, optional labels with escaped values, a value.
var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{service="((?:[^"\\\n]|\\[\\"n])*)"\})? (-?[0-9]+(\.[0-9]+)?)$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$`)
)

// parseExposition checks the format and returns "name{labels}" → value.
func parseExposition(t *testing.T, body string) map[string]string {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Fatal("no final newline")
	}
	samples := map[string]string{}
	typed := map[string]string{}
	helped := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		switch {
		case helpRE.MatchString(line):
			m := helpRE.FindStringSubmatch(line)
			if helped[m[1]] {
				t.Errorf("HELP twice for %s", m[1])
			}
			helped[m[1]] = true
		case typeRE.MatchString(line):
			m := typeRE.FindStringSubmatch(line)
			if typed[m[1]] != "" {
				t.Errorf("TYPE twice for %s", m[1])
			}
			typed[m[1]] = m[2]
			if m[2] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Errorf("counter %s without _total", m[1])
			}
		case sampleRE.MatchString(line):
			m := sampleRE.FindStringSubmatch(line)
			if typed[m[1]] == "" {
				t.Errorf("sample before TYPE: %q", line)
			}
			key := m[1] + m[2]
			if _, dup := samples[key]; dup {
				t.Errorf("duplicate sample %q", key)
			}
			samples[key] = m[4]
		default:
			t.Errorf("malformed line %q", line)
		}
	}
	return samples
}

func TestMetrics(t *testing.T) {
	b := newFake()
	base := listen(t, b)
	code, body, hdr := get(t, "GET", base+"/metrics")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %q", code, hdr.Get("Content-Type"))
	}
	got := parseExposition(t, body)
	want := map[string]string{
		`tend_service_up{service="web"}`:                     "1",
		`tend_service_up{service="db"}`:                      "1",
		`tend_service_up{service="migrate"}`:                 "0",
		`tend_service_up{service="idle"}`:                    "0",
		`tend_service_ready{service="web"}`:                  "1",
		`tend_service_ready{service="db"}`:                   "0",
		`tend_service_ready{service="migrate"}`:              "1", // done: what /readyz counts ready
		`tend_service_ready{service="idle"}`:                 "0",
		`tend_service_restarts_total{service="web"}`:         "2",
		`tend_service_restarts_total{service="db"}`:          "0",
		`tend_service_restarts_total{service="migrate"}`:     "0",
		`tend_service_restarts_total{service="idle"}`:        "0",
		`tend_service_last_exit_code{service="web"}`:         "143",
		`tend_service_last_exit_code{service="migrate"}`:     "0",
		`tend_service_start_time_seconds{service="web"}`:     "1795521600.500",
		`tend_service_start_time_seconds{service="db"}`:      "1795521600.500",
		`tend_service_start_time_seconds{service="migrate"}`: "1795521600.500",
		`tend_service_last_exit_code{service="idle"}`:        "137",
		`tend_service_oom_kills_total{service="web"}`:        "0",
		`tend_service_oom_kills_total{service="db"}`:         "0",
		`tend_service_oom_kills_total{service="migrate"}`:    "0",
		`tend_service_oom_kills_total{service="idle"}`:       "3",
		`tend_orphans_reaped_total`:                          "5",
		`tend_signals_forwarded_total`:                       "12",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected sample %s", k)
		}
	}
}

func TestMetricsEscaping(t *testing.T) {
	b := &fake{ss: []status.ServiceStatus{
		{Name: "we\"ird\\na\nme", State: status.Running, PID: 1},
		{Name: "bad\xffutf8", State: status.Stopped},
	}}
	var buf bytes.Buffer
	orphans, forwarded := b.Counters()
	writeMetrics(&buf, b.ss, orphans, forwarded)
	got := parseExposition(t, buf.String())
	if got[`tend_service_up{service="we\"ird\\na\nme"}`] != "1" {
		t.Errorf("escaped name missing:\n%s", buf.String())
	}
	if got["tend_service_up{service=\"bad\uFFFDutf8\"}"] != "0" {
		t.Errorf("invalid UTF-8 not replaced:\n%s", buf.String())
	}
	// No services at all: headers and the global counters only.
	buf.Reset()
	writeMetrics(&buf, nil, 0, 0)
	if got := parseExposition(t, buf.String()); len(got) != 2 {
		t.Errorf("empty: %v", got)
	}
}

// Many concurrent scrapes and probes while the state changes.
func TestConcurrentRequests(t *testing.T) {
	b := newFake()
	base := listen(t, b)
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b.update(func(f *fake) { f.ss[0].Restarts = i; f.ss[1].Ready = i%2 == 0 })
		}
	})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			path := []string{"/metrics", "/readyz", "/healthz", "/status"}[i%4]
			resp, err := client.Get(base + path)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 && resp.StatusCode != 503 {
				t.Errorf("%s: %d", path, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(stop)
	churn.Wait()
}

func TestCloseAndShutdown(t *testing.T) {
	s, err := Listen("127.0.0.1:0", newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String() + "/healthz"
	if code, _, _ := get(t, "GET", url); code != 200 {
		t.Fatal(code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get(url); err == nil {
		t.Error("still serving after Shutdown")
	}
	s2, err := Listen("127.0.0.1:0", newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Error(err)
	}
	if _, err := Listen("nonsense", newFake(), nil); err == nil {
		t.Error("Listen accepted a bad address")
	}
}
