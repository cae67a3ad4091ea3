package httpapi

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseHead checks the request-head reader and parser: no panics,
// finding the end of a head byte by byte agrees with finding it at once,
// what is accepted is well formed, and where net/http also accepts a head
// both agree on the method, path and query.
func FuzzParseHead(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParseHead.
	f.Add([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /status?name=a&name=b HTTP/1.0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxHeadBytes {
			return
		}
		end := headEnd(b, 0)
		inc := -1
		for n := 1; n <= len(b) && inc < 0; n++ {
			inc = headEnd(b[:n], n-1)
		}
		if inc != end {
			t.Fatalf("headEnd %d at once, %d byte by byte", end, inc)
		}
		if end < 0 {
			parseHead(b) // no panic on an incomplete head either
			return
		}
		r, herr := parseHead(b[:end])
		if herr != nil {
			if herr.code != 400 && herr.code != 505 {
				t.Fatalf("code %d", herr.code)
			}
			return
		}
		if !isToken(r.method) || r.minor < 0 || r.minor > 9 || r.path == "" ||
			(r.path != "*" && !strings.HasPrefix(r.path, "/") && !strings.HasPrefix(r.target, "http")) {
			t.Fatalf("accepted %+v", r)
		}
		// Differential check against net/http's parser (which does not
		// skip blank lines before the request line).
		head := b[skipBlank(b):end]
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			return
		}
		path := hr.URL.Path
		if path == "" {
			path = "/"
		}
		if r.target == "*" {
			path = "*"
		}
		if hr.Method != r.method || path != r.path || hr.URL.Query().Encode() != r.query.Encode() {
			t.Fatalf("net/http: %s %q %q; here: %s %q %q", hr.Method, path, hr.URL.Query(), r.method, r.path, r.query)
		}
	})
}
