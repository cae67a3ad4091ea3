package logs

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
	"time"
	"unicode/utf8"
)

const (
	initBuf = 16 << 10                           // first read buffer of a pipe
	maxBuf  = 256 << 10                          // the read buffer never grows beyond (≥ MaxLine+UTFMax)
	minRead = 512                                // least free room offered to Read
	spaces  = "                                " // for padding
)

// pipe is the state of the goroutine reading one stream of one service.
// Pending (not yet emitted) bytes are buf[start:end]; buf[start:scanned]
// is known to hold no '\n'.
//
// The lines found in one read form a batch. They get one timestamp; their
// formatted output accumulates in out, which is written with one Write call
// (under the destination's mutex) at the end of the read, or earlier once
// it holds flushAt bytes, so out always holds whole lines only; and they are
// recorded (sequence numbers, ring, subscribers) under one lock of svc.mu
// at the end of the read, from refs into buf, or earlier once maxRefs are
// pending. svc.mu is never held while writing.
type pipe struct {
	m       *Mux
	svc     *service
	stream  Stream
	r       io.ReadCloser
	buf     []byte
	start   int
	scanned int
	end     int
	cont    bool   // the next piece continues a split line
	full    bool   // the last read filled the room it was offered
	jsonMid []byte // `","service":"name","stream":"stdout","line":"`

	// The batch under way.
	inBatch  bool      // t and head are set
	t        time.Time // the time of the batch's lines
	head     []byte    // what starts each output line of the batch
	headCont []byte    // in text, what starts each continuation line
	out      []byte    // formatted output not yet written: whole lines
	nOut     uint64    // lines in out
	bOut     uint64    // text bytes of those lines
	refs     []lineRef // lines not yet recorded, in buf
	flushAt  int       // write out once it holds that much (dest.batch)

	// Where the batch goes (the service's route, read at its start): out
	// goes to the Mux's destination when toStd, and to file (if any). When
	// both, and the file's lines differ from stdout's (text without
	// timestamps, or stderr's mark), dual is set and the file's lines are
	// formatted into fout with fhead and fheadCont.
	file      Writer
	toStd     bool
	dual      bool
	fhead     []byte
	fheadCont []byte
	fout      []byte
}

// lineRef is a line of buf not yet recorded: its text is buf[off:off+n].
type lineRef struct {
	off, n int32
	cont   bool
}

// maxRefs bounds the lines of a batch waiting to be recorded.
const maxRefs = 4096

// flushAt is the size of formatted output written as one Write call once
// reached: about a pipe's default capacity, well below what a destination
// pipe is made to hold (wantPipeSize), so that a batch is written whole.
const flushAt = 64 << 10

func newPipe(m *Mux, svc *service, s Stream, r io.ReadCloser) *pipe {
	p := &pipe{m: m, svc: svc, stream: s, r: r, buf: make([]byte, initBuf), flushAt: m.dst[s].batch}
	if m.format == JSON {
		b := append([]byte(nil), `","service":"`...)
		b = appendJSON(b, []byte(svc.name))
		b = append(b, `","stream":"`...)
		b = append(b, s.String()...)
		p.jsonMid = append(b, `","line":"`...)
	}
	return p
}

// run reads until EOF or error, emits everything, and closes the pipe.
func (p *pipe) run() {
	defer p.m.done()
	defer p.r.Close()
	for {
		p.prepare()
		n, err := p.r.Read(p.buf[p.end:])
		// A read that filled all the room offered: the service writes
		// faster than we read. The next prepare offers more, up to maxBuf.
		p.full = n == len(p.buf)-p.end
		p.end += n
		p.scan()
		if err != nil {
			break
		}
	}
	p.flush()
}

// prepare makes at least minRead bytes of room after end, and grows the
// buffer (up to maxBuf, never shrinking it again) after a read that filled
// it: a service writing fast gets reads of 64 KiB, a pipe's capacity,
// instead of initBuf.
func (p *pipe) prepare() {
	if p.start == p.end {
		p.start, p.scanned, p.end = 0, 0, 0
	}
	grow := p.full && len(p.buf) < maxBuf
	if !grow && len(p.buf)-p.end >= minRead {
		return
	}
	if p.start > 0 {
		n := copy(p.buf, p.buf[p.start:p.end])
		p.scanned -= p.start
		p.start, p.end = 0, n
	}
	if (grow || len(p.buf)-p.end < minRead) && len(p.buf) < maxBuf {
		nb := make([]byte, min(2*len(p.buf), maxBuf))
		copy(nb, p.buf[:p.end])
		p.buf = nb
	}
}

