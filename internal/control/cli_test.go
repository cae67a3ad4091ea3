package control

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/status"
)

// helperEnv makes the test binary act as the tend CLI (see TestMain): used
// to run a client under another uid.
const helperEnv = "TEND_CONTROL_TEST_CLI"

func TestMain(m *testing.M) {
	if sock, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(RunCLI(os.Args[1:], sock, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func testConfig() config {
	c := defaultConfig()
	c.readTimeout = 2 * time.Second
	c.writeTimeout = 2 * time.Second
	return c
}

// start serves a socket in a fresh directory and closes it at the end.
func start(t *testing.T, b Backend, l LogSource, cfg config) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "control.sock")
	s, err := serve(path, b, l, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// cli runs a command and returns its exit code, stdout and stderr.
func cli(sock string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := RunCLI(args, sock, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	fl := newFakeLogs()
	fl.add("web", logs.Stdout, 1, "web one")
	fl.add("db", logs.Stderr, 2, "db two")
	fl.add("web", logs.Stdout, 3, "web three")
	fl.add("web", logs.Stderr, 4, "web four")

	tests := []struct {
		name      string
		args      []string
		err       error // the backend's error
		code      int
		stdout    string // exact unless empty and contains set
		contains  []string
		stderr    string // exact
		wantCalls []string
	}{
		{name: "status", args: []string{"status"}, contains: []string{
			"NAME     STATE    PID  UPTIME",
			"web      ready    42",
			"1         143        yes    healthy",
			"migrate  done     -    -",
		}},
		{name: "status names", args: []string{"status", "db"}, contains: []string{"db    running  43"}},
		{name: "status unknown", args: []string{"status", "web", "nope", "nada"}, code: ExitUnknown,
			stderr: "tend: unknown services \"nope\", \"nada\"\n"},
		{name: "start", args: []string{"start", "web", "db"}, wantCalls: []string{"start [web db]"}},
		{name: "stop", args: []string{"stop", "web"}, wantCalls: []string{"stop [web]"}},
		{name: "restart", args: []string{"restart", "--", "db"}, wantCalls: []string{"restart [db]"}},
		{name: "start unknown", args: []string{"start", "nope"}, code: ExitUnknown, stderr: "tend: unknown service \"nope\"\n"},
		{name: "start fails", args: []string{"start", "web"}, err: errBoom, code: ExitFailed, stderr: "tend: boom: the supervisor said no\n"},
		{name: "start no names", args: []string{"start"}, code: ExitUsage},
		{name: "signal", args: []string{"signal", "web", "HUP"}, wantCalls: []string{"signal 1 [web]"}},
		{name: "signal number", args: []string{"signal", "db", "SIGUSR1"}, wantCalls: []string{"signal 10 [db]"}},
		{name: "signal unknown service", args: []string{"signal", "nope", "TERM"}, code: ExitUnknown},
		{name: "signal bad", args: []string{"signal", "web", "BOGUS"}, code: ExitUsage},
		{name: "signal one arg", args: []string{"signal", "web"}, code: ExitUsage},
		{name: "shutdown", args: []string{"shutdown"}, wantCalls: []string{"shutdown"}},
		{name: "shutdown fails", args: []string{"shutdown"}, err: errBoom, code: ExitFailed, stderr: "tend: boom: the supervisor said no\n"},
		{name: "shutdown args", args: []string{"shutdown", "now"}, code: ExitUsage},
		{name: "unknown option", args: []string{"status", "--frob"}, code: ExitUsage},
		{name: "option value missing", args: []string{"logs", "-n"}, code: ExitUsage},
		{name: "bad lines", args: []string{"logs", "-n", "x"}, code: ExitUsage},
		{name: "bad timeout", args: []string{"wait-ready", "--timeout", "soon"}, code: ExitUsage},
		{name: "json takes no value", args: []string{"status", "--json=yes"}, code: ExitUsage},
		{name: "help", args: []string{"logs", "--help"}, stdout: Usage},
		{name: "no command", args: nil, code: ExitUsage, stderr: Usage},
		{name: "logs one", args: []string{"logs", "web"}, stdout: "web one\nweb three\n", stderr: "web four\n"},
		{name: "logs tail", args: []string{"logs", "-n", "1", "web"}, stderr: "web four\n"},
		{name: "logs -n2", args: []string{"logs", "-n2", "web"}, stdout: "web three\n", stderr: "web four\n"},
		{name: "logs all merged", args: []string{"logs"}, stdout: "web | web one\nweb | web three\n", stderr: "db  | db two\nweb | web four\n"},
		{name: "logs unknown", args: []string{"logs", "nope"}, code: ExitUnknown},
		{name: "wait-ready", args: []string{"wait-ready", "--timeout", "5s"}},
		{name: "wait-ready names", args: []string{"wait-ready", "web"}},
		{name: "wait-ready unknown", args: []string{"wait-ready", "nope"}, code: ExitUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFake()
			b.err = tt.err
			_, sock := start(t, b, fl, testConfig())
			code, stdout, stderr := cli(sock, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if tt.stdout != "" || tt.contains == nil {
				if stdout != tt.stdout {
					t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.stdout)
				}
			}
			for _, c := range tt.contains {
				if !strings.Contains(stdout, c) {
					t.Errorf("stdout does not contain %q:\n%s", c, stdout)
				}
			}
			if tt.stderr != "" || tt.code == ExitOK {
				if stderr != tt.stderr {
					t.Errorf("stderr %q, want %q", stderr, tt.stderr)
				}
			} else if !strings.HasPrefix(stderr, "tend: ") && tt.args != nil {
				t.Errorf("stderr %q does not start with \"tend: \"", stderr)
			}
			if got := b.Calls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("backend calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	b := newFake()
	_, sock := start(t, b, nil, testConfig())
	code, stdout, stderr := cli(sock, "status", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var r status.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	want := status.Report{Services: newFake().services}
	if got, _ := json.Marshal(r); string(got) != string(mustJSON(t, want)) {
		t.Errorf("got %s\nwant %s", got, mustJSON(t, want))
	}
	var buf bytes.Buffer
	WriteStatusJSON(&buf, want)
	if buf.String() != stdout {
		t.Errorf("status --json differs from WriteStatusJSON:\n%s\n%s", stdout, buf.String())
	}
	for _, key := range []string{`"name"`, `"state"`, `"pid"`, `"since"`, `"started"`, `"restarts"`, `"last_exit"`, `"ready"`, `"health"`, `"oneshot"`, `"shutting_down"`} {
		if !strings.Contains(stdout, key) {
			t.Errorf("no %s in %s", key, stdout)
		}
	}
	// An empty tend gives an empty list, not null.
	buf.Reset()
	WriteStatusJSON(&buf, status.Report{})
	if !strings.Contains(buf.String(), `"services": []`) {
		t.Errorf("empty report: %s", buf.String())
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStatusShuttingDown(t *testing.T) {
	b := newFake()
	b.shutting = true
	_, sock := start(t, b, nil, testConfig())
	code, stdout, _ := cli(sock, "status")
	if code != 0 || !strings.HasSuffix(stdout, "tend is shutting down\n") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	code, _, stderr := cli(sock, "wait-ready")
	if code != ExitFailed || stderr != "tend: tend is shutting down\n" {
		t.Errorf("wait-ready: exit %d, stderr %q", code, stderr)
	}
}

func TestWaitReady(t *testing.T) {
	t.Run("becomes ready", func(t *testing.T) {
		b := newFake()
		b.set("web", func(s *status.ServiceStatus) { s.Ready, s.State = false, status.Starting })
		b.set("migrate", func(s *status.ServiceStatus) { s.Ready, s.State = false, status.Running })
		b.onStatus = func(f *fakeBackend) {
			if f.statuses == 3 { // ready at the third poll
				for i := range f.services {
					f.services[i].Ready = true
					if f.services[i].Oneshot {
						f.services[i].State = status.Done
					}
				}
			}
		}
		_, sock := start(t, b, nil, testConfig())
		code, _, stderr := cli(sock, "wait-ready", "--timeout", "10s")
		if code != 0 {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if b.statuses != 3 {
			t.Errorf("%d polls, want 3", b.statuses)
		}
	})
	t.Run("times out", func(t *testing.T) {
		b := newFake()
		b.set("web", func(s *status.ServiceStatus) { s.Ready, s.State = false, status.Backoff })
		b.set("migrate", func(s *status.ServiceStatus) { s.Ready, s.State = false, status.Running })
		_, sock := start(t, b, nil, testConfig())
		began := time.Now()
		code, _, stderr := cli(sock, "wait-ready", "--timeout", "300ms")
		// The lower bound is the promise; the upper one only guards a hang.
		if took := time.Since(began); took < 300*time.Millisecond || took > 30*time.Second {
			t.Errorf("took %v for a 300ms timeout", took)
		}
		if want := "tend: not ready after 300ms: web (backoff), migrate (running)\n"; code != ExitFailed || stderr != want {
			t.Errorf("exit %d, stderr %q, want %q", code, stderr, want)
		}
	})
	// Issue 10: a service failed for good ends the wait at once, named.
	t.Run("failed for good", func(t *testing.T) {
		for _, names := range [][]string{nil, {"web"}} {
			b := newFake()
			three := 3
			b.set("web", func(s *status.ServiceStatus) { s.Ready, s.State, s.LastExit = false, status.Failed, &three })
			_, sock := start(t, b, nil, testConfig())
			began := time.Now()
			code, _, stderr := cli(sock, append([]string{"wait-ready", "--timeout", "60s"}, names...)...)
			if took := time.Since(began); took > 20*time.Second {
				t.Errorf("wait-ready %v: took %v: it waited for a failed service", names, took)
			}
			if want := "tend: failed, will not become ready (until `tend start`): web (last exit 3)\n"; code != ExitFailed || stderr != want {
				t.Errorf("wait-ready %v: exit %d, stderr %q, want %q", names, code, stderr, want)
			}
			if b.statuses != 1 {
				t.Errorf("wait-ready %v: %d polls, want 1", names, b.statuses)
			}
		}
	})
	// Issue 17: so does a stopped one (`tend stop`, or exited and not
	// restarted): nothing but `tend start` makes it ready.
	t.Run("stopped", func(t *testing.T) {
		for _, names := range [][]string{nil, {"web"}} {
			b := newFake()
			b.set("web", func(s *status.ServiceStatus) { s.Ready, s.State = false, status.Stopped })
			_, sock := start(t, b, nil, testConfig())
			began := time.Now()
			code, _, stderr := cli(sock, append([]string{"wait-ready", "--timeout", "60s"}, names...)...)
			if took := time.Since(began); took > 20*time.Second {
				t.Errorf("wait-ready %v: took %v: it waited for a stopped service", names, took)
			}
			if want := "tend: stopped, will not become ready (until `tend start`): web\n"; code != ExitFailed || stderr != want {
				t.Errorf("wait-ready %v: exit %d, stderr %q, want %q", names, code, stderr, want)
			}
			if b.statuses != 1 {
				t.Errorf("wait-ready %v: %d polls, want 1", names, b.statuses)
			}
		}
	})
	t.Run("no tend", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "none.sock")
		code, _, stderr := cli(sock, "wait-ready", "--timeout", "200ms")
		if want := "tend: no tend is running here (no socket at " + sock + ")\n"; code != ExitNoTend || stderr != want {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("tend comes up", func(t *testing.T) {
		dir := t.TempDir()
		sock := filepath.Join(dir, "control.sock")
		done := make(chan int)
		go func() {
			code, _, _ := cli(sock, "wait-ready", "--timeout", "20s")
			done <- code
		}()
		// Serve once the client has had a chance to fail at least once;
		// correctness does not depend on the order.
		s, err := serve(sock, newFake(), nil, nil, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if code := <-done; code != 0 {
			t.Errorf("exit %d", code)
		}
	})
}

func TestNoTend(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "control.sock")
	for _, cmd := range [][]string{{"status"}, {"start", "web"}, {"logs", "-f"}, {"shutdown"}} {
		code, stdout, stderr := cli(sock, cmd...)
		want := "tend: no tend is running here (no socket at " + sock + ")\n"
		if code != ExitNoTend || stderr != want || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, want %q", cmd, code, stderr, want)
		}
	}
	// A socket nobody listens on.
	makeStale(t, sock)
	code, _, stderr := cli(sock, "status")
	if want := "tend: no tend is running here (stale socket at " + sock + ")\n"; code != ExitNoTend || stderr != want {
		t.Errorf("stale: exit %d, stderr %q", code, stderr)
	}
	// Not a directory on the way.
	code, _, stderr = cli(filepath.Join(sock, "x"), "status")
	if code != ExitNoTend || !strings.Contains(stderr, "no tend is running here") {
		t.Errorf("ENOTDIR: exit %d, stderr %q", code, stderr)
	}
}

// makeStale leaves a socket file at path with no listener, as a killed
// tend does.
func makeStale(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestSocketLifecycle(t *testing.T) {
	t.Run("creates dir and 0600 socket", func(t *testing.T) {
		s, sock := start(t, newFake(), nil, testConfig())
		fi, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket mode %v", fi.Mode())
		}
		di, _ := os.Stat(filepath.Dir(sock))
		if di.Mode().Perm() != 0o755 {
			t.Errorf("dir mode %v", di.Mode())
		}
		ents, _ := os.ReadDir(filepath.Dir(sock))
		if len(ents) != 1 {
			t.Errorf("left behind: %v", ents)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Errorf("socket not removed by Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("stale replaced", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "control.sock")
		makeStale(t, sock)
		s, err := serve(sock, newFake(), nil, nil, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if code, _, stderr := cli(sock, "status"); code != 0 {
			t.Errorf("exit %d, %s", code, stderr)
		}
	})
	t.Run("live refused", func(t *testing.T) {
		_, sock := start(t, newFake(), nil, testConfig())
		_, err := serve(sock, newFake(), nil, nil, testConfig())
		if err == nil || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "another tend is already running") {
			t.Fatalf("second Serve: %v", err)
		}
		if code, _, stderr := cli(sock, "status"); code != 0 {
			t.Errorf("first server broken: exit %d, %s", code, stderr)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "control.sock")
		if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := serve(path, newFake(), nil, nil, testConfig())
		if err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Fatalf("Serve: %v", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "precious" {
			t.Error("file clobbered")
		}
	})
	t.Run("Close leaves a successor's socket", func(t *testing.T) {
		s, sock := start(t, newFake(), nil, testConfig())
		os.Remove(sock)
		s2, err := serve(sock, newFake(), nil, nil, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		s.Close()
		if code, _, stderr := cli(sock, "status"); code != 0 {
			t.Errorf("successor's socket removed: exit %d, %s", code, stderr)
		}
	})
	t.Run("path too long", func(t *testing.T) {
		_, err := Serve("/tmp/"+strings.Repeat("x", 120), newFake(), nil, nil)
		if err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestLogsFollow(t *testing.T) {
	fl := newFakeLogs()
	fl.add("web", logs.Stdout, 1, "old")
	s, sock := start(t, newFake(), fl, testConfig())

	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- RunCLI([]string{"logs", "-f", "-n", "5", "web", "db"}, sock, pw, &errb)
		pw.Close()
	}()
	<-fl.subscribed
	fl.add("web", logs.Stdout, 2, "new web")
	fl.add("db", logs.Stdout, 3, "new db")
	fl.add("cache", logs.Stdout, 4, "not asked for")
	r := newLineReader(pr)
	for _, want := range []string{"web | old", "web | new web", "db  | new db"} {
		if got := r.next(t); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// The server closing ends the client cleanly.
	s.Close()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	<-fl.cancelled
}

type lineReader struct {
	c chan string
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{c: make(chan string, 100)}
	go func() {
		var buf []byte
		b := make([]byte, 1)
		for {
			if _, err := r.Read(b); err != nil {
				close(lr.c)
				return
			}
			if b[0] == '\n' {
				lr.c <- string(buf)
				buf = buf[:0]
				continue
			}
			buf = append(buf, b[0])
		}
	}()
	return lr
}

func (lr *lineReader) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-lr.c:
		if !ok {
			t.Fatal("stream ended")
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10s")
	}
	return ""
}

// A follower that disconnects releases its subscription; the server
// notices without any line being written.
func TestLogsFollowDisconnect(t *testing.T) {
	fl := newFakeLogs()
	_, sock := start(t, newFake(), fl, testConfig())
	c := dialRaw(t, sock)
	send(t, c, `{"v":1,"op":"logs","follow":true,"lines":-1}`)
	if rep := readReply(t, c); !rep.OK {
		t.Fatalf("reply %+v", rep)
	}
	<-fl.subscribed
	c.Close()
	select {
	case <-fl.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not cancelled after the client left")
	}
}

// Lines recorded between Subscribe and Tail are not sent twice.
func TestLogsNoDuplicates(t *testing.T) {
	fl := newFakeLogs()
	fl.add("web", logs.Stdout, 1, "a")
	_, sock := start(t, newFake(), fl, testConfig())
	c := dialRaw(t, sock)
	send(t, c, `{"v":1,"op":"logs","names":["web"],"follow":true,"lines":-1}`)
	dec := json.NewDecoder(c)
	var rep Reply
	if err := dec.Decode(&rep); err != nil || !rep.OK {
		t.Fatalf("reply %+v %v", rep, err)
	}
	var texts []string
	for len(texts) < 2 {
		var m LogMsg
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.End || m.Line == nil {
			t.Fatalf("unexpected %+v", m)
		}
		texts = append(texts, m.Line.Text)
		if len(texts) == 1 {
			// Simulate a line that reached both the subscription and
			// the ring before Tail: re-deliver seq 1, then a new one.
			fl.mu.Lock()
			for _, sub := range fl.subs {
				sub.deliver(fl.lines["web"][0])
			}
			fl.mu.Unlock()
			fl.add("web", logs.Stdout, 2, "b")
		}
	}
	if !slices.Equal(texts, []string{"a", "b"}) {
		t.Errorf("got %q", texts)
	}
}

func TestLogsUnavailable(t *testing.T) {
	_, sock := start(t, newFake(), nil, testConfig())
	code, _, stderr := cli(sock, "logs")
	if code != ExitFailed || stderr != "tend: logs are not available\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// 50 clients at once, of every kind, while the backend changes state.
func TestConcurrentClients(t *testing.T) {
	b := newFake()
	fl := newFakeLogs()
	fl.add("web", logs.Stdout, 1, "hello")
	_, sock := start(t, b, fl, testConfig())
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b.set("web", func(s *status.ServiceStatus) {
				s.Ready = i%2 == 0
				s.State = []status.State{status.Ready, status.Backoff}[i%2]
				s.Restarts = i
			})
		}
	})
	cmds := [][]string{
		{"status", "--json"}, {"status"}, {"start", "db"}, {"restart", "web"}, {"signal", "web", "USR1"}, {"logs", "-n", "1", "web"},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Go(func() {
			cmd := cmds[i%len(cmds)]
			code, stdout, stderr := cli(sock, cmd...)
			if code != 0 {
				errs <- strings.Join(cmd, " ") + ": " + stderr
				return
			}
			if len(cmd) == 2 && cmd[1] == "--json" {
				var r status.Report
				if err := json.Unmarshal([]byte(stdout), &r); err != nil || len(r.Services) != 3 {
					errs <- "bad status: " + stdout
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// `tend logs -f` whose output stalls is dropped once it falls too far
// behind: when it reads again it prints why and exits 1.
func TestLogsFollowDropped(t *testing.T) {
	cfg := testConfig()
	cfg.writeTimeout = 30 * time.Second
	cfg.followEach = 1 << 20
	fl := newFakeLogs()
	_, sock := start(t, newFake(), fl, cfg)
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- RunCLI([]string{"logs", "-f", "-n", "0", "web"}, sock, pw, &errb)
		pw.Close()
	}()
	<-fl.subscribed
	line := strings.Repeat("q", 32<<10)
	for i := range 300 { // 9.6 MB while nobody reads the command's output
		fl.add("web", logs.Stdout, i, line)
	}
	go io.Copy(io.Discard, pr)
	select {
	case code := <-done:
		if code != ExitFailed || !strings.HasPrefix(errb.String(), "tend: this follower fell behind and was dropped: ") {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tend logs -f did not end")
	}
}

// start, stop and restart wait for what they asked (a start-first restart
// for the new processes to be ready) at most --timeout (default 60 s; 0
// for as long as it takes); a client that gives up says the operation
// goes on and how to wait longer.
func TestOpTimeout(t *testing.T) {
	b := newFake()
	b.opDelay = 700 * time.Millisecond
	_, sock := start(t, b, nil, testConfig())
	code, _, stderr := cli(sock, "restart", "--timeout", "100ms", "web")
	if code != ExitFailed || !strings.Contains(stderr, "did not answer within 100ms") || !strings.Contains(stderr, "--timeout DURATION waits longer") {
		t.Errorf("restart --timeout 100ms of a 700ms restart: code %d, %q", code, stderr)
	}
	for _, args := range [][]string{{"restart", "--timeout", "0", "web"}, {"stop", "-t", "30s", "db"}, {"start", "web"}} {
		if code, _, stderr := cli(sock, args...); code != 0 {
			t.Errorf("%q: code %d, %q", args, code, stderr)
		}
	}
	if code, _, _ := cli(sock, "restart", "--timeout", "soon", "web"); code != ExitUsage {
		t.Errorf("restart --timeout soon: code %d, want %d", code, ExitUsage)
	}
	if code, _, _ := cli(sock, "shutdown", "--timeout", "1s"); code != ExitUsage {
		t.Errorf("shutdown --timeout: code %d, want %d (not an option of shutdown)", code, ExitUsage)
	}
}
