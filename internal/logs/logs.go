// Package logs multiplexes the output of supervised services onto tend's
// own stdout and stderr, line by line, and keeps the most recent lines of
// every service in memory for "tend logs".
//
// Each pipe given to [Mux.Attach] is read by its own goroutine. A service's
// stdout goes to the Mux's stdout, its stderr to the Mux's stderr, in one of
// two formats:
//
//	Text:  [2026-11-24T12:00:00.123Z ]name  | line
//	JSON:  {"time":"2026-11-24T12:00:00.123456789Z","service":"name","stream":"stdout","line":"line"}
//
// A service may have a file instead of, or besides, these destinations
// ([Mux.SetFile]); the guarantees below hold for it too.
//
// Guarantees:
//
//   - The complete lines of one read of a pipe are formatted into one
//     buffer and handed to the destination in one Write call (another one
//     every 64 KiB of output; a buffer always holds whole lines), under a
//     mutex per destination (stdout and stderr share one mutex when they are
//     the same file, e.g. a terminal or 2>&1). Lines are never torn or
//     interleaved with each other, nor with writes made through
//     [Mux.Writer]. The lines of one read share one timestamp.
//   - Nothing is dropped on the way to the destination: if it blocks, the
//     reading goroutine blocks, and the service blocks on its full pipe.
//     Write errors are ignored (the line is then not counted in
//     [Mux.Stats]); reading continues so the service never stalls on a
//     destination that has gone away.
//   - A line ends at "\n"; a "\r\n" ending is treated as "\n" (one trailing
//     "\r" is removed, other "\r" bytes are kept). When a pipe reaches EOF
//     (or a read error), a final line without "\n" is emitted as a line of
//     its own. [Mux.Wait] returns only after that.
//   - A line longer than [MaxLine] bytes is split into pieces of at most
//     MaxLine bytes. A cut never falls inside a valid UTF-8 sequence (it
//     moves back to the sequence's first byte); invalid bytes are cut
//     anywhere. Every piece after the first is a continuation: in text its
//     separator is " + " instead of " | ", in JSON the object has an extra
//     key "cont":true, and [Line.Cont] is set.
//   - Bytes pass through unchanged in text format (invalid UTF-8 and control
//     characters included). In JSON every object is valid JSON: control
//     characters, '"' and '\\' are escaped, U+2028 and U+2029 are written as
//     \u2028 and \u2029, and each byte that is not part of valid UTF-8 is
//     replaced by \ufffd (U+FFFD), as encoding/json does. The service name
//     is encoded the same way.
//   - Slow consumers of [Mux.Subscribe] never block the services: each
//     subscription has a bounded buffer, lines that do not fit are dropped
//     for that subscription only and counted by [Subscription.Dropped].
package logs

import (
	"bytes"
	"context"
	"io"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/tend-sh/tend/internal/safe"

	"golang.org/x/sys/unix"
)

// MaxLine is the longest piece of a line written as one output line; longer
// lines are split (see the package documentation).
const MaxLine = 64 << 10

// Defaults for [Options].
const (
	DefaultRingLines = 1000
	DefaultRingBytes = 1 << 20
)

// maxRingBytes bounds Options.RingBytes: a ring's arena (twice that)
// must stay within the int32 offsets of its entries.
const maxRingBytes = 512 << 20

// subBuffer is the number of lines a subscription buffers before dropping.
const subBuffer = 1024

// Stream says which output of a service a line came from.
type Stream uint8

// The two streams of a service.
const (
	Stdout Stream = iota
	Stderr
)

// String returns "stdout" or "stderr".
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Format is the output format of a Mux.
type Format uint8

// The output formats.
const (
	Text Format = iota // "name | line", names padded to the width
	JSON               // one JSON object per line
)

