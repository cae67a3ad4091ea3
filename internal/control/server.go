package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/logs"

	"github.com/tend-sh/tend/internal/safe"
	"github.com/tend-sh/tend/internal/status"
)

// config holds the server's limits; tests shorten them.
type config struct {
	readTimeout  time.Duration // to receive the whole request after connecting
	writeTimeout time.Duration // for each reply write
	maxConns     int           // connections served at once; more get CodeBusy
	allowUID     func(uid uint32) bool
	followTotal  int // FollowBudget
	followEach   int // FollowerBudget
	maxFollowers int // MaxFollowers
}

func defaultConfig() config {
	return config{readTimeout: 5 * time.Second, writeTimeout: 10 * time.Second, maxConns: 4096,
		followTotal: FollowBudget, followEach: FollowerBudget, maxFollowers: MaxFollowers}
}

// Server serves the control socket. Close stops it.
type Server struct {
	path string
	ln   *net.UnixListener
	fi   os.FileInfo // the socket file we created, to remove only that one
	b    Backend
	l    LogSource
	log  *slog.Logger
	cfg  config

	done       chan struct{} // closed by Close
	acceptDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	mu    sync.Mutex
	conns map[*net.UnixConn]struct{}

	follow *followBudget // what logs -f followers may queue
}

// Serve creates the control socket at path (see the package documentation
// for how an existing socket is handled) and serves it in the background
// until Close. l may be nil (then "tend logs" fails); log may be nil.
func Serve(path string, b Backend, l LogSource, log *slog.Logger) (*Server, error) {
	return serve(path, b, l, log, defaultConfig())
}

func serve(path string, b Backend, l LogSource, log *slog.Logger, cfg config) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.allowUID == nil {
		self := uint32(os.Getuid())
		cfg.allowUID = func(uid uint32) bool { return uid == 0 || uid == self }
	}
	ln, fi, note, err := listen(path)
	if err != nil {
		return nil, err
	}
	if note != "" {
		log.Warn("control socket: " + note)
	}
	s := &Server{
		path: path, ln: ln, fi: fi, b: b, l: l, log: log, cfg: cfg,
		done:       make(chan struct{}),
		acceptDone: make(chan struct{}),
		conns:      make(map[*net.UnixConn]struct{}),
		follow:     newFollowBudget(cfg.followTotal, cfg.followEach, cfg.maxFollowers),
	}
	safe.Go("control accept", s.acceptLoop)
	return s, nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops accepting, closes every connection (log followers included)
// and removes the socket if it is still the one Serve created. It does not
// wait for Backend calls in progress. It may be called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeErr = s.ln.Close()
		<-s.acceptDone
		if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.fi) {
			if err := os.Remove(s.path); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.conns = nil
		s.mu.Unlock()
	})
	return s.closeErr
}

// listen binds the socket at path: 0600 from the start, replacing a stale
// socket, refusing to replace a live one or anything that is not a socket,
// and refusing a directory other users could change (see trustDir).
//
// No step follows a link another user could plant: the socket is bound in
// a fresh directory of its own (mkdtemp: 0700, unpredictable name) inside
// the socket's directory, with mode 0600 set on the socket before bind (on
// Linux the node bind creates takes the socket inode's mode, masked by the
// umask, so the process-wide umask is never touched), then hard-linked
// into place: link(2) follows neither name and fails if path was taken
// meanwhile.
func listen(path string) (ln *net.UnixListener, fi os.FileInfo, note string, err error) {
	if path == "" {
		return nil, nil, "", errors.New("control socket: empty path")
	}
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, nil, "", fmt.Errorf("control socket %s: path too long (%d bytes, at most %d)", path, len(path), len(unix.RawSockaddrUnix{}.Path)-1)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	uid := uint32(os.Getuid())
	missing, fix, err := trustDir(dir, uid)
	if err != nil {
		return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
	}
	if missing != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, "", fmt.Errorf("control socket: %w", err)
		}
		if _, fix, err = trustDir(dir, uid); err != nil {
			return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
		}
	}
	// The socket's own directory, owned by root or us, writable by others
	// (a Kubernetes emptyDir is 0777): add the sticky bit rather than
	// refuse it.
	if fix != "" {
		if note, err = fixDir(fix, uid); err != nil {
			return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
		}
		if _, fix, err = trustDir(dir, uid); err != nil || fix != "" {
			return nil, nil, "", fmt.Errorf("control socket %s: directory %s is still writable by others: %v", path, fix, err)
		}
	}
	stale, err := probe(path)
	if err != nil {
		return nil, nil, "", err
	}
	priv, err := os.MkdirTemp(dir, ".tend-")
	if err != nil {
		return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
	}
	defer os.Remove(priv)
	tmp := filepath.Join(priv, "s")
	defer os.Remove(tmp)
	bindPath := tmp
	if len(bindPath) >= len(unix.RawSockaddrUnix{}.Path) {
		// The private directory made the path too long for sun_path:
		// reach it through an fd of its own instead.
		d, err := os.Open(priv)
		if err != nil {
			return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
		}
		defer d.Close()
		bindPath = "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/s"
	}
	ln, err = bindUnix(bindPath)
	if err != nil {
		return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
	}
	fail := func(err error) (*net.UnixListener, os.FileInfo, string, error) {
		ln.Close()
		return nil, nil, "", fmt.Errorf("control socket %s: %w", path, err)
	}
	fi, err = os.Lstat(tmp)
	if err != nil {
		return fail(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// A kernel that ignored the fchmod: nobody else can reach tmp
		// inside priv yet, so restricting it now is still race-free.
		if err := os.Chmod(tmp, 0o600); err != nil {
			return fail(err)
		}
	}
	if stale {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			ln.Close()
			return nil, nil, "", fmt.Errorf("control socket %s: another tend is already running there", path)
		}
		return fail(err)
	}
	got, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	if !os.SameFile(got, fi) {
		return fail(errors.New("replaced while it was being created"))
	}
	return ln, got, note, nil
}

