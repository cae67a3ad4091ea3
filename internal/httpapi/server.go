package httpapi

// A minimal HTTP/1.1 server on package net alone. net/http (and with it
// crypto/tls, compress/gzip and friends) doubled tend's binary and added
// package init to every start, for an endpoint that answers four GETs.
//
// One request per connection: read the request head (bounded in size and
// time), answer with "Connection: close", close. Request headers are
// checked for form but otherwise ignored; requests with a body are
// refused. Every client tend is meant for (kubelet, Prometheus, curl,
// wget) handles this.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits. Variables so that tests can shorten them.
var (
	headTimeout   = 5 * time.Second        // to receive the whole request head
	idleTimeout   = 2 * time.Second        // to receive its first byte
	writeTimeout  = 10 * time.Second       // to send the response
	lingerTimeout = 500 * time.Millisecond // to drain what a client still sends
)

const (
	maxHeadBytes = 16 << 10 // request line and headers
	firstHeadBuf = 1 << 10  // the head buffer grows from this, by doubling
	maxDrain     = 64 << 10 // bytes read and dropped before closing
	defaultConns = 1024     // connections served at once (see Server)
)

// request is a parsed request head.
type request struct {
	method  string
	target  string // as sent
	path    string // decoded
	query   url.Values
	minor   int  // HTTP/1.minor
	hasBody bool // Content-Length > 0 or Transfer-Encoding
}

// headError is a request head that cannot be served, with the status to
// answer it with.
type headError struct {
	code int
	msg  string
}

func (e *headError) Error() string { return e.msg }

func badRequest(msg string) *headError { return &headError{400, msg} }

// skipBlank returns the length of the blank lines (CRLF or LF) that may
// precede a request line (RFC 9112 section 2.2).
func skipBlank(b []byte) int {
	i := 0
	for i < len(b) {
		switch {
		case b[i] == '\n':
			i++
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			i += 2
		default:
			return i
		}
	}
	return i
}

// headEnd returns the length of the request head at the start of b,
// through the empty line that ends it (CRLF CRLF, or bare LFs), or -1 if
// b does not hold a whole head yet. The search starts at from: b[:from]
// was searched before (and held no end).
func headEnd(b []byte, from int) int {
	start := max(skipBlank(b), from-3, 0)
	for i := start; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return j + 1
		}
	}
	return -1
}

// isTchar reports whether c may appear in a token (RFC 9110 section 5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// parseHead parses a request head as returned by headEnd (blank lines
// before the request line allowed, the final empty line included or not).
func parseHead(head []byte) (*request, *headError) {
	s := string(head[skipBlank(head):])
	var lines []string
	for s != "" {
		line, rest, found := strings.Cut(s, "\n")
		if !found {
			return nil, badRequest("unterminated line")
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break // the end of the head
		}
		if strings.IndexByte(line, '\r') >= 0 {
			return nil, badRequest("bare CR")
		}
		lines = append(lines, line)
		s = rest
	}
	if len(lines) == 0 {
		return nil, badRequest("no request line")
	}
	r, err := parseRequestLine(lines[0])
	if err != nil {
		return nil, err
	}
	contentLength := ""
	for _, line := range lines[1:] {
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badRequest("obsolete line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return nil, badRequest("malformed header line")
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return nil, badRequest("control character in header " + name)
			}
		}
		switch {
		case strings.EqualFold(name, "Transfer-Encoding"):
			r.hasBody = true
		case strings.EqualFold(name, "Content-Length"):
			if contentLength != "" && value != contentLength {
				return nil, badRequest("conflicting Content-Length")
			}
			n, err := strconv.ParseUint(value, 10, 63)
			if err != nil || value[0] == '+' {
				return nil, badRequest("malformed Content-Length")
			}
			contentLength = value
			if n > 0 {
				r.hasBody = true
			}
		}
	}
	return r, nil
}