// scan emits every complete line in the pending bytes, and pieces of a
// pending line that is already known to exceed MaxLine.
func (p *pipe) scan() {
	if p.m.format == Text {
		p.scanText()
	}
	for {
		i := bytes.IndexByte(p.buf[p.scanned:p.end], '\n')
		if i < 0 {
			p.scanned = p.end
			break
		}
		nl := p.scanned + i
		p.line(p.start, nl)
		p.start, p.scanned = nl+1, nl+1
	}
	// Without a '\n' in sight, a pending line of MaxLine+UTFMax bytes
	// (enough to see a whole rune at the cut, and more than a trailing
	// '\r') certainly has to be split.
	for p.end-p.start >= MaxLine+utf8.UTFMax {
		n := cut(p.buf[p.start:p.end], MaxLine)
		p.emit(p.start, n, p.cont)
		p.cont = true
		p.start += n
	}
	p.endBatch()
}

// scanText is scan's loop for the common case in text format, inline:
// whole lines of at most MaxLine bytes, not continuing a split line. It
// stops at anything else, for scan's general loop.
func (p *pipe) scanText() {
	if p.cont {
		return
	}
	// Locals, stored back before anything that reads the fields.
	buf, start, scanned, end := p.buf, p.start, p.scanned, p.end
	out, refs, nOut, bOut := p.out, p.refs, p.nOut, p.bOut
	sync := func() {
		p.start, p.scanned = start, scanned
		p.out, p.refs, p.nOut, p.bOut = out, refs, nOut, bOut
	}
	for {
		i := bytes.IndexByte(buf[scanned:end], '\n')
		if i < 0 {
			scanned = end
			break
		}
		nl := scanned + i
		stop := nl
		if stop > start && buf[stop-1] == '\r' {
			stop--
		}
		n := stop - start
		if n > MaxLine {
			break
		}
		if !p.inBatch {
			p.beginBatch()
		}
		out = append(out, p.head...)
		out = append(out, buf[start:stop]...)
		out = append(out, '\n')
		if p.dual {
			p.fout = append(p.fout, p.fhead...)
			p.fout = append(p.fout, buf[start:stop]...)
			p.fout = append(p.fout, '\n')
		}
		nOut++
		bOut += uint64(n)
		refs = append(refs, lineRef{off: int32(start), n: int32(n)})
		start, scanned = nl+1, nl+1
		if len(out) >= p.flushAt || len(refs) >= maxRefs {
			sync()
			if len(out) >= p.flushAt {
				p.write()
			}
			if len(refs) >= maxRefs {
				p.record()
			}
			out, refs, nOut, bOut = p.out, p.refs, p.nOut, p.bOut
		}
	}
	sync()
}

// flush emits the final line, which has no '\n', if any.
func (p *pipe) flush() {
	if p.start < p.end {
		p.line(p.start, p.end)
	}
	p.endBatch()
	p.start, p.scanned, p.end = 0, 0, 0
}

// line emits buf[start:end], a whole line (or the rest of a split one)
// without its '\n'.
func (p *pipe) line(start, end int) {
	if end > start && p.buf[end-1] == '\r' {
		end--
	}
	for end-start > MaxLine {
		n := cut(p.buf[start:end], MaxLine)
		p.emit(start, n, p.cont)
		p.cont = true
		start += n
	}
	p.emit(start, end-start, p.cont)
	p.cont = false
}

// cut returns where to split b, which is longer than max: at max, or
// earlier at the start of a valid UTF-8 sequence that max falls inside.
// b must hold the whole sequence, i.e. at least max+UTFMax-1 bytes unless
// it ends earlier.
func cut(b []byte, max int) int {
	if utf8.RuneStart(b[max]) {
		return max
	}
	for i := max - 1; i > 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError && i+size > max {
				return i
			}
			break
		}
	}
	return max
}

// emit adds the line buf[off:off+n] to the batch.
func (p *pipe) emit(off, n int, cont bool) {
	if !p.inBatch {
		p.beginBatch()
	}
	text := p.buf[off : off+n]
	b := p.out
	if p.m.format == JSON {
		b = append(b, p.head...)
		b = appendJSON(b, text)
		if cont {
			b = append(b, "\",\"cont\":true}\n"...)
		} else {
			b = append(b, "\"}\n"...)
		}
	} else {
		if cont {
			b = append(b, p.headCont...)
		} else {
			b = append(b, p.head...)
		}
		b = append(b, text...)
		b = append(b, '\n')
		if p.dual {
			if cont {
				p.fout = append(p.fout, p.fheadCont...)
			} else {
				p.fout = append(p.fout, p.fhead...)
			}
			p.fout = append(p.fout, text...)
			p.fout = append(p.fout, '\n')
		}
	}
	p.out = b
	p.nOut++
	p.bOut += uint64(n)
	p.refs = append(p.refs, lineRef{off: int32(off), n: int32(n), cont: cont})
	if len(b) >= p.flushAt {
		p.write()
	}
	if len(p.refs) >= maxRefs {
		p.record()
	}
}