// bindUnix creates a listening unix stream socket at path with mode 0600
// (fchmod before bind; see listen).
func bindUnix(path string) (*net.UnixListener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener has its own dup
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return nil, os.NewSyscallError("fchmod", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("not a unix listener (%T)", l)
	}
	ul.SetUnlinkOnClose(false)
	return ul, nil
}

// probe reports whether path holds a stale socket (one nobody listens on);
// it fails if path is a live socket or not a socket.
func probe(path string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return false, fmt.Errorf("control socket %s: exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("control socket %s: another tend is already running there", path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, nil
	}
	return false, fmt.Errorf("control socket %s: cannot tell whether it is in use: %w", path, err)
}

func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ENFILE, ENOBUFS...: wait a little and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("control: accept: "+err.Error(), "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-s.done:
				return
			}
		}
		backoff = 0
		switch s.track(c) {
		case trackClosed:
			c.Close()
		case trackBusy:
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			writeJSON(c, Reply{V: Version, Error: "too many connections", Code: CodeBusy})
			c.Close()
		default:
			safe.Go("control connection", func() { s.handle(c) })
		}
	}
}

const (
	trackOK = iota
	trackBusy
	trackClosed
)

func (s *Server) track(c *net.UnixConn) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conns == nil:
		return trackClosed
	case len(s.conns) >= s.cfg.maxConns:
		return trackBusy
	}
	s.conns[c] = struct{}{}
	return trackOK
}

func (s *Server) untrack(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns != nil {
		delete(s.conns, c)
	}
}

// handle serves one connection: one request, one reply (or a log stream).
func (s *Server) handle(c *net.UnixConn) {
	defer s.untrack(c)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(s.cfg.readTimeout))
	if err := s.checkPeer(c); err != nil {
		s.reply(c, Reply{V: Version, Error: err.Error(), Code: CodePermission})
		return
	}
	line, err := readRequest(c)
	if err != nil {
		switch {
		case errors.Is(err, errTooLarge):
			s.reply(c, errorReply(badRequest("request too large (limit %d bytes)", MaxRequest)))
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.reply(c, errorReply(badRequest("timed out waiting for the request")))
		case errors.Is(err, io.EOF):
			// The client went away without asking anything.
		default:
			s.log.Debug("control: read: " + err.Error())
		}
		return
	}
	req, err := Decode(line)
	if err != nil {
		s.reply(c, errorReply(err))
		return
	}
	c.SetReadDeadline(time.Time{})
	if req.Op == OpLogs {
		s.logs(c, req)
		return
	}
	s.reply(c, s.do(req))
}

// do runs a request other than logs against the backend.
func (s *Server) do(req Request) Reply {
	var err error
	ok := Reply{V: Version, OK: true}
	switch req.Op {
	case OpStatus:
		var ss []status.ServiceStatus
		if req.Usage {
			ss, ok.Totals, err = StatusWithUsage(s.b, req.Names)
		} else {
			ss, err = s.b.Status(req.Names)
		}
		ok.Services = ss
		ok.ShuttingDown = s.b.ShuttingDown()
	case OpStart:
		err = s.b.Start(req.Names)
	case OpStop:
		err = s.b.Stop(req.Names)
	case OpRestart:
		err = s.b.Restart(req.Names)
	case OpSignal:
		sig, _ := ParseSignal(req.Signal) // validated by Decode
		err = s.b.Signal(req.Names[0], sig)
	case OpShutdown:
		err = s.b.Shutdown()
	case OpReopenLogs:
		err = reopenLogs(s.l)
	case OpRun:
		if r, ok := s.b.(JobRunner); ok {
			err = r.RunJob(req.Names[0])
		} else {
			err = errors.New("this tend runs no jobs")
		}
	}
	if err != nil {
		return errorReply(err)
	}
	return ok
}