// Options configure a Mux. The zero value is usable: text format to
// os.Stdout and os.Stderr with the default ring size.
type Options struct {
	Format Format
	// Timestamps prefixes text lines with the UTC time in milliseconds,
	// e.g. "2026-11-24T12:00:00.123Z ". JSON lines always carry a time.
	Timestamps bool
	// Stdout and Stderr receive the services' stdout and stderr lines;
	// nil means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Width is the initial width service names are padded to in text
	// format (see SetWidth).
	Width int
	// RingLines is how many recent lines are kept per service for Tail:
	// 0 means DefaultRingLines, negative keeps none.
	RingLines int
	// RingBytes bounds the text kept per service (memory use is at most
	// about twice that): 0 means DefaultRingBytes; values below MaxLine
	// are raised to MaxLine, values above 512 MiB lowered to it.
	RingBytes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Line is one line (or one piece of an overlong line) of a service.
type Line struct {
	Time    time.Time
	Service string
	Stream  Stream
	// Seq numbers the lines of a service, starting at 1, in the order
	// they were recorded (stdout and stderr share the sequence). A
	// subscriber can use it to skip lines already seen through Tail.
	Seq uint64
	// Cont is set on every piece of a split line except the first.
	Cont bool
	// Text is the line without its terminator. It must not be modified:
	// it may be shared between subscribers.
	Text []byte
}

// Mux reads services' pipes and writes their lines to the destinations.
// All its methods are safe for concurrent use and none blocks on the
// destinations or on the services.
type Mux struct {
	format     Format
	timestamps bool
	now        func() time.Time
	dst        [2]*dest
	width      atomic.Int64
	ringLines  int
	ringBytes  int

	mu       sync.Mutex
	services map[string]*service
	active   int           // attached pipes not yet finished
	idle     chan struct{} // closed when active drops to 0

	subsMu sync.RWMutex
	subs   []*Subscription
	nsubs  atomic.Int32
}

// dest is one destination with its mutex.
type dest struct {
	mu sync.Mutex
	w  io.Writer
	// When w is a pipe: a write longer than pipeBuf is not atomic, and if
	// the reader stalls, tend could exit with half a line written. So such
	// a line is written only once the pipe has room for all of it.
	pipe     syscall.RawConn
	pipeSize int
	// batch is how much output a reader collects before writing it:
	// flushAt, or less for a pipe that could not be made large, so that
	// a batch always fits it whole.
	batch int
}

// pipeBuf is PIPE_BUF: writes up to this size to a pipe are atomic.
const pipeBuf = 4096

// wantPipeSize is the capacity asked of a destination pipe (the default
// maximum for unprivileged processes), so that any line (64 KiB, more once
// JSON-escaped) fits whole with room to spare.
const wantPipeSize = 1 << 20

func newDest(w io.Writer) *dest {
	d := newDestPipe(w)
	d.batch = flushAt
	if d.pipe != nil {
		d.batch = min(flushAt, max(d.pipeSize/4, pipeBuf))
	}
	return d
}

func newDestPipe(w io.Writer) *dest {
	d := &dest{w: w}
	f, ok := w.(*os.File)
	if !ok {
		return d
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return d
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return d
	}
	_ = rc.Control(func(fd uintptr) {
		size, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
		if err != nil {
			return
		}
		for want := wantPipeSize; size < want && want > size; want /= 2 {
			if n, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, want); err == nil {
				size = n
			}
		}
		d.pipeSize = size
	})
	if d.pipeSize > 0 {
		d.pipe = rc
	}
	return d
}

// Write writes p in one Write call under the destination's mutex.
func (d *dest) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pipe != nil && len(p) > pipeBuf && len(p)+2*pipeBuf <= d.pipeSize {
		d.waitRoom(len(p))
	}
	return d.w.Write(p)
}

// waitRoom returns once the pipe has room for n bytes. It only waits while
// the reader is not keeping up (back-pressure), backing off to 50 ms
// between looks; an idle tend never gets here.
func (d *dest) waitRoom(n int) {
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		queued := -1
		// TIOCINQ is FIONREAD: the bytes queued in the pipe.
		_ = d.pipe.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		// A pipe's capacity is counted in page-sized slots, not bytes: a
		// small write that does not fit the last page starts a new one,
		// and a partly read page still takes a whole slot. Assume the
		// bytes queued may take up to twice their size.
		if queued < 0 || d.pipeSize-2*queued >= n+2*pipeBuf {
			return
		}
		time.Sleep(delay)
	}
}

// service is the state shared by the pipes of one service name.
type service struct {
	name  string
	runes int // display width of name
	lines [2]atomic.Uint64
	bytes [2]atomic.Uint64

	mu   sync.Mutex // guards seq and ring; held while publishing
	seq  uint64
	ring ring

	route atomic.Pointer[route] // nil: the Mux's stdout and stderr only
}

