package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/logs"
)

func dialRaw(t testing.TB, sock string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

func send(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s+"\n"); err != nil {
		t.Fatal(err)
	}
}

func readReply(t testing.TB, c net.Conn) Reply {
	t.Helper()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading reply: %v (got %q)", err, line)
	}
	var r Reply
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	return r
}

// expectClosed asserts that the server closes c (after its reply).
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("connection not closed: %v", err)
	}
	if len(b) != 0 {
		t.Errorf("more after the reply: %q", b)
	}
}

func healthy(t *testing.T, sock string) {
	t.Helper()
	if code, _, stderr := cli(sock, "status"); code != 0 {
		t.Fatalf("server not responsive: exit %d, %s", code, stderr)
	}
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		req   string
		code  string // "" means ok
		error string // substring
	}{
		{`{"v":1,"op":"status"}`, "", ""},
		{`{"v":1,"op":"status","names":["web"],"extra":"ignored"}`, "", ""},
		{`{"v":1,"op":"status","names":["nope"]}`, CodeUnknown, `unknown service "nope"`},
		{`{"v":1,"op":"start","names":["web"]}`, "", ""},
		{`{"v":1,"op":"signal","names":["web"],"signal":"TERM"}`, "", ""},
		{`{"v":1,"op":"shutdown"}`, "", ""},
		{``, CodeBadRequest, "malformed request"},
		{`not json`, CodeBadRequest, "malformed request: invalid JSON at offset 2"},
		{`{"v":1,"op":"status"} trailing`, CodeBadRequest, "malformed request"},
		{`{"v":1,"op":"status"}{"v":1}`, CodeBadRequest, "malformed request"},
		{`[1,2,3]`, CodeBadRequest, "malformed request"},
		{`null`, CodeBadRequest, "unsupported protocol version 0"},
		{`{"op":"status"}`, CodeBadRequest, "unsupported protocol version 0"},
		{`{"v":2,"op":"status"}`, CodeBadRequest, "unsupported protocol version 2 (this tend speaks 1)"},
		{`{"v":"1","op":"status"}`, CodeBadRequest, `field "v" has the wrong type`},
		{`{"v":1}`, CodeBadRequest, "missing op"},
		{`{"v":1,"op":"reboot"}`, CodeBadRequest, `unknown op "reboot"`},
		{`{"v":1,"op":"start"}`, CodeBadRequest, "start needs at least one service name"},
		{`{"v":1,"op":"stop","names":[""]}`, CodeBadRequest, "invalid service name"},
		{`{"v":1,"op":"stop","names":"web"}`, CodeBadRequest, "wrong type"},
		{`{"v":1,"op":"signal","names":["web"]}`, CodeBadRequest, "missing signal"},
		{`{"v":1,"op":"signal","names":["web"],"signal":"NOPE"}`, CodeBadRequest, "unknown signal"},
		{`{"v":1,"op":"signal","names":["web","db"],"signal":"HUP"}`, CodeBadRequest, "exactly one"},
		{`{"v":1,"op":"signal","names":["web"],"signal":"0"}`, CodeBadRequest, "out of range"},
		{"\x00\xff\xfe", CodeBadRequest, "malformed request"},
	}
	b := newFake()
	_, sock := start(t, b, newFakeLogs(), testConfig())
	for _, tt := range tests {
		t.Run(tt.req, func(t *testing.T) {
			c := dialRaw(t, sock)
			send(t, c, tt.req)
			r := readReply(t, c)
			if r.V != Version {
				t.Errorf("reply version %d", r.V)
			}
			if r.OK != (tt.code == "") || r.Code != tt.code || !strings.Contains(r.Error, tt.error) {
				t.Errorf("reply %+v, want code %q error ~ %q", r, tt.code, tt.error)
			}
			expectClosed(t, c)
		})
	}
	healthy(t, sock)
}