// beginBatch sets the time and line head of the lines to come.
func (p *pipe) beginBatch() {
	p.inBatch = true
	p.t = p.m.now()
	p.file, p.toStd, p.dual = nil, true, false
	if r := p.svc.route.Load(); r != nil {
		p.file, p.toStd = r.file, r.stdout
	}
	// The file's lines: timestamps on, stderr marked in text.
	fileTS, sep, sepCont := p.m.timestamps, sepStdout, sepStdoutCont
	if p.file != nil {
		fileTS = true
		if p.stream == Stderr {
			sep, sepCont = sepStderr, sepStderrCont
		}
		p.dual = p.toStd && p.m.format == Text && (!p.m.timestamps || p.stream == Stderr)
	}
	if p.dual {
		p.fhead = p.formatHead(p.fhead[:0], p.t, true)
		p.fheadCont = append(append(p.fheadCont[:0], p.fhead...), sepCont...)
		p.fhead = append(p.fhead, sep...)
		fileTS, sep, sepCont = p.m.timestamps, sepStdout, sepStdoutCont
	}
	p.head = p.formatHead(p.head[:0], p.t, fileTS)
	if p.m.format == Text {
		p.headCont = append(append(p.headCont[:0], p.head...), sepCont...)
		p.head = append(p.head, sep...)
	}
}

// endBatch writes and records what the batch holds; buf may change
// afterwards.
func (p *pipe) endBatch() {
	p.write()
	p.record()
	p.inBatch = false
}

// write writes the batch's output, if any, in one Write call.
func (p *pipe) write() {
	if len(p.out) == 0 {
		return
	}
	var err error
	if p.toStd {
		_, err = p.m.dst[p.stream].Write(p.out)
	}
	if p.file != nil {
		fb := p.out
		if p.dual {
			fb = p.fout
		}
		if _, ferr := p.file.Write(fb); !p.toStd {
			err = ferr
		}
	}
	if err == nil {
		p.svc.lines[p.stream].Add(p.nOut)
		p.svc.bytes[p.stream].Add(p.bOut)
	}
	p.out, p.fout, p.nOut, p.bOut = p.out[:0], p.fout[:0], 0, 0
}

// record records the batch's pending lines.
func (p *pipe) record() {
	if len(p.refs) > 0 {
		p.svc.record(p.m, p.t, p.stream, p.buf, p.refs)
		p.refs = p.refs[:0]
	}
}

// formatHead appends what starts every output line at time t to b: in
// JSON the object up to the line's text, in text the timestamp (if any)
// and the padded name (beginBatch adds the separator).
func (p *pipe) formatHead(b []byte, t time.Time, timestamps bool) []byte {
	if p.m.format == JSON {
		b = append(b, `{"time":"`...)
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, p.jsonMid...)
	}
	if timestamps {
		b = appendMillis(b, t.UTC())
		b = append(b, ' ')
	}
	b = append(b, p.svc.name...)
	for pad := int(p.m.width.Load()) - p.svc.runes; pad > 0; pad -= len(spaces) {
		b = append(b, spaces[:min(pad, len(spaces))]...)
	}
	return b
}

// appendMillis appends t, which is in UTC, as 2006-01-02T15:04:05.000Z.
// It is a faster time.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00").
func appendMillis(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

const hexDigits = "0123456789abcdef"

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special8 flags the bytes of w (read little-endian) that do not go into a
// JSON string as they are: below 0x20, '"', '\\', and 0x80 and above. The
// lowest flagged byte is always such a byte, and w has one iff the result
// is not 0: a byte below 0x20, '"' or '\\' turns its own high bit on in one
// of the three terms, and the borrow of a subtraction only runs from such
// a byte upwards (it can flag bytes above it, never below); w&highs flags
// every byte of 0x80 and above.
func special8(w uint64) uint64 {
	lt20 := (w - ones*0x20) &^ w
	quote := w ^ (ones * '"')
	quote = (quote - ones) &^ quote
	bslash := w ^ (ones * '\\')
	bslash = (bslash - ones) &^ bslash
	return (lt20 | quote | bslash | w) & highs
}

// appendJSON appends s as the contents of a JSON string: '"', '\\' and
// control characters escaped, U+2028 and U+2029 escaped, and every byte
// that is not part of valid UTF-8 replaced by \ufffd.
func appendJSON(b, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Fast path: skip 8 bytes at a time while none needs a look, then
		// go straight to the first one that does.
		for i+8 <= len(s) {
			if m := special8(binary.LittleEndian.Uint64(s[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}