// New returns a Mux configured by opts.
func New(opts Options) *Mux {
	m := &Mux{
		format:     opts.Format,
		timestamps: opts.Timestamps,
		now:        opts.Now,
		ringLines:  opts.RingLines,
		ringBytes:  opts.RingBytes,
		services:   make(map[string]*service),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.ringLines == 0 {
		m.ringLines = DefaultRingLines
	}
	if m.ringBytes == 0 {
		m.ringBytes = DefaultRingBytes
	}
	m.ringBytes = min(max(m.ringBytes, MaxLine), maxRingBytes)
	out, errw := opts.Stdout, opts.Stderr
	if out == nil {
		out = os.Stdout
	}
	if errw == nil {
		errw = os.Stderr
	}
	m.dst[Stdout] = newDest(out)
	if sameDest(out, errw) {
		m.dst[Stderr] = m.dst[Stdout]
	} else {
		m.dst[Stderr] = newDest(errw)
	}
	m.width.Store(int64(opts.Width))
	return m
}

// sameDest reports whether a and b write to the same place, so that they
// must share one mutex.
func sameDest(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if ok1 && ok2 {
		if fa == fb {
			return true
		}
		sa, err1 := fa.Stat()
		sb, err2 := fb.Stat()
		return err1 == nil && err2 == nil && os.SameFile(sa, sb)
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// SetWidth sets the width service names are padded to in text format,
// normally the length of the longest configured service name. Names longer
// than the width are written whole. It applies to lines formatted after
// the call.
func (m *Mux) SetWidth(w int) { m.width.Store(int64(w)) }

// Writer returns a writer for tend's own messages to the destination of
// stream s. It writes each Write call whole, under the same mutex as the
// service lines: tend's messages never interleave with service output. In
// text format the bytes are written as they are. In JSON format each Write
// call becomes one object with the keys of the service lines, "service"
// being "tend" and "stream" s; its "line" is the message without its final
// "\n" and without a leading "tend: " (the service key says it), escaped as
// service lines are (a message of several lines stays one object).
func (m *Mux) Writer(s Stream) io.Writer {
	if m.format == JSON {
		return &ownWriter{m: m, stream: s & 1}
	}
	return m.dst[s&1]
}

// ownWriter writes tend's own messages as JSON objects.
type ownWriter struct {
	m      *Mux
	stream Stream
}

// ownService is the service name of tend's own messages in JSON.
const ownService = "tend"

func (w *ownWriter) Write(p []byte) (int, error) {
	text := bytes.TrimSuffix(p, []byte("\n"))
	text = bytes.TrimPrefix(text, []byte(ownService+": "))
	b := make([]byte, 0, len(text)+128)
	b = append(b, `{"time":"`...)
	b = w.m.now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","service":"`+ownService+`","stream":"`...)
	b = append(b, w.stream.String()...)
	b = append(b, `","line":"`...)
	b = appendJSON(b, text)
	b = append(b, "\"}\n"...)
	if _, err := w.m.dst[w.stream].Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Attach starts a goroutine that reads r, the read end of the pipe
// connected to stream s (Stdout or Stderr) of the named service, until EOF
// or a read error, then closes r. A service may be attached again (e.g. after a restart):
// its ring, sequence and counters continue.
func (m *Mux) Attach(service string, s Stream, r io.ReadCloser) {
	m.mu.Lock()
	svc := m.service(service)
	if m.active == 0 {
		m.idle = make(chan struct{})
	}
	m.active++
	m.mu.Unlock()
	growPipe(r)
	p := newPipe(m, svc, s&1, r)
	safe.Go("log reader "+service, p.run)
}

// service returns the named service, creating it. m.mu is held.
func (m *Mux) service(name string) *service {
	svc := m.services[name]
	if svc == nil {
		svc = &service{name: name, runes: utf8.RuneCountInString(name)}
		svc.ring.maxLines, svc.ring.maxBytes = m.ringLines, m.ringBytes
		m.services[name] = svc
	}
	return svc
}

// lookup returns the named service or nil.
func (m *Mux) lookup(name string) *service {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.services[name]
}

// done is called by a pipe's goroutine when it has finished.
func (m *Mux) done() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active--
	if m.active == 0 {
		close(m.idle)
	}
}

// Wait blocks until every attached pipe has reached EOF (or a read error)
// and all its lines, the final partial one included, have been written;
// or until ctx is done, in which case it returns ctx.Err() and the readers
// carry on. A pipe whose write end is still held by some process (e.g. a
// daemonised grandchild) does not reach EOF, hence the ctx.
func (m *Mux) Wait(ctx context.Context) error {
	m.mu.Lock()
	if m.active == 0 {
		m.mu.Unlock()
		return nil
	}
	idle := m.idle
	m.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the number of lines and of bytes (line text, without
// prefix or terminator) successfully written for the service, indexed by
// Stream. A split line counts once per piece.
func (m *Mux) Stats(service string) (lines, bytes [2]uint64) {
	svc := m.lookup(service)
	if svc == nil {
		return
	}
	for s := range 2 {
		lines[s] = svc.lines[s].Load()
		bytes[s] = svc.bytes[s].Load()
	}
	return
}

// Tail returns copies of the last n lines kept for the service, oldest
// first; n < 0 returns all of them. At most Options.RingLines lines and
// Options.RingBytes bytes of text are kept per service.
func (m *Mux) Tail(service string, n int) []Line {
	svc := m.lookup(service)
	if svc == nil {
		return nil
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.ring.tail(service, n)
}

// record assigns the next sequence numbers to the lines refs of buf (of
// stream s, at time t), keeps them in the ring and publishes them to the
// subscribers, under one lock of svc.mu. Lines the rest of the batch would
// evict from the ring at once are not copied into it.
func (svc *service) record(m *Mux, t time.Time, s Stream, buf []byte, refs []lineRef) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	first := svc.ring.kept(refs)
	svc.ring.addRun(entry{t: t.UnixNano(), seq: svc.seq + uint64(first), stream: s}, buf, refs[first:])
	if m.nsubs.Load() == 0 {
		svc.seq += uint64(len(refs))
		return
	}
	for _, r := range refs {
		svc.seq++
		m.publish(Line{Time: t, Service: svc.name, Stream: s, Seq: svc.seq, Cont: r.cont}, buf[r.off:r.off+r.n])
	}
}

// Subscription delivers the lines of some services as they are recorded.
type Subscription struct {
	// C receives the lines, in Seq order per service. It is closed by
	// Close.
	C <-chan Line

	c        chan Line
	deliver  func(Line) // SubscribeFunc's; then c is nil
	m        *Mux
	services []string // nil: all
	dropped  atomic.Uint64
	closed   bool // guarded by m.subsMu
}

// Subscribe returns a subscription to the lines of the named services
// recorded from now on (all services, including ones attached later, when
// none is named). The subscription buffers 1024 lines; when its buffer is
// full, further lines are dropped for this subscription only, and counted
// by Dropped. For "tail then follow" without gap, subscribe first, then
// call Tail and skip the subscription's lines whose Seq is not above the
// last one Tail returned.
func (m *Mux) Subscribe(services ...string) *Subscription {
	c := make(chan Line, subBuffer)
	sub := &Subscription{C: c, c: c, m: m}
	if len(services) > 0 {
		sub.services = slices.Clone(services)
	}
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	m.subs = append(m.subs, sub)
	m.nsubs.Add(1)
	return sub
}

// SubscribeFunc is Subscribe without the channel: deliver is called with
// every line of the named services (all when none is named) recorded from
// now on, synchronously while the line is recorded, so it must not block:
// it queues what it needs (under a budget of its own) and returns. It may
// be called concurrently for lines of different services; the line's Text
// is shared and must not be modified. C is nil, Dropped stays 0, and
// deliver is not called once Close has returned.
func (m *Mux) SubscribeFunc(deliver func(Line), services ...string) *Subscription {
	sub := &Subscription{deliver: deliver, m: m}
	if len(services) > 0 {
		sub.services = slices.Clone(services)
	}
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	m.subs = append(m.subs, sub)
	m.nsubs.Add(1)
	return sub
}

// Dropped returns how many lines were not delivered to this subscription
// because its buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C. It may be called more than
// once.
func (s *Subscription) Close() {
	m := s.m
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	m.subs = slices.DeleteFunc(m.subs, func(x *Subscription) bool { return x == s })
	m.nsubs.Add(-1)
	if s.c != nil {
		close(s.c)
	}
}

// publish offers l, with a copy of text, to every interested subscriber
// without blocking.
func (m *Mux) publish(l Line, text []byte) {
	m.subsMu.RLock()
	defer m.subsMu.RUnlock()
	copied := false
	for _, sub := range m.subs {
		if sub.services != nil && !slices.Contains(sub.services, l.Service) {
			continue
		}
		if !copied {
			l.Text = append([]byte{}, text...)
			copied = true
		}
		if sub.deliver != nil {
			sub.deliver(l)
			continue
		}
		select {
		case sub.c <- l:
		default:
			sub.dropped.Add(1)
		}
	}
}

// servicePipeSize is the capacity asked of a service's pipe: with the
// default 64 KiB a service writing fast wakes its reader for every few
// KiB; with more, each read takes what the service wrote in one go.
const servicePipeSize = 256 << 10

// growPipe asks for servicePipeSize on r if it is a pipe (failure is
// harmless: the pipe keeps its size).
func growPipe(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if size, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && size < servicePipeSize {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, servicePipeSize)
		}
	})
}
