// Package listen creates the sockets a service inherits (its `listen`
// key) and hands them to a child as systemd's socket activation does:
// fds 3, 4, … with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID, so that
// sd_listen_fds() and every library built on it accept them.
//
// LISTEN_PID must equal the child's own pid, which is known only after
// the fork, and syscall.ForkExec cannot change the environment between
// fork and exec. So a child that inherits sockets is started through a
// trampoline: tend's own binary, re-executed with a hidden first argument
// (TrampolineArg), sets LISTEN_PID to its pid (which exec keeps) and
// execs the target. Programs that embed this package call
// RunTrampoline first thing in main.
package listen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Network is the kind of socket an address names.
type Network string

// The networks a `listen` address may name.
const (
	TCP  Network = "tcp"  // IPv4 (or an IPv6 literal) stream socket
	TCP6 Network = "tcp6" // IPv6-only stream socket
	UDP  Network = "udp"  // datagram socket
	Unix Network = "unix" // unix-domain stream socket at a path
)

// Addr is one parsed `listen` entry.
type Addr struct {
	Network Network
	// Host and Port for tcp, tcp6 and udp; Path for unix.
	Host string
	Port int
	Path string
	// Name is the entry's LISTEN_FDNAMES name ("" = the service's name).
	Name string
	// Text is the address as written.
	Text string
}

func (a Addr) String() string { return a.Text }

// accepted says what a `listen` address may be; parse errors end with it.
const accepted = `want "tcp://HOST:PORT", "tcp6://[ADDR]:PORT", "udp://HOST:PORT" or "unix:///absolute/path"`

// ParseAddress parses one address: tcp://HOST:PORT, tcp6://[ADDR]:PORT,
// udp://HOST:PORT or unix:///absolute/path. An empty HOST means every
// address (0.0.0.0; [::] for tcp6). HOST is an IP literal or "localhost".
func ParseAddress(s string) (Addr, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Addr{}, fmt.Errorf("%q: no scheme: %s", s, accepted)
	}
	a := Addr{Network: Network(scheme), Text: s}
	switch a.Network {
	case Unix:
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return Addr{}, fmt.Errorf("%q: a unix socket needs an absolute path: %s", s, accepted)
		}
		if strings.ContainsRune(rest, 0) || len(rest) >= 108 {
			return Addr{}, fmt.Errorf("%q: a unix socket path must be shorter than 108 bytes, without NUL", s)
		}
		a.Path = rest
		return a, nil
	case TCP, TCP6, UDP:
	default:
		return Addr{}, fmt.Errorf("%q: unknown scheme %q: %s", s, scheme, accepted)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return Addr{}, fmt.Errorf("%q: %v: %s", s, err, accepted)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return Addr{}, fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	a.Port = p
	switch {
	case host == "":
	case host == "localhost":
		host = "127.0.0.1"
		if a.Network == TCP6 {
			host = "::1"
		}
	default:
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return Addr{}, fmt.Errorf("%q: host %q is not an IP address or localhost", s, host)
		}
		if a.Network == TCP6 && !ip.Is6() {
			return Addr{}, fmt.Errorf("%q: tcp6 needs an IPv6 address in brackets, as tcp6://[::1]:PORT", s)
		}
	}
	a.Host = host
	return a, nil
}

// Parse reads a `listen` value as the TOML decoder gives it: a list whose
// entries are strings or tables { address = "…", name = "…" }. Errors
// name the entry (listen[i]) and what is accepted; the caller adds file:line.
func Parse(v any) ([]Addr, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("listen: want a list of addresses or { address, name } tables, got %T", v)
	}
	out := make([]Addr, 0, len(list))
	seen := map[string]int{}
	for i, e := range list {
		var text, name string
		switch e := e.(type) {
		case string:
			text = e
		case map[string]any:
			for k, kv := range e {
				s, ok := kv.(string)
				switch {
				case k != "address" && k != "name":
					return nil, fmt.Errorf("listen[%d]: unknown key %q: want address and name", i, k)
				case !ok:
					return nil, fmt.Errorf("listen[%d].%s: want a string, got %T", i, k, kv)
				case k == "address":
					text = s
				default:
					name = s
				}
			}
			if text == "" {
				return nil, fmt.Errorf("listen[%d]: a table needs address = \"…\"", i)
			}
			if err := checkName(name); err != nil {
				return nil, fmt.Errorf("listen[%d].name: %v", i, err)
			}
		default:
			return nil, fmt.Errorf("listen[%d]: want an address string or { address, name }, got %T", i, e)
		}
		a, err := ParseAddress(text)
		if err != nil {
			return nil, fmt.Errorf("listen[%d]: %v", i, err)
		}
		a.Name = name
		key := string(a.Network) + " " + a.Host + " " + strconv.Itoa(a.Port) + " " + a.Path
		if j, dup := seen[key]; dup && a.Port != 0 {
			return nil, fmt.Errorf("listen[%d]: %q is listen[%d] again", i, text, j)
		}
		seen[key] = i
		out = append(out, a)
	}
	return out, nil
}

