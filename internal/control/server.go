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
)

// config holds the server's limits; tests shorten them.
type config struct {
	readTimeout  time.Duration // to receive the whole request after connecting
	writeTimeout time.Duration // for each reply write
	maxConns     int           // connections served at once; more get CodeBusy
	allowUID     func(uid uint32) bool
}

func defaultConfig() config {
	return config{readTimeout: 5 * time.Second, writeTimeout: 10 * time.Second, maxConns: 4096}
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
	ln, fi, err := listen(path)
	if err != nil {
		return nil, err
	}
	s := &Server{
		path: path, ln: ln, fi: fi, b: b, l: l, log: log, cfg: cfg,
		done:       make(chan struct{}),
		acceptDone: make(chan struct{}),
		conns:      make(map[*net.UnixConn]struct{}),
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
// socket, refusing to replace a live one or anything that is not a socket.
func listen(path string) (*net.UnixListener, os.FileInfo, error) {
	if path == "" {
		return nil, nil, errors.New("control socket: empty path")
	}
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, nil, fmt.Errorf("control socket %s: path too long (%d bytes, at most %d)", path, len(path), len(unix.RawSockaddrUnix{}.Path)-1)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	stale, err := probe(path)
	if err != nil {
		return nil, nil, err
	}
	// Bind under a temporary name, restrict it, then link it into place:
	// the socket is never reachable at path with the umask's mode, and
	// link fails (unlike rename) if another tend took path meanwhile.
	tmp := filepath.Join(dir, ".tend-"+strconv.Itoa(os.Getpid())+".sock")
	if len(tmp) >= len(unix.RawSockaddrUnix{}.Path) {
		tmp = path + "~"
	}
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if stale {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			ln.Close()
			os.Remove(tmp)
			return nil, nil, fmt.Errorf("control socket %s: another tend is already running there", path)
		}
		return fail(err)
	}
	os.Remove(tmp)
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, fi, nil
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
		var ss []ServiceStatus
		ss, err = s.b.Status(req.Names)
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
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
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
	var sub <-chan logs.Line
	if req.Follow {
		// Subscribe before reading the tail so that no line falls in
		// between; lines seen in the tail are skipped by Seq.
		var cancel func()
		sub, cancel = s.l.Subscribe(req.Names)
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
		case l, ok := <-sub:
			if !ok {
				w.put(LogMsg{End: true})
				w.flush()
				return
			}
			if l.Seq > last[l.Service] {
				w.line(l)
			}
			// Batch what is already queued into one flush.
			for more := true; more && w.err == nil; {
				select {
				case l, ok := <-sub:
					if !ok {
						more = false
						break
					}
					if l.Seq > last[l.Service] {
						w.line(l)
					}
				default:
					more = false
				}
			}
			if w.flush() != nil {
				return
			}
		case <-gone:
			return
		case <-s.done:
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