func TestOversized(t *testing.T) {
	_, sock := start(t, newFake(), nil, testConfig())
	for _, n := range []int{MaxRequest, MaxRequest + 1, 10 * MaxRequest} {
		c := dialRaw(t, sock)
		// Write in the background: the server stops reading at the limit.
		go func() {
			big := strings.Repeat("x", n-1) // with the newline: n bytes
			io.WriteString(c, big+"\n")
		}()
		r := readReply(t, c)
		if n <= MaxRequest {
			if r.Code != CodeBadRequest || !strings.Contains(r.Error, "malformed") {
				t.Errorf("%d bytes: %+v", n, r)
			}
		} else if r.Code != CodeBadRequest || r.Error != "request too large (limit 65536 bytes)" {
			t.Errorf("%d bytes: %+v", n, r)
		}
		c.Close()
	}
	// A valid request padded to just under the limit is served.
	c := dialRaw(t, sock)
	pad := strings.Repeat(" ", MaxRequest-100)
	send(t, c, `{"v":1,`+pad+`"op":"status"}`)
	if r := readReply(t, c); !r.OK {
		t.Errorf("padded request: %+v", r)
	}
	healthy(t, sock)
}

func TestSlowLoris(t *testing.T) {
	cfg := testConfig()
	cfg.readTimeout = 300 * time.Millisecond
	_, sock := start(t, newFake(), nil, cfg)
	began := time.Now()
	var conns []*net.UnixConn
	for range 20 {
		c := dialRaw(t, sock)
		io.WriteString(c, `{"v":1,`) // and never the rest
		conns = append(conns, c)
	}
	// Meanwhile others are served.
	healthy(t, sock)
	for _, c := range conns {
		r := readReply(t, c)
		if r.Code != CodeBadRequest || !strings.Contains(r.Error, "timed out") {
			t.Errorf("reply %+v", r)
		}
		expectClosed(t, c)
	}
	if took := time.Since(began); took < cfg.readTimeout {
		t.Errorf("cut after %v, before the %v deadline", took, cfg.readTimeout)
	}
	healthy(t, sock)
}

// A client that sends nothing and one that never reads its log stream are
// both cut by the deadlines.
func TestSilentAndNonReadingClients(t *testing.T) {
	cfg := testConfig()
	cfg.readTimeout = 200 * time.Millisecond
	cfg.writeTimeout = 200 * time.Millisecond
	fl := newFakeLogs()
	big := strings.Repeat("y", 60<<10)
	for i := range 100 { // ~6 MB of tail, more than socket buffers hold
		fl.add("web", 1, i, big)
	}
	_, sock := start(t, newFake(), fl, cfg)
	silent := dialRaw(t, sock)
	stuck := dialRaw(t, sock)
	send(t, stuck, `{"v":1,"op":"logs","names":["web"],"follow":true,"lines":-1}`)
	<-fl.subscribed
	select {
	case <-fl.cancelled: // the server gave up writing to stuck
	case <-time.After(10 * time.Second):
		t.Fatal("a client that does not read blocked the server")
	}
	r := readReply(t, silent)
	if !strings.Contains(r.Error, "timed out") {
		t.Errorf("silent client: %+v", r)
	}
	healthy(t, sock)
}

// TestManyConnections: 1000 idle connections neither refuse nor starve a
// client: status is answered within the CLI's own deadlines (no wall-clock
// bound here; BenchmarkStatusIdleConnections measures how fast).
func TestManyConnections(t *testing.T) {
	_, sock := start(t, newFake(), nil, testConfig())
	conns := make([]*net.UnixConn, 0, 1000)
	for range 1000 {
		conns = append(conns, dialRaw(t, sock))
	}
	healthy(t, sock)
	for _, c := range conns[:500] {
		c.Close()
	}
	for _, c := range conns[500:600] {
		send(t, c, `{"v":1,"op":"status","names":["db"]}`)
		if r := readReply(t, c); !r.OK || len(r.Services) != 1 {
			t.Fatalf("reply %+v", r)
		}
	}
	healthy(t, sock)
}