// parseRequestLine parses METHOD SP request-target SP HTTP/1.x.
func parseRequestLine(line string) (*request, *headError) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" {
		return nil, badRequest("malformed request line")
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return nil, badRequest("malformed request target")
		}
	}
	if len(version) != len("HTTP/1.1") || !strings.HasPrefix(version, "HTTP/") ||
		!isDigit(version[5]) || version[6] != '.' || !isDigit(version[7]) {
		return nil, badRequest("malformed HTTP version")
	}
	if version[5] != '1' {
		return nil, &headError{505, "unsupported HTTP version"}
	}
	r := &request{method: method, target: target, minor: int(version[7] - '0')}
	switch {
	case target == "*":
		r.path = "*" // OPTIONS *: no such resource here
	case target[0] == '/' || strings.HasPrefix(strings.ToLower(target), "http://") || strings.HasPrefix(strings.ToLower(target), "https://"):
		// origin-form, or absolute-form (which servers must accept)
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, badRequest("malformed request target")
		}
		r.path = u.Path
		if r.path == "" {
			r.path = "/"
		}
		// url.URL.Query drops pairs it cannot decode: /status?name=%ZZ
		// would then select every service. A query that does not parse
		// is the client's error.
		if r.query, err = url.ParseQuery(u.RawQuery); err != nil {
			return nil, badRequest("malformed query string: " + err.Error() + " (want name=value pairs joined by &, with %XX escapes)")
		}
	default:
		return nil, badRequest("malformed request target")
	}
	return r, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// response is what a handler answers.
type response struct {
	code        int
	contentType string
	body        []byte
	noStore     bool   // Cache-Control: no-store
	allow       string // the Allow header, for 405
}

// reason returns the reason phrase for the codes this server answers
// with (a switch, not a map: no package init).
func reason(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status"
}

// writeResponse sends r, without the body for HEAD.
func writeResponse(c net.Conn, r response, head bool) error {
	var b bytes.Buffer
	b.Grow(160 + len(r.body))
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(r.code))
	b.WriteByte(' ')
	b.WriteString(reason(r.code))
	b.WriteString("\r\nContent-Type: ")
	b.WriteString(r.contentType)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(r.body)))
	if r.noStore {
		b.WriteString("\r\nCache-Control: no-store")
	}
	if r.allow != "" {
		b.WriteString("\r\nAllow: ")
		b.WriteString(r.allow)
	}
	b.WriteString("\r\nX-Content-Type-Options: nosniff\r\nDate: ")
	b.WriteString(time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))
	b.WriteString("\r\nConnection: close\r\n\r\n")
	if !head {
		b.Write(r.body)
	}
	_, err := c.Write(b.Bytes())
	return err
}

func plain(code int, body string) response {
	return response{code: code, contentType: "text/plain; charset=utf-8", body: []byte(body)}
}

// serveConn answers one request on c with h. It does not close c.
// headDone, if not nil, is called once c's request head has been read (or
// reading it failed): from then on c is no longer an idle peer.
//
// A connection that sends nothing gets idleTimeout, one that sends its
// head slowly headTimeout in all; the head buffer starts small and grows
// only as bytes arrive, so an idle peer costs about 1 KiB and a goroutine.
func serveConn(c net.Conn, h func(*request) response, headDone func()) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(min(idleTimeout, headTimeout)))
	buf := make([]byte, firstHeadBuf)
	n, end := 0, -1
	var rerr error
	for end < 0 && n < maxHeadBytes {
		if n == len(buf) {
			buf = append(buf, make([]byte, min(len(buf), maxHeadBytes-len(buf)))...)
		}
		var m int
		m, rerr = c.Read(buf[n:])
		if m > 0 {
			if n == 0 {
				_ = c.SetReadDeadline(start.Add(headTimeout))
			}
			end = headEnd(buf[:n+m], n)
			n += m
		}
		if rerr != nil {
			break
		}
	}
	if headDone != nil {
		headDone()
	}
	var resp response
	linger := true // the client may still be sending: drain before closing
	var req *request
	switch {
	case end >= 0:
		var herr *headError
		if req, herr = parseHead(buf[:end]); herr != nil {
			resp = plain(herr.code, herr.msg+"\n")
		} else {
			resp = h(req)
			if req.hasBody && resp.code != 404 && resp.code != 405 {
				resp = plain(400, "request bodies are not accepted\n")
			}
			linger = end < n || req.hasBody
		}
	case n >= maxHeadBytes:
		resp = plain(431, "request head larger than "+strconv.Itoa(maxHeadBytes)+" bytes\n")
	case n > 0 && isTimeout(rerr):
		resp, linger = plain(408, "request head not received in time\n"), false
	case n > 0 && rerr == io.EOF:
		resp, linger = plain(400, "incomplete request head\n"), false
	default:
		return // the client went away, or never sent anything
	}
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := writeResponse(c, resp, req != nil && req.method == "HEAD"); err != nil || !linger {
		return
	}
	// Closing a socket with unread data makes the kernel send a reset,
	// which may destroy the response before the client has read it. Half
	// close, and read what the client still sends for a moment.
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, c, maxDrain)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
