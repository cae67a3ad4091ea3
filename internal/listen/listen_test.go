package listen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/spawn"
)

func TestMain(m *testing.M) {
	RunTrampoline(os.Args)
	if os.Getenv("TEND_LISTEN_TEST_CHILD") == "1" {
		os.Exit(child())
	}
	if os.Getenv("TEND_LISTEN_TEST_NESTED") != "" {
		// A child that lost its marker must never run the tests again
		// (they start children).
		os.Exit(99)
	}
	os.Exit(m.Run())
}

// child is the inherited-socket program: it checks what sd_listen_fds()
// checks, prints its findings, then serves one connection on fd 3.
func child() int {
	pid, fds, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	fmt.Printf("pid-matches=%v fds=%s names=%s\n", pid == strconv.Itoa(os.Getpid()), fds, names)
	n, _ := strconv.Atoi(fds)
	for fd := 3; fd < 3+n; fd++ {
		acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		fmt.Printf("fd%d listening=%v err=%v\n", fd, acc == 1, err)
	}
	os.Stdout.Sync()
	nfd, _, err := unix.Accept(3)
	if err != nil {
		return 3
	}
	unix.Write(nfd, []byte("served by "+strconv.Itoa(os.Getpid())+"\n"))
	unix.Close(nfd)
	return 0
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Addr // Text is filled in
		err  string
	}{
		{in: "tcp://127.0.0.1:8080", want: Addr{Network: TCP, Host: "127.0.0.1", Port: 8080}},
		{in: "tcp://:80", want: Addr{Network: TCP, Port: 80}},
		{in: "tcp://localhost:0", want: Addr{Network: TCP, Host: "127.0.0.1"}},
		{in: "tcp6://[::1]:443", want: Addr{Network: TCP6, Host: "::1", Port: 443}},
		{in: "tcp6://localhost:1", want: Addr{Network: TCP6, Host: "::1", Port: 1}},
		{in: "udp://0.0.0.0:53", want: Addr{Network: UDP, Host: "0.0.0.0", Port: 53}},
		{in: "unix:///run/app.sock", want: Addr{Network: Unix, Path: "/run/app.sock"}},
		{in: "127.0.0.1:80", err: "no scheme"},
		{in: "http://x:1", err: `unknown scheme "http"`},
		{in: "tcp://127.0.0.1", err: "missing port"},
		{in: "tcp://127.0.0.1:http", err: `port "http" is not a number`},
		{in: "tcp://127.0.0.1:70000", err: "port \"70000\""},
		{in: "tcp://example.com:80", err: `host "example.com" is not an IP address`},
		{in: "tcp6://127.0.0.1:80", err: "tcp6 needs an IPv6 address"},
		{in: "unix://run/app.sock", err: "absolute path"},
		{in: "unix:///" + strings.Repeat("x", 120), err: "shorter than 108"},
	} {
		got, err := ParseAddress(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseAddress(%q) error = %v, want it to contain %q", c.in, err, c.err)
			}
			continue
		}
		c.want.Text = c.in
		if err != nil || got != c.want {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	got, err := Parse([]any{"tcp://127.0.0.1:1", map[string]any{"address": "unix:///tmp/a.sock", "name": "admin"}})
	if err != nil || len(got) != 2 || got[0].Name != "" || got[1].Name != "admin" || got[1].Path != "/tmp/a.sock" {
		t.Fatalf("Parse = %+v, %v", got, err)
	}
	for _, c := range []struct {
		in  any
		err string
	}{
		{"tcp://127.0.0.1:1", "want a list"},
		{[]any{int64(80)}, "listen[0]: want an address string"},
		{[]any{"tcp://127.0.0.1:1", "udp://x:1"}, "listen[1]: \"udp://x:1\": host"},
		{[]any{map[string]any{"name": "a"}}, "listen[0]: a table needs address"},
		{[]any{map[string]any{"address": "tcp://:1", "nme": "a"}}, `unknown key "nme"`},
		{[]any{map[string]any{"address": "tcp://:1", "name": "a:b"}}, "listen[0].name"},
		{[]any{map[string]any{"address": "tcp://:1", "name": int64(1)}}, "listen[0].name: want a string"},
		{[]any{"tcp://:81", "tcp://:81"}, "is listen[0] again"},
	} {
		if _, err := Parse(c.in); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Parse(%v) error = %v, want it to contain %q", c.in, err, c.err)
		}
	}
}

