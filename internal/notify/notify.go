// Package notify speaks systemd's sd_notify protocol both ways: a
// per-service datagram socket whose messages (READY=1, STATUS=…, …) come
// with the sender's credentials, and Send, which tend uses to tell its own
// manager ($NOTIFY_SOCKET) that it is ready, what it is doing, and that it
// is stopping.
package notify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Message is one parsed datagram. Assignments tend does not understand
// are ignored, as systemd ignores them; so are malformed values.
type Message struct {
	Ready, Stopping, Reloading, Watchdog bool
	// Status is the STATUS= text when HasStatus.
	Status    string
	HasStatus bool
	// MainPID is MAINPID= (0: not given).
	MainPID int
	// ExtendTimeout is EXTEND_TIMEOUT_USEC= (0: not given).
	ExtendTimeout time.Duration
	// Errno is ERRNO= when HasErrno.
	Errno    int
	HasErrno bool
}

// Parse reads a datagram: newline-separated KEY=VALUE assignments.
func Parse(b []byte) Message {
	var m Message
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "READY":
			m.Ready = v == "1"
		case "STOPPING":
			m.Stopping = v == "1"
		case "RELOADING":
			m.Reloading = v == "1"
		case "WATCHDOG":
			m.Watchdog = v == "1"
		case "STATUS":
			m.Status, m.HasStatus = v, true
		case "MAINPID":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				m.MainPID = n
			}
		case "EXTEND_TIMEOUT_USEC":
			if n, err := strconv.ParseUint(v, 10, 63); err == nil && n > 0 {
				m.ExtendTimeout = time.Duration(min(n, uint64(1<<63-1)/1000)) * time.Microsecond
			}
		case "ERRNO":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				m.Errno, m.HasErrno = n, true
			}
		}
	}
	return m
}

// Datagram is a message with its sender's credentials (SO_PASSCRED: the
// kernel fills them in; a sender cannot forge another process's pid).
type Datagram struct {
	PID, UID, GID int
	Message
	// Invalid says why the datagram was not parsed ("": it was): longer
	// than MaxDatagram, or with a NUL byte. Its Message is empty.
	Invalid string
}

// MaxDatagram is the largest message taken (systemd's limit is the page
// size); a longer one is ignored whole, as systemd ignores it (parsed as
// far as it was read, MAINPID=1234 could become MAINPID=12).
const MaxDatagram = 4096

// Socket is one service's NOTIFY_SOCKET.
type Socket struct {
	// Path is the socket's path: the child's NOTIFY_SOCKET.
	Path   string
	dir    string
	f      *os.File
	closed atomic.Bool
}

// Listen creates dir (mode 0700, owned by uid:gid — only tend, as root,
// and the service's user reach it; -1 leaves an id alone), replacing one
// left by an earlier run, and a datagram socket dir/notify in it that
// receives the sender's credentials.
func Listen(dir string, uid, gid int) (*Socket, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if uid != -1 || gid != -1 {
		if err := os.Lchown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("notify socket: %w", err)
		}
	}
	path := filepath.Join(dir, "notify")
	if len(path) >= 108 {
		return nil, fmt.Errorf("notify socket: path %s is longer than 107 bytes", path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	fail := func(op string, err error) (*Socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("notify socket %s: %s: %w", path, op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fail("SO_PASSCRED", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fail("bind", err)
	}
	if uid != -1 || gid != -1 {
		if err := unix.Lchown(path, uid, gid); err != nil {
			return fail("chown", err)
		}
	}
	// NewFile sees the non-blocking fd and reads it through the runtime's
	// poller: Close wakes the reader.
	return &Socket{Path: path, dir: dir, f: os.NewFile(uintptr(fd), path)}, nil
}

// Run reads datagrams until Close, handing each to post; run it in its
// own goroutine (reading never blocks the caller's event loop). A
// datagram without credentials is posted with PID 0.
func (s *Socket) Run(post func(Datagram)) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	buf := make([]byte, MaxDatagram)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*16))
	for {
		var n, oobn, flags int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			return err
		}
		if rerr != nil {
			if rerr == unix.EINTR {
				continue
			}
			return rerr
		}
		var d Datagram
		switch {
		case flags&unix.MSG_TRUNC != 0:
			d.Invalid = fmt.Sprintf("longer than %d bytes", MaxDatagram)
		case bytes.IndexByte(buf[:n], 0) >= 0:
			d.Invalid = "it has a NUL byte"
		default:
			d.Message = Parse(buf[:n])
		}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level != unix.SOL_SOCKET {
					continue
				}
				switch m.Header.Type {
				case unix.SCM_CREDENTIALS:
					if c, err := unix.ParseUnixCredentials(&m); err == nil {
						d.PID, d.UID, d.GID = int(c.Pid), int(c.Uid), int(c.Gid)
					}
				case unix.SCM_RIGHTS: // fds passed (FDSTORE): not kept
					if fds, err := unix.ParseUnixRights(&m); err == nil {
						for _, fd := range fds {
							unix.Close(fd)
						}
					}
				}
			}
		}
		post(d)
	}
}

// Close closes the socket (Run returns) and removes its directory.
func (s *Socket) Close() error {
	s.closed.Store(true)
	err := s.f.Close()
	os.RemoveAll(s.dir)
	return err
}

// Send sends msg to a manager's notify socket addr (the value of
// $NOTIFY_SOCKET: a path, or '@' for an abstract address, as systemd
// and podman use). An empty addr is no manager: nothing is sent.
func Send(addr, msg string) error {
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or @abstract name", addr)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET=%s: %w", addr, err)
	}
	defer unix.Close(fd)
	// MSG_DONTWAIT: a manager that does not read never blocks tend.
	if err := unix.Sendto(fd, []byte(msg), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, &unix.SockaddrUnix{Name: addr}); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET=%s: %w", addr, err)
	}
	return nil
}

// StripEnv returns env without NOTIFY_SOCKET (children never get tend's
// own manager's socket).
func StripEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			out = append(out, kv)
		}
	}
	return out
}