// checkName: LISTEN_FDNAMES is colon-separated; systemd allows names of
// at most 255 printable ASCII characters without ':'.
func checkName(n string) error {
	if n == "" {
		return errors.New(`empty: leave name out for the service's name`)
	}
	if len(n) > 255 {
		return errors.New("longer than 255 characters")
	}
	for _, r := range n {
		if r <= ' ' || r > '~' || r == ':' {
			return fmt.Errorf("%q: only printable ASCII without spaces or ':'", n)
		}
	}
	return nil
}

// BindError is a socket that could not be created: it names the
// service, the address and the errno.
type BindError struct {
	Service string
	Addr    string
	Op      string // socket, bind, listen, chown, chmod, remove
	Err     error
}

func (e *BindError) Error() string {
	var errno unix.Errno
	if errors.As(e.Err, &errno) {
		return fmt.Sprintf("service %s: listen %s: %s: %v (%s)", e.Service, e.Addr, e.Op, e.Err, unix.ErrnoName(errno))
	}
	return fmt.Sprintf("service %s: listen %s: %s: %v", e.Service, e.Addr, e.Op, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

// Owner is who owns a unix socket file (the service's user); -1 leaves
// that id alone.
type Owner struct{ UID, GID int }

// Backlog is the listen(2) backlog: the kernel caps it at somaxconn.
const Backlog = 4096

// Open creates, binds and (for stream sockets) listens on a. The socket is
// close-on-exec in tend; Files hands it to children. A unix socket file
// is created with mode 0660 and owned by owner; an existing socket at the
// path is replaced, anything else there is an error (EEXIST).
func Open(service string, a Addr, owner Owner) (*os.File, error) {
	fail := func(op string, err error) (*os.File, error) {
		return nil, &BindError{Service: service, Addr: a.Text, Op: op, Err: err}
	}
	var (
		family = unix.AF_INET
		typ    = unix.SOCK_STREAM
		sa     unix.Sockaddr
	)
	if a.Network == UDP {
		typ = unix.SOCK_DGRAM
	}
	switch a.Network {
	case Unix:
		family = unix.AF_UNIX
		sa = &unix.SockaddrUnix{Name: a.Path}
	default:
		var ip netip.Addr
		switch {
		case a.Host != "":
			ip = netip.MustParseAddr(a.Host)
		case a.Network == TCP6:
			ip = netip.IPv6Unspecified()
		default:
			ip = netip.IPv4Unspecified()
		}
		if ip.Is4() || ip.Is4In6() {
			sa = &unix.SockaddrInet4{Port: a.Port, Addr: ip.Unmap().As4()}
		} else {
			family = unix.AF_INET6
			sa = &unix.SockaddrInet6{Port: a.Port, Addr: ip.As16()}
		}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt SO_REUSEADDR", err)
		}
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("setsockopt IPV6_V6ONLY", err)
		}
	}
	if family == unix.AF_UNIX {
		if err := clearPath(a.Path); err != nil {
			return fail("remove", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if family == unix.AF_UNIX {
		afterBind(a.Path)
		if op, err := own(a.Path, owner); err != nil {
			return fail(op, err)
		}
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, Backlog); err != nil {
			return fail("listen", err)
		}
	}
	ok = true
	return os.NewFile(uintptr(fd), a.Text), nil
}

// afterBind runs between a unix socket's bind and its chmod (a seam for
// the tests: what another user who may write the directory could do).
var afterBind = func(string) {}

// own gives the socket file at p mode 0660 and owner, without following a
// symlink: in a directory another user may write, the file bind made
// can be replaced by a symlink to any file before the chmod (chmod(2)
// follows it: /etc/shadow would become 0660). The file is opened O_PATH
// and O_NOFOLLOW, must be a socket, and is changed through its fd. It
// returns the failed operation.
func own(p string, owner Owner) (string, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "open", err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "stat", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "chmod", fmt.Errorf("%s was replaced by something that is not a socket: %w", p, unix.EEXIST)
	}
	// fchmod does not take an O_PATH fd; its /proc/self/fd link does.
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), 0o660); err != nil {
		return "chmod", err
	}
	if owner.UID != -1 || owner.GID != -1 {
		if err := unix.Fchownat(fd, "", owner.UID, owner.GID, unix.AT_EMPTY_PATH); err != nil {
			return "chown", err
		}
	}
	return "", nil
}

// clearPath removes a socket file at p; nothing there is fine; anything
// else is EEXIST.
func clearPath(p string) error {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case err != nil:
		return err
	case st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return fmt.Errorf("%s exists and is not a socket: %w", p, unix.EEXIST)
	}
	return unix.Unlink(p)
}

// Set is a service's open sockets, in `listen` order, with their names.
type Set struct {
	Files []*os.File
	Names []string
}

// OpenAll opens every address for service; defaultName names entries
// without a name. On error the sockets opened so far are closed.
func OpenAll(service, defaultName string, addrs []Addr, owner Owner) (*Set, error) {
	s := &Set{}
	for _, a := range addrs {
		f, err := Open(service, a, owner)
		if err != nil {
			s.Close()
			return nil, err
		}
		n := a.Name
		if n == "" {
			n = defaultName
		}
		s.Files = append(s.Files, f)
		s.Names = append(s.Names, n)
	}
	return s, nil
}

// Close closes every socket of the set (unix socket files stay, as
// systemd leaves them; the next Open replaces them).
func (s *Set) Close() {
	if s == nil {
		return
	}
	for _, f := range s.Files {
		f.Close()
	}
	s.Files, s.Names = nil, nil
}