func TestOpenUnix(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.sock")
	a, err := ParseAddress("unix://" + p)
	if err != nil {
		t.Fatal(err)
	}
	owner := Owner{UID: -1, GID: -1}
	if os.Geteuid() == 0 {
		owner = Owner{UID: 65534, GID: 65534}
	}
	for round := 0; round < 2; round++ { // the second replaces the first's file
		f, err := Open("web", a, owner)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != 0o660 || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			t.Errorf("mode %o, want socket 0660", st.Mode)
		}
		if owner.UID != -1 && (int(st.Uid) != owner.UID || int(st.Gid) != owner.GID) {
			t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, owner.UID, owner.GID)
		}
		c, err := net.Dial("unix", p)
		if err != nil {
			t.Fatalf("round %d: dial: %v", round, err)
		}
		c.Close()
		f.Close()
	}

	reg := filepath.Join(dir, "file")
	os.WriteFile(reg, []byte("keep"), 0o644)
	_, err = Open("web", Addr{Network: Unix, Path: reg, Text: "unix://" + reg}, owner)
	var be *BindError
	if !errors.As(err, &be) || !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "service web: listen unix://"+reg) {
		t.Errorf("Open over a regular file: %v, want a BindError with EEXIST", err)
	}
	if b, _ := os.ReadFile(reg); string(b) != "keep" {
		t.Errorf("regular file changed: %q", b)
	}
}