func TestBusy(t *testing.T) {
	cfg := testConfig()
	cfg.maxConns = 2
	fl := newFakeLogs()
	_, sock := start(t, newFake(), fl, cfg)
	// Two followers hold their connections.
	for range 2 {
		c := dialRaw(t, sock)
		send(t, c, `{"v":1,"op":"logs","follow":true}`)
		<-fl.subscribed
	}
	c := dialRaw(t, sock)
	if r := readReply(t, c); r.Code != CodeBusy || r.Error != "too many connections" {
		t.Errorf("third connection: %+v", r)
	}
	expectClosed(t, c)
	code, _, stderr := cli(sock, "status")
	if code != ExitFailed || stderr != "tend: too many connections\n" {
		t.Errorf("status when busy: exit %d, stderr %q", code, stderr)
	}
}

// A client running as another uid is refused: by the socket's mode, and by
// SO_PEERCRED when the mode would let it in. The server stays healthy.
func TestPermissionDenied(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	const nobody = 65534
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary, where uid nobody can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "tend-cli")
	copyFile(t, self, helper)
	sock := filepath.Join(dir, "control.sock")
	b := newFake()
	s, err := serve(sock, b, nil, nil, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	run := func(args ...string) (int, string) {
		cmd := exec.Command(helper, args...)
		cmd.Env = []string{helperEnv + "=" + sock}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}

	// The socket is 0600: connect(2) itself is refused.
	code, out := run("stop", "web")
	if want := "tend: permission denied: cannot use " + sock + " (run as root or as the user tend runs as)\n"; code != ExitPermission || out != want {
		t.Errorf("0600 socket: exit %d, output %q", code, out)
	}
	// Opened up by mistake: SO_PEERCRED still refuses.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	code, out = run("stop", "web")
	if want := "tend: permission denied: uid 65534 may not control tend (only root and uid 0)\n"; code != ExitPermission || out != want {
		t.Errorf("peer check: exit %d, output %q", code, out)
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %q", calls)
	}
	healthy(t, sock)
	if code, _, _ := cli(sock, "stop", "web"); code != 0 {
		t.Error("root refused")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"op":"status","names":["web"]}`,
		`{"v":1,"op":"signal","names":["web"],"signal":"HUP"}`,
		`{"v":1,"op":"logs","lines":-5,"follow":true}`,
		`{"v":1,"op":"start","names":["a","b"]}`,
		`{"v":2}`, `null`, `{`, "\xff", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := Decode(data)
		if err != nil {
			r := errorReply(err)
			if r.OK || r.V != Version || r.Code != CodeBadRequest || r.Error == "" {
				t.Fatalf("error reply %+v for %q", r, data)
			}
			b, merr := json.Marshal(r)
			if merr != nil || !json.Valid(b) {
				t.Fatalf("reply does not encode: %v", merr)
			}
			return
		}
		if req.V != Version || !json.Valid(data) {
			t.Fatalf("accepted %q as %+v", data, req)
		}
		switch req.Op {
		case OpStatus, OpShutdown, OpLogs:
		case OpStart, OpStop, OpRestart:
			if len(req.Names) == 0 {
				t.Fatalf("accepted %q without names", data)
			}
		case OpSignal:
			if len(req.Names) != 1 {
				t.Fatalf("accepted signal %q", data)
			}
			if _, err := ParseSignal(req.Signal); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("accepted op %q", req.Op)
		}
		for _, n := range req.Names {
			if n == "" {
				t.Fatalf("accepted an empty name in %q", data)
			}
		}
		if req.Lines < -1 {
			t.Fatalf("lines %d", req.Lines)
		}
	})
}

// A follower that stops reading while lines keep coming is dropped once
// its queue passes its budget, and told why when it reads again; a
// follower that reads is not affected; nothing is queued for the dropped
// one afterwards. With the global budget full, the follower furthest
// behind is the one dropped.
func TestFollowerBudget(t *testing.T) {
	cfg := testConfig()
	cfg.writeTimeout = 30 * time.Second
	cfg.followEach = 2 << 20
	cfg.followTotal = 3 << 20
	fl := newFakeLogs()
	s, sock := start(t, newFake(), fl, cfg)
	follow := func() (*net.UnixConn, *json.Decoder) {
		c := dialRaw(t, sock)
		send(t, c, `{"v":1,"op":"logs","names":["web"],"follow":true,"lines":0}`)
		<-fl.subscribed
		dec := json.NewDecoder(c)
		var r Reply
		if err := dec.Decode(&r); err != nil || !r.OK {
			t.Fatalf("reply %+v %v", r, err)
		}
		return c, dec
	}
	stuck, stuckDec := follow()
	stuck.SetReadBuffer(4096)
	behind, behindDec := follow()
	behind.SetReadBuffer(4096)
	_, goodDec := follow()
	line := strings.Repeat("z", 32<<10)
	got := 0
	for i := range 400 { // 12.8 MB, far more than socket buffers hold
		fl.add("web", logs.Stdout, i, line)
		var m LogMsg
		if err := goodDec.Decode(&m); err != nil || m.Line == nil || m.Line.Text != line {
			t.Fatalf("the reading follower, line %d: %+v %v", i, m.Error, err)
		}
		got++
	}
	s.follow.mu.Lock()
	used, n := s.follow.used, len(s.follow.fs)
	s.follow.mu.Unlock()
	t.Logf("reading follower got %d lines; %d followers left, %d bytes queued", got, n, used)
	if n != 1 || used > cfg.followTotal {
		t.Errorf("%d followers left (want the reading one), %d bytes queued", n, used)
	}
	for name, dec := range map[string]*json.Decoder{"stuck": stuckDec, "behind": behindDec} {
		var last LogMsg
		for {
			var m LogMsg
			if err := dec.Decode(&m); err != nil {
				break
			}
			last = m
		}
		if !strings.Contains(last.Error, "fell behind") || !strings.Contains(last.Error, "2.0 MiB per follower") {
			t.Errorf("%s follower's last message: %+v", name, last)
		}
	}
	healthy(t, sock)
}

func TestFollowerGlobalBudget(t *testing.T) {
	b := newFollowBudget(1000, 800, 10)
	f1, _ := b.add()
	f2, _ := b.add()
	l := func(n int) logs.Line { return logs.Line{Text: make([]byte, n-lineCost)} }
	f1.deliver(l(300))
	f1.deliver(l(300))
	f2.deliver(l(300))
	if f1.dropped != "" || f2.dropped != "" || b.used != 900 {
		t.Fatalf("dropped %q %q, used %d", f1.dropped, f2.dropped, b.used)
	}
	// 1200 > 1000: f1 (600 queued) is furthest behind and goes, f2 stays.
	f2.deliver(l(300))
	if f1.dropped == "" || f2.dropped != "" || b.used != 600 || len(b.fs) != 1 {
		t.Fatalf("dropped %q %q, used %d, %d followers", f1.dropped, f2.dropped, b.used, len(b.fs))
	}
	if _, ok, why := f1.next(); ok || why == "" {
		t.Errorf("dropped follower: next ok=%v why=%q", ok, why)
	}
	// f2 alone over its own budget of 800.
	f2.next()
	f2.deliver(l(300))
	if f2.dropped != "" {
		t.Fatalf("f2 dropped at 600")
	}
	f2.deliver(l(300))
	if f2.dropped == "" || b.used != 0 {
		t.Fatalf("f2 not dropped at 900 > 800 (used %d)", b.used)
	}
	// The follower count is bounded.
	b = newFollowBudget(1000, 800, 2)
	b.add()
	b.add()
	if _, err := b.add(); err == nil || !strings.Contains(err.Error(), "too many log followers") {
		t.Errorf("third follower: %v", err)
	}
}

// BenchmarkStatusIdleConnections: one connection, status request and reply while
// 1000 idle connections are open (TestManyConnections' load).
func BenchmarkStatusIdleConnections(b *testing.B) {
	path := filepath.Join(b.TempDir(), "control.sock")
	s, err := serve(path, newFake(), nil, nil, testConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for range 1000 {
		dialRaw(b, path)
	}
	for b.Loop() { // one request per connection, as the CLI does
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			b.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		send(b, c, `{"v":1,"op":"status","names":["db"]}`)
		if r := readReply(b, c); !r.OK || len(r.Services) != 1 {
			b.Fatalf("reply %+v", r)
		}
		c.Close()
	}
}