// checkPeer allows root and tend's own uid.
func (s *Server) checkPeer(c *net.UnixConn) error {
	cred, cerr := peerCred(c)
	if cerr != nil {
		return fmt.Errorf("permission denied: cannot read peer credentials: %v", cerr)
	}
	if !s.cfg.allowUID(cred.Uid) {
		s.log.Warn("control: refused a client", "uid", cred.Uid, "pid", cred.Pid)
		return fmt.Errorf("permission denied: uid %d may not control tend (only root and uid %d)", cred.Uid, os.Getuid())
	}
	return nil
}

var errTooLarge = errors.New("request too large")

// readRequest reads one line of at most MaxRequest bytes (newline
// included). A final line without newline counts if the client then closes
// its side (EOF); any other error, a deadline included, fails.
func readRequest(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) >= MaxRequest {
			return nil, errTooLarge
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), MaxRequest-cap(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), MaxRequest)])
		if i := bytes.IndexByte(buf[len(buf):len(buf)+n], '\n'); i >= 0 {
			return buf[:len(buf)+i], nil
		}
		buf = buf[:len(buf)+n]
		if err == io.EOF && len(buf) > 0 {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (s *Server) reply(c *net.UnixConn, r Reply) {
	c.SetWriteDeadline(time.Now().Add(s.cfg.writeTimeout))
	if err := writeJSON(c, r); err != nil {
		s.log.Debug("control: write: " + err.Error())
	}
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// logs serves a logs request: the recent lines, merged by time, then with
// Follow the new ones until the client goes away or the server closes.
func (s *Server) logs(c *net.UnixConn, req Request) {
	if s.l == nil {
		s.reply(c, errorReply(errors.New("logs are not available")))
		return
	}
	ss, err := s.b.Status(req.Names)
	if err != nil {
		s.reply(c, errorReply(err))
		return
	}
	names := req.Names
	if len(names) == 0 {
		for _, st := range ss {
			names = append(names, st.Name)
		}
	}
	var f *follower
	if req.Follow {
		// Subscribe before reading the tail so that no line falls in
		// between; lines seen in the tail are skipped by Seq.
		if f, err = s.follow.add(); err != nil {
			s.reply(c, errorReply(err))
			return
		}
		defer s.follow.remove(f)
		cancel := s.l.Subscribe(req.Names, f.deliver)
		defer cancel()
	}
	var tail []logs.Line
	last := make(map[string]uint64, len(names))
	for _, n := range names {
		t := s.l.Tail(n, req.Lines)
		if len(t) > 0 {
			last[n] = t[len(t)-1].Seq
		}
		tail = append(tail, t...)
	}
	slices.SortStableFunc(tail, func(a, b logs.Line) int { return a.Time.Compare(b.Time) })

	w := &streamWriter{c: c, bw: bufio.NewWriterSize(c, 32<<10), timeout: s.cfg.writeTimeout}
	w.put(Reply{V: Version, OK: true})
	for _, l := range tail {
		w.line(l)
	}
	if !req.Follow {
		w.put(LogMsg{End: true})
		w.flush()
		return
	}
	if w.flush() != nil {
		return
	}
	// The client sends nothing more; a read returning means it is gone.
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(gone)
	}()
	for {
		select {
		case <-f.wake:
		case <-gone:
			return
		case <-s.done:
			return
		}
		// Write what is queued, then flush once.
		for w.err == nil {
			l, ok, dropped := f.next()
			if dropped != "" {
				s.log.Warn("control: a log follower fell behind and was dropped")
				w.put(LogMsg{Error: dropped})
				w.flush()
				return
			}
			if !ok {
				break
			}
			if l.Seq > last[l.Service] {
				w.line(l)
			}
		}
		if w.flush() != nil {
			return
		}
	}
}

// streamWriter buffers stream messages; the first error sticks.
type streamWriter struct {
	c       *net.UnixConn
	bw      *bufio.Writer
	timeout time.Duration
	err     error
}

func (w *streamWriter) put(v any) {
	if w.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.err = err
		return
	}
	w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	if _, err := w.bw.Write(append(b, '\n')); err != nil {
		w.err = err
	}
}

func (w *streamWriter) line(l logs.Line) {
	w.put(LogMsg{Line: &LogLine{
		Time: l.Time, Service: l.Service, Stream: l.Stream.String(),
		Seq: l.Seq, Cont: l.Cont, Text: string(l.Text),
	}})
}

func (w *streamWriter) flush() error {
	if w.err == nil {
		w.c.SetWriteDeadline(time.Now().Add(w.timeout))
		w.err = w.bw.Flush()
	}
	return w.err
}