func TestOpenBindError(t *testing.T) {
	a, _ := ParseAddress("tcp://127.0.0.1:0")
	f, err := Open("one", a, Owner{-1, -1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sa, _ := unix.Getsockname(int(f.Fd()))
	port := sa.(*unix.SockaddrInet4).Port
	b, _ := ParseAddress("tcp://127.0.0.1:" + strconv.Itoa(port))
	_, err = Open("two", b, Owner{-1, -1})
	want := fmt.Sprintf("service two: listen tcp://127.0.0.1:%d: bind: address already in use (EADDRINUSE)", port)
	if err == nil || err.Error() != want {
		t.Errorf("second bind: %v, want %q", err, want)
	}
	// UDP and tcp6 open (tcp6 only where the machine has IPv6).
	u, _ := ParseAddress("udp://127.0.0.1:0")
	if f, err := Open("u", u, Owner{-1, -1}); err != nil {
		t.Errorf("udp: %v", err)
	} else {
		if typ, _ := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_TYPE); typ != unix.SOCK_DGRAM {
			t.Errorf("udp socket type %d", typ)
		}
		f.Close()
	}
}

// TestPassListenPID starts a child through the trampoline with a TCP and a
// unix socket: the child sees LISTEN_PID equal to its own pid (what
// sd_listen_fds() requires), both fds listening, the names; and a client
// connecting before the child accepts is served (the backlog held it).
func TestPassListenPID(t *testing.T) {
	dir := t.TempDir()
	tcp, _ := ParseAddress("tcp://127.0.0.1:0")
	sock, _ := ParseAddress("unix://" + filepath.Join(dir, "s"))
	sock.Name = "admin"
	set, err := OpenAll("web", "web", []Addr{tcp, sock}, Owner{-1, -1})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	sa, _ := unix.Getsockname(int(set.Files[0].Fd()))
	port := sa.(*unix.SockaddrInet4).Port
	// Connected before the child exists: waits in the backlog.
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	r, w, _ := os.Pipe()
	defer r.Close()
	exe, _ := os.Executable()
	spec := &spawn.Spec{
		Argv:  []string{exe},
		Env:   append(os.Environ(), "TEND_LISTEN_TEST_CHILD=1", "TEND_LISTEN_TEST_NESTED=1", "LISTEN_PID=1", "LISTEN_FDS=9"),
		Files: []uintptr{0, w.Fd(), 2},
	}
	if err := Pass(spec, set, exe); err != nil {
		t.Fatal(err)
	}
	pid, err := spawn.Start(spec)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(bufio.NewReader(r))
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	want := "pid-matches=true fds=2 names=web:admin\nfd3 listening=true err=<nil>\nfd4 listening=true err=<nil>\n"
	if string(out) != want || ws.ExitStatus() != 0 {
		t.Errorf("child said %q (exit %v), want %q", out, ws, want)
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if line != fmt.Sprintf("served by %d\n", pid) {
		t.Errorf("client got %q, want served by %d (the pid spawn returned is the program's own)", line, pid)
	}
}

func TestPassMissingCommand(t *testing.T) {
	a, _ := ParseAddress("tcp://127.0.0.1:0")
	set, err := OpenAll("web", "web", []Addr{a}, Owner{-1, -1})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	spec := &spawn.Spec{Argv: []string{"no-such-command-xyz"}, Env: []string{"PATH=/nonexistent"}, Files: []uintptr{0, 1, 2}}
	var se *spawn.Error
	if err := Pass(spec, set, "/proc/self/exe"); !errors.As(err, &se) || se.Code != spawn.CodeNotFound {
		t.Errorf("Pass with a missing command: %v, want spawn.Error 127", err)
	}
}

// BenchmarkStart measures what the trampoline adds to a start: fork+exec
// of /bin/true directly and through the trampoline (this test binary),
// each waited for.
func BenchmarkStart(b *testing.B) {
	exe, _ := os.Executable()
	a, _ := ParseAddress("tcp://127.0.0.1:0")
	set, err := OpenAll("b", "b", []Addr{a}, Owner{-1, -1})
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	for _, tramp := range []bool{false, true} {
		b.Run(fmt.Sprintf("trampoline=%v", tramp), func(b *testing.B) {
			for b.Loop() {
				spec := &spawn.Spec{Argv: []string{"/bin/true"}, Env: []string{"PATH=/bin"}, Files: []uintptr{0, 1, 2}}
				if tramp {
					if err := Pass(spec, set, exe); err != nil {
						b.Fatal(err)
					}
				}
				pid, err := spawn.Start(spec)
				if err != nil {
					b.Fatal(err)
				}
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, 0, nil)
			}
		})
	}
}

// TestOpenUnixSwapped: in a directory another user may write, the socket
// file bind made is replaced by a symlink before tend sets its mode and
// owner: the symlink's target keeps its mode and owner (chmod(2) followed
// it: a symlink to /etc/shadow made that 0660), and Open fails naming the
// address.
func TestOpenUnixSwapped(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.sock")
	victim := filepath.Join(dir, "secret")
	if err := os.WriteFile(victim, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { afterBind = func(string) {} }()
	afterBind = func(path string) {
		os.Remove(path)
		if err := os.Symlink(victim, path); err != nil {
			t.Fatal(err)
		}
	}
	owner := Owner{UID: -1, GID: -1}
	if os.Geteuid() == 0 {
		owner = Owner{UID: 65534, GID: 65534}
	}
	f, err := Open("web", Addr{Network: Unix, Path: p, Text: "unix://" + p}, owner)
	if err == nil {
		f.Close()
		t.Error("Open succeeded with its socket file replaced by a symlink")
	} else if !strings.Contains(err.Error(), "service web: listen unix://"+p) {
		t.Errorf("error %q does not name the service and address", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o600 || int(st.Uid) != os.Geteuid() {
		t.Errorf("the symlink's target became mode %o owner %d", st.Mode&0o7777, st.Uid)
	}
}
