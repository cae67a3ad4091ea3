package notify

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("TEND_NOTIFY_TEST_SEND"); addr != "" {
		if err := Send(addr, "READY=1"); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Message
	}{
		{"READY=1", Message{Ready: true}},
		{"READY=1\nSTATUS=serving 3 clients\n", Message{Ready: true, Status: "serving 3 clients", HasStatus: true}},
		{"STATUS=", Message{HasStatus: true}},
		{"STOPPING=1", Message{Stopping: true}},
		{"RELOADING=1\nMONOTONIC_USEC=123", Message{Reloading: true}},
		{"WATCHDOG=1", Message{Watchdog: true}},
		{"WATCHDOG=trigger", Message{}},
		{"MAINPID=4242", Message{MainPID: 4242}},
		{"MAINPID=-1\nMAINPID=x", Message{}},
		{"EXTEND_TIMEOUT_USEC=2500000", Message{ExtendTimeout: 2500 * time.Millisecond}},
		{"EXTEND_TIMEOUT_USEC=abc", Message{}},
		{"ERRNO=2", Message{Errno: 2, HasErrno: true}},
		{"ERRNO=-3", Message{}},
		{"FDSTORE=1\nX_CUSTOM=y\nnonsense\nREADY=0", Message{}},
		{"STATUS=a=b", Message{Status: "a=b", HasStatus: true}},
	} {
		if got := Parse([]byte(c.in)); got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestSocketCredentials: a datagram sent to a service's socket arrives with
// the sender's real pid and uid; the directory is 0700; Close ends Run and
// removes the directory.
func TestSocketCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svc")
	s, err := Listen(dir, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v, want mode 0700", st.Mode(), err)
	}
	got := make(chan Datagram, 4)
	done := make(chan error, 1)
	go func() { done <- s.Run(func(d Datagram) { got <- d }) }()

	if err := Send(s.Path, "READY=1\nSTATUS=up"); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.PID != os.Getpid() || d.UID != os.Getuid() || !d.Ready || d.Status != "up" {
			t.Errorf("got %+v, want READY from pid %d uid %d", d, os.Getpid(), os.Getuid())
		}
	case <-time.After(time.Minute):
		t.Fatal("no datagram within a minute")
	}
	// Another process's message carries its pid, not ours: what lets
	// the supervisor reject a process that is not the service's.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TEND_NOTIFY_TEST_SEND="+s.Path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sender: %v %s", err, out)
	}
	select {
	case d := <-got:
		if d.PID != cmd.Process.Pid || !d.Ready {
			t.Errorf("got %+v from the child, want READY with pid %d", d, cmd.Process.Pid)
		}
	case <-time.After(time.Minute):
		t.Fatal("no datagram from the child within a minute")
	}
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after Close")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir left after Close: %v", err)
	}
}

// TestSendUpward: Send reaches a manager's socket at a path and at an
// abstract ('@') address; an empty address sends nothing; a relative one
// is an error.
func TestSendUpward(t *testing.T) {
	for _, addr := range []string{
		filepath.Join(t.TempDir(), "manager.sock"),
		fmt.Sprintf("@tend-test-notify-%d", os.Getpid()),
	} {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
			t.Fatal(err)
		}
		if err := Send(addr, "STOPPING=1"); err != nil {
			t.Errorf("Send(%q): %v", addr, err)
		}
		buf := make([]byte, 64)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 60})
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || string(buf[:n]) != "STOPPING=1" {
			t.Errorf("%s received %q, %v", addr, buf[:max(n, 0)], err)
		}
		unix.Close(fd)
	}
	if err := Send("", "READY=1"); err != nil {
		t.Errorf("Send with no manager: %v", err)
	}
	if err := Send("relative", "READY=1"); err == nil || !strings.Contains(err.Error(), "absolute path or @abstract") {
		t.Errorf("Send to a relative address: %v", err)
	}
}

func TestStripEnv(t *testing.T) {
	got := StripEnv([]string{"A=1", "NOTIFY_SOCKET=/run/x", "NOTIFY_SOCKETX=2"})
	if strings.Join(got, " ") != "A=1 NOTIFY_SOCKETX=2" {
		t.Errorf("StripEnv = %q", got)
	}
}

// TestSocketIgnoresInvalid: a datagram longer than MaxDatagram or with a
// NUL byte is ignored whole, as systemd ignores it (read as far as it
// went, its READY=1 was taken, and MAINPID=1234 cut at the limit would
// have been MAINPID=12); the next good one is read.
func TestSocketIgnoresInvalid(t *testing.T) {
	s, err := Listen(filepath.Join(t.TempDir(), "svc"), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan Datagram, 8)
	go s.Run(func(d Datagram) { got <- d })
	long := "READY=1\nSTATUS=" + strings.Repeat("x", MaxDatagram-len("READY=1\nSTATUS=MAINPID=12")) + "\nMAINPID=1234"
	for _, c := range []struct{ msg, invalid string }{
		{long, "longer than 4096 bytes"},
		{"READY=1\nSTATUS=a\x00b", "it has a NUL byte"},
		{"STATUS=ok", ""},
	} {
		if err := Send(s.Path, c.msg); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if d.Invalid != c.invalid || (c.invalid != "" && d.Message != (Message{})) {
				t.Errorf("%.40q: got %+v, want invalid %q and nothing parsed", c.msg, d.Message, c.invalid)
			}
		case <-time.After(time.Minute):
			t.Fatal("no datagram within a minute")
		}
	}
}
