// Package httpget is the client of tend's http probes: one GET over
// package net, for the status code only. net/http (and with it crypto/tls)
// would double tend's binary and add package init to every start.
//
// Get sends
//
//	GET /path?query HTTP/1.1
//	Host: host[:port]
//	User-Agent: tend
//	Accept: */*
//	Connection: close
//
// (plus "Authorization: Basic" for a URL with user information), reads the
// status line and closes the connection: the headers and the body are not
// read, and a server that closes the connection right after the status
// line is fine. Redirects are not followed: a 3xx is returned as it is,
// and a probe counts only 2xx as success, so a 3xx means "not ready".
// Informational (1xx) responses before the final one are skipped, except
// 101.
//
// Only http:// URLs are supported: tend links no TLS stack, so https://
// URLs are an error (ErrHTTPS); probe TLS endpoints with an exec probe and
// a client such as curl or wget.
package httpget

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// ErrHTTPS is the error for an https:// URL.
var ErrHTTPS = errors.New("https probes are not supported; use exec with a client such as curl or wget")

// maxHeadBytes bounds what is read before a final status line (1xx
// responses included).
const maxHeadBytes = 16 << 10

// Get sends a GET request for rawURL, an http:// URL, and returns the
// status code of the response. timeout bounds the whole exchange: name
// resolution, connecting, sending and reading the status line.
func Get(timeout time.Duration, rawURL string) (status int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return GetContext(ctx, rawURL)
}

// GetContext is Get with a context instead of a timeout.
func GetContext(ctx context.Context, rawURL string) (status int, err error) {
	defer func() {
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
			err = fmt.Errorf("GET %s: %w", rawURL, err)
		}
	}()
	addr, req, err := request(rawURL)
	if err != nil {
		return 0, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// ctx's end (deadline or cancellation) ends a blocked read or write.
	// (Not a deadline on c: it could fire just before ctx reports its
	// error, and the error would not say "deadline exceeded".)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(c, req); err != nil {
		return 0, err
	}
	return readStatus(bufio.NewReader(io.LimitReader(c, maxHeadBytes)))
}

// request returns the address to dial for rawURL and the request to send.
func request(rawURL string) (addr, req string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
	case "https":
		return "", "", ErrHTTPS
	default:
		return "", "", errors.New("not an http:// URL")
	}
	host := u.Hostname()
	if host == "" {
		return "", "", errors.New("no host in URL")
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	addr = net.JoinHostPort(host, port)
	// The Host header carries no IPv6 zone (RFC 6874 section 4) and no
	// empty port.
	hostHeader := strings.TrimSuffix(u.Host, ":")
	if i := strings.IndexByte(hostHeader, '%'); i >= 0 && strings.HasPrefix(hostHeader, "[") {
		if j := strings.IndexByte(hostHeader, ']'); j > i {
			hostHeader = hostHeader[:i] + hostHeader[j:]
		}
	}
	target := u.RequestURI()
	for _, s := range []string{target, hostHeader} {
		if strings.ContainsAny(s, " \r\n\t\x00") {
			return "", "", errors.New("invalid character in URL")
		}
	}
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + hostHeader + "\r\n")
	if u.User != nil {
		pass, _ := u.User.Password()
		b.WriteString("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)) + "\r\n")
	}
	b.WriteString("User-Agent: tend\r\nAccept: */*\r\nConnection: close\r\n\r\n")
	return addr, b.String(), nil
}

// readStatus reads status lines until a final one (skipping 1xx
// responses with their headers) and returns its code.
func readStatus(r *bufio.Reader) (int, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // closed before any status line
			}
			return 0, err
		}
		code, perr := parseStatusLine(strings.TrimRight(line, "\r\n"))
		if perr != nil {
			return 0, perr
		}
		if code >= 200 || code == 101 || err != nil {
			return code, nil
		}
		// An informational response: skip its headers.
		for {
			h, err := r.ReadString('\n')
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
			if h == "\r\n" || h == "\n" {
				break
			}
		}
	}
}

// parseStatusLine parses HTTP/1.x SP 3DIGIT [SP reason].
func parseStatusLine(line string) (int, error) {
	bad := func() (int, error) {
		if len(line) > 40 {
			line = line[:40] + "..."
		}
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	if len(line) < len("HTTP/1.1 200") || !strings.HasPrefix(line, "HTTP/1.") ||
		line[7] < '0' || line[7] > '9' || line[8] != ' ' {
		return bad()
	}
	if len(line) > 12 && line[12] != ' ' {
		return bad()
	}
	code := 0
	for _, c := range []byte(line[9:12]) {
		if c < '0' || c > '9' {
			return bad()
		}
		code = 10*code + int(c-'0')
	}
	if code < 100 {
		return bad()
	}
	return code, nil
}
