package logs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

var fixedTime = time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)

func fixedNow() time.Time { return fixedTime }

// lockedBuffer is a bytes.Buffer that can be read while the Mux writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// wait waits for the Mux with a bound.
func wait(t testing.TB, m *Mux) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// run attaches one reader to service "s" stdout, waits, and returns what
// was written to stdout and stderr.
func run(t *testing.T, opts Options, r io.Reader) (stdout, stderr string, m *Mux) {
	t.Helper()
	var o, e lockedBuffer
	opts.Stdout, opts.Stderr = &o, &e
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	m = New(opts)
	m.Attach("s", Stdout, io.NopCloser(r))
	wait(t, m)
	return o.String(), e.String(), m
}

// textLines splits text output of service "s" (width 0) into pieces and
// their continuation marks.
func textLines(t *testing.T, out string) (pieces []string, cont []bool) {
	t.Helper()
	if out == "" {
		return nil, nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	for _, l := range strings.Split(out[:len(out)-1], "\n") {
		switch {
		case strings.HasPrefix(l, "s | "):
			pieces, cont = append(pieces, l[4:]), append(cont, false)
		case strings.HasPrefix(l, "s + "):
			pieces, cont = append(pieces, l[4:]), append(cont, true)
		default:
			t.Fatalf("bad output line %.80q", l)
		}
	}
	return pieces, cont
}

func TestLineEnds(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"one", "a\n", []string{"a"}},
		{"final partial", "a\nb", []string{"a", "b"}},
		{"only partial", "abc", []string{"abc"}},
		{"empty line", "\n", []string{""}},
		{"empty lines", "\n\na\n\n", []string{"", "", "a", ""}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"crlf empty", "a\r\n\r\n", []string{"a", ""}},
		{"inner cr kept", "a\rb\r\n", []string{"a\rb"}},
		{"double cr", "a\r\r\n", []string{"a\r"}},
		{"final cr", "x\r", []string{"x"}},
		{"lone cr", "\r", []string{""}},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"eof":     iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rn, wrap := range readers {
			t.Run(tt.name+"/"+rn, func(t *testing.T) {
				out, errOut, m := run(t, Options{}, wrap(strings.NewReader(tt.in)))
				if errOut != "" {
					t.Errorf("stderr got %q", errOut)
				}
				got, cont := textLines(t, out)
				if !equal(got, tt.want) {
					t.Errorf("got %q, want %q", got, tt.want)
				}
				for i, c := range cont {
					if c {
						t.Errorf("line %d marked as continuation", i)
					}
				}
				tail := m.Tail("s", -1)
				if len(tail) != len(tt.want) {
					t.Fatalf("Tail: %d lines, want %d", len(tail), len(tt.want))
				}
				for i, l := range tail {
					if string(l.Text) != tt.want[i] || l.Seq != uint64(i+1) || l.Stream != Stdout {
						t.Errorf("Tail[%d] = %+v", i, l)
					}
				}
			})
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLongLines(t *testing.T) {
	kinds := []struct {
		name  string
		unit  string
		lead  string // shifts the rune boundaries
		valid bool
	}{
		{"ascii", "x", "", true},
		{"2byte", "é", "a", true},
		{"3byte", "€", "ab", true},
		{"4byte", "😀", "abc", true},
		{"4byte-shift1", "😀", "a", true},
		{"invalid", "\xff\xfe", "", false},
		{"truncated-runes", "\xf0\x9f\x98", "", false},
	}
	sizes := []int{1, 100, MaxLine - 1, MaxLine, MaxLine + 1, MaxLine + 3, MaxLine + 4, 2*MaxLine + 7, 1 << 20}
	for _, k := range kinds {
		for _, size := range sizes {
			for _, end := range []string{"\n", "\r\n", ""} {
				line := k.lead + strings.Repeat(k.unit, size/len(k.unit)+1)
				line = line[:size]
				if k.valid {
					line = strings.ToValidUTF8(line, "")
				}
				name := fmt.Sprintf("%s/%d/%q", k.name, size, end)
				t.Run(name, func(t *testing.T) {
					in, next := line+end+"next\n", 1
					if end == "" {
						in, next = line, 0
					}
					var r io.Reader = strings.NewReader(in)
					if size <= 2*MaxLine+7 {
						r = iotest.HalfReader(r)
					}
					out, _, m := run(t, Options{RingBytes: 4 << 20}, r)
					pieces, cont := textLines(t, out)
					if next == 1 {
						if len(pieces) < 2 || pieces[len(pieces)-1] != "next" || cont[len(cont)-1] {
							t.Fatalf("the following line is missing or marked")
						}
						pieces, cont = pieces[:len(pieces)-1], cont[:len(cont)-1]
					}
					if got := strings.Join(pieces, ""); got != line {
						t.Fatalf("pieces do not add up to the line: %d bytes, want %d", len(got), len(line))
					}
					want := (len(line) + MaxLine - 1) / MaxLine
					if want == 0 {
						want = 1
					}
					if !k.valid {
						if len(pieces) != want {
							t.Errorf("%d pieces, want %d", len(pieces), want)
						}
					} else if len(pieces) < want || len(pieces) > want+len(line)/MaxLine {
						t.Errorf("%d pieces, want about %d", len(pieces), want)
					}
					for i, p := range pieces {
						if len(p) > MaxLine {
							t.Errorf("piece %d has %d bytes", i, len(p))
						}
						if len(p) == 0 && len(line) > 0 {
							t.Errorf("piece %d is empty", i)
						}
						if k.valid && !utf8.ValidString(p) {
							t.Errorf("piece %d is not valid UTF-8", i)
						}
						if cont[i] != (i > 0) {
							t.Errorf("piece %d: cont=%v", i, cont[i])
						}
					}
					tail := m.Tail("s", -1)
					if len(tail) != len(pieces)+next {
						t.Fatalf("Tail has %d lines, want %d", len(tail), len(pieces)+next)
					}
					for i := range pieces {
						if tail[i].Cont != cont[i] || string(tail[i].Text) != pieces[i] {
							t.Errorf("Tail[%d] differs from the output", i)
						}
					}
				})
			}
		}
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want int
	}{
		{"abcdef", 3, 3},
		{"ab€cd", 3, 2},           // € = e2 82 ac at 2..4
		{"ab€cd", 4, 2},           //
		{"ab€cd", 5, 5},           // after €
		{"a😀bcd", 2, 1},           // 😀 at 1..4
		{"a😀bcd", 4, 1},           //
		{"a😀bcd", 5, 5},           //
		{"ab\x82\x82\x82c", 3, 3}, // stray continuation bytes
		{"a\xe2\x82xyz", 2, 2},    // truncated sequence
		{"\x80\x80\x80\x80\x80", 2, 2},
	}
	for _, tt := range tests {
		if got := cut([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("cut(%q, %d) = %d, want %d", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		service string
		in      string
		want    string
	}{
		{"text", Options{}, "web", "hi\n", "web | hi\n"},
		{"width", Options{Width: 6}, "web", "hi\n", "web    | hi\n"},
		{"wide padding", Options{Width: 40}, "a", "x\n", "a" + strings.Repeat(" ", 39) + " | x\n"},
		{"name longer than width", Options{Width: 2}, "worker", "x\n", "worker | x\n"},
		{"runes", Options{Width: 4}, "né", "x\n", "né   | x\n"},
		{"timestamps", Options{Timestamps: true, Width: 4}, "db", "up\n",
			"2026-11-24T12:00:00.123Z db   | up\n"},
		{"empty line", Options{}, "a", "\n", "a | \n"},
		{"raw bytes", Options{}, "a", "\x00\xff\x1b[31mred\x1b[0m\n", "a | \x00\xff\x1b[31mred\x1b[0m\n"},
		{"json", Options{Format: JSON, Width: 10}, "web", "hi \"there\"\\\n",
			`{"time":"2026-11-24T12:00:00.123456789Z","service":"web","stream":"stdout","line":"hi \"there\"\\"}` + "\n"},
		{"json controls", Options{Format: JSON}, "a\"b", "\t\x01\x1f\x7f\u2028\u2029é\r\n",
			`{"time":"2026-11-24T12:00:00.123456789Z","service":"a\"b","stream":"stdout","line":"\t\u0001\u001f` + "\x7f" + `\u2028\u2029é"}` + "\n"},
		{"json invalid", Options{Format: JSON}, "\xff", "a\xffb\xe2\x82\n",
			`{"time":"2026-11-24T12:00:00.123456789Z","service":"\ufffd","stream":"stdout","line":"a\ufffdb\ufffd\ufffd"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o lockedBuffer
			tt.opts.Stdout, tt.opts.Stderr, tt.opts.Now = &o, io.Discard, fixedNow
			m := New(tt.opts)
			m.Attach(tt.service, Stdout, io.NopCloser(strings.NewReader(tt.in)))
			wait(t, m)
			if got := o.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAppendMillis(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	times := []time.Time{fixedTime, time.Unix(0, 0).UTC(), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 1000 {
		times = append(times, time.Unix(rnd.Int64N(1<<36)-1<<35, rnd.Int64N(1e9)).UTC())
	}
	for _, tm := range times {
		if got, want := string(appendMillis(nil, tm)), tm.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
			t.Errorf("appendMillis(%v) = %q, want %q", tm, got, want)
		}
	}
}

func TestSetWidth(t *testing.T) {
	var o lockedBuffer
	m := New(Options{Stdout: &o, Stderr: io.Discard, Width: 3})
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader("1\n")))
	wait(t, m)
	m.SetWidth(5)
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader("2\n")))
	wait(t, m)
	m.SetWidth(0)
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader("3\n")))
	wait(t, m)
	if got, want := o.String(), "a   | 1\na     | 2\na | 3\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if tail := m.Tail("a", -1); len(tail) != 3 || tail[2].Seq != 3 {
		t.Errorf("ring does not continue across attachments: %+v", tail)
	}
}

// TestJSONRoundTrip checks that any bytes give valid JSON whose line
// decodes to what encoding/json makes of the same bytes.
func TestJSONRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := make([]byte, rnd.IntN(300))
		for j := range b {
			b[j] = byte(rnd.IntN(256))
			if b[j] == '\n' {
				b[j] = 'n'
			}
		}
		if i%2 == 0 { // mostly valid UTF-8 with a few bad bytes
			b = append([]byte("héllo wörld 😀 \u2028 "), b[:len(b)/10]...)
		}
		checkJSON(t, b)
	}
}

func checkJSON(t *testing.T, b []byte) {
	t.Helper()
	out, _, _ := run(t, Options{Format: JSON}, bytes.NewReader(append(b, '\n')))
	var got struct{ Time, Service, Stream, Line string }
	if !json.Valid([]byte(out)) || strings.Count(out, "\n") != 1 {
		t.Fatalf("invalid JSON for %q: %q", b, out)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	text := b
	if n := len(text); n > 0 && text[n-1] == '\r' {
		text = text[:n-1]
	}
	enc, _ := json.Marshal(string(text))
	var want string
	if err := json.Unmarshal(enc, &want); err != nil {
		t.Fatal(err)
	}
	if got.Line != want || got.Service != "s" || got.Stream != "stdout" || got.Time != "2026-11-24T12:00:00.123456789Z" {
		t.Fatalf("for %q got %+v, want line %q", b, got, want)
	}
}

// FuzzOutput checks that any input gives valid JSON lines, and text lines
// that reproduce the input.
func FuzzOutput(f *testing.F) {
	for _, s := range []string{"", "a\n", "a\r\nb", "\xff\xfe\n\x00", "😀\u2028\"\\\r\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want []string
		if len(in) > 0 {
			s := string(in)
			s = strings.TrimSuffix(s, "\n")
			for _, l := range strings.Split(s, "\n") {
				want = append(want, strings.TrimSuffix(l, "\r"))
			}
		}
		all := want
		out, _, _ := run(t, Options{}, bytes.NewReader(in))
		got, _ := textLines(t, out)
		if strings.Join(got, "\n") != strings.Join(all, "\n") || len(got) != len(all) {
			t.Fatalf("text: got %q, want %q", got, all)
		}
		out, _, _ = run(t, Options{Format: JSON}, bytes.NewReader(in))
		n := 0
		for l := range strings.Lines(out) {
			if !json.Valid([]byte(l)) {
				t.Fatalf("invalid JSON %q", l)
			}
			n++
		}
		if n != len(all) {
			t.Fatalf("json: %d lines, want %d", n, len(all))
		}
	})
}

func TestRing(t *testing.T) {
	var o lockedBuffer
	m := New(Options{Stdout: &o, Stderr: &o, RingLines: 5})
	var in strings.Builder
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&in, "l%d\n", i)
	}
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader(in.String())))
	wait(t, m)
	m.Attach("a", Stderr, io.NopCloser(strings.NewReader("e13\n")))
	wait(t, m)
	tests := []struct {
		n    int
		want []string
	}{
		{-1, []string{"l9", "l10", "l11", "l12", "e13"}},
		{100, []string{"l9", "l10", "l11", "l12", "e13"}},
		{2, []string{"l12", "e13"}},
		{0, nil},
	}
	for _, tt := range tests {
		tail := m.Tail("a", tt.n)
		var got []string
		for i, l := range tail {
			got = append(got, string(l.Text))
			wantSeq := uint64(13 - len(tail) + 1 + i)
			if l.Seq != wantSeq || l.Service != "a" {
				t.Errorf("Tail(%d)[%d] = %+v, want seq %d", tt.n, i, l, wantSeq)
			}
			if wantStream := Stream(0); (l.Text[0] == 'e') != (l.Stream == Stderr) {
				t.Errorf("Tail(%d)[%d] stream %v (want %v for stdout)", tt.n, i, l.Stream, wantStream)
			}
		}
		if !equal(got, tt.want) {
			t.Errorf("Tail(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if m.Tail("nobody", 5) != nil {
		t.Error("Tail of an unknown service")
	}
	// Tail returns copies.
	tail := m.Tail("a", 1)
	tail[0].Text[0] = 'X'
	if string(m.Tail("a", 1)[0].Text) != "e13" {
		t.Error("Tail shares memory with the ring")
	}

	m = New(Options{Stdout: io.Discard, RingLines: -1})
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader("x\n")))
	wait(t, m)
	if m.Tail("a", -1) != nil {
		t.Error("RingLines < 0 kept lines")
	}
}

// TestRingModel drives the ring with random lines against a simple model.
func TestRingModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ lines, bytes int }{{1, 10}, {5, 10}, {7, 100}, {100, 64}, {1000, 5000}} {
		r := ring{maxLines: c.lines, maxBytes: c.bytes}
		var model []string
		for i := range 20000 {
			text := strings.Repeat(string(rune('a'+i%26)), rnd.IntN(c.bytes/3+1))
			if rnd.IntN(50) == 0 {
				text = strings.Repeat("z", c.bytes)
			}
			r.add(entry{seq: uint64(i)}, []byte(text))
			model = append(model, text)
			for len(model) > c.lines {
				model = model[1:]
			}
			for total(model) > c.bytes {
				model = model[1:]
			}
			if len(r.data) > 2*c.bytes {
				t.Fatalf("arena grew to %d", len(r.data))
			}
			if i%97 == 0 || i > 19900 {
				tail := r.tail("x", -1)
				if len(tail) != len(model) {
					t.Fatalf("%+v step %d: %d lines, want %d", c, i, len(tail), len(model))
				}
				for j := range tail {
					if string(tail[j].Text) != model[j] || tail[j].Seq != uint64(i-len(model)+1+j) {
						t.Fatalf("%+v step %d: line %d differs", c, i, j)
					}
				}
			}
		}
	}
}

func total(s []string) int {
	n := 0
	for _, x := range s {
		n += len(x)
	}
	return n
}

func TestRingBytes(t *testing.T) {
	m := New(Options{Stdout: io.Discard, RingBytes: 1}) // raised to MaxLine
	line := strings.Repeat("x", 20000) + "\n"
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader(strings.Repeat(line, 10))))
	wait(t, m)
	if tail := m.Tail("a", -1); len(tail) != 3 || tail[2].Seq != 10 {
		t.Errorf("kept %d lines, want the last 3", len(tail))
	}
}

func TestSubscribe(t *testing.T) {
	m := New(Options{Stdout: io.Discard, Stderr: io.Discard})
	never := m.Subscribe("a") // never reads
	other := m.Subscribe("b") // gets nothing
	reader := m.Subscribe()   // all services, read concurrently
	got := make(chan []Line, 1)
	go func() {
		var ls []Line
		for l := range reader.C {
			ls = append(ls, l)
		}
		got <- ls
	}()
	const n = 5000
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	m.Attach("a", Stdout, r)
	go func() {
		io.WriteString(w, in.String())
		w.Close()
	}()
	wait(t, m) // writers were not blocked by the subscriber that never reads
	if d := never.Dropped(); d != n-subBuffer {
		t.Errorf("never-reading subscriber dropped %d, want %d", d, n-subBuffer)
	}
	if len(never.C) != subBuffer {
		t.Errorf("never-reading subscriber holds %d lines", len(never.C))
	}
	for i := range subBuffer {
		l := <-never.C
		if want := fmt.Sprintf("line %d", i); string(l.Text) != want || l.Seq != uint64(i+1) || l.Service != "a" {
			t.Fatalf("line %d: %+v, want %q", i, l, want)
		}
	}
	if len(other.C) != 0 || other.Dropped() != 0 {
		t.Error("subscriber to b got lines of a")
	}
	reader.Close()
	reader.Close()
	ls := <-got
	if uint64(len(ls))+reader.Dropped() != n {
		t.Errorf("reader got %d and dropped %d of %d", len(ls), reader.Dropped(), n)
	}
	for i := 1; i < len(ls); i++ {
		if ls[i].Seq <= ls[i-1].Seq {
			t.Fatalf("out of order: %d after %d", ls[i].Seq, ls[i-1].Seq)
		}
	}
	never.Close()
	other.Close()
	if _, ok := <-other.C; ok {
		t.Error("C not closed")
	}
	if m.nsubs.Load() != 0 || len(m.subs) != 0 {
		t.Error("subscriptions left after Close")
	}
}

func TestStats(t *testing.T) {
	m := New(Options{Stdout: io.Discard, Stderr: io.Discard})
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader("12\n345\r\n")))
	m.Attach("a", Stderr, io.NopCloser(strings.NewReader("x")))
	m.Attach("b", Stderr, io.NopCloser(strings.NewReader(strings.Repeat("y", MaxLine+1))))
	wait(t, m)
	for _, tt := range []struct {
		svc          string
		lines, bytes [2]uint64
	}{
		{"a", [2]uint64{2, 1}, [2]uint64{5, 1}},
		{"b", [2]uint64{0, 2}, [2]uint64{0, MaxLine + 1}},
		{"c", [2]uint64{}, [2]uint64{}},
	} {
		lines, bytes := m.Stats(tt.svc)
		if lines != tt.lines || bytes != tt.bytes {
			t.Errorf("Stats(%q) = %v %v, want %v %v", tt.svc, lines, bytes, tt.lines, tt.bytes)
		}
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteErrors(t *testing.T) {
	m := New(Options{Stdout: errWriter{}, Stderr: errWriter{}})
	m.Attach("a", Stdout, io.NopCloser(strings.NewReader("1\n2\n3")))
	wait(t, m)
	if lines, _ := m.Stats("a"); lines[Stdout] != 0 {
		t.Errorf("failed writes counted: %v", lines)
	}
	if len(m.Tail("a", -1)) != 3 {
		t.Error("lines not kept when the destination fails")
	}
}

func TestWaitContext(t *testing.T) {
	m := New(Options{Stdout: io.Discard})
	if err := m.Wait(context.Background()); err != nil {
		t.Fatalf("Wait with nothing attached: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	m.Attach("a", Stdout, r)
	w.WriteString("partial")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Wait(ctx); err != context.Canceled {
		t.Fatalf("Wait with the pipe open: %v", err)
	}
	w.Close()
	wait(t, m)
	if tail := m.Tail("a", -1); len(tail) != 1 || string(tail[0].Text) != "partial" {
		t.Errorf("Tail = %+v", tail)
	}
}

func TestDestinations(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dup, err := os.OpenFile("/dev/fd/"+strconv.Itoa(int(w.Fd())), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	var b1, b2 bytes.Buffer
	tests := []struct {
		name   string
		o, e   io.Writer
		shared bool
	}{
		{"same file", w, w, true},
		{"same pipe", w, dup, true},
		{"different", w, os.Stderr, false},
		{"same buffer", &b1, &b1, true},
		{"buffers", &b1, &b2, false},
		{"discard", io.Discard, io.Discard, true},
		{"funcs", writerFunc(nil), writerFunc(nil), false}, // not comparable
	}
	for _, tt := range tests {
		m := New(Options{Stdout: tt.o, Stderr: tt.e})
		if got := m.dst[Stdout] == m.dst[Stderr]; got != tt.shared {
			t.Errorf("%s: shared mutex = %v", tt.name, got)
		}
	}
	m := New(Options{})
	if e := m.dst[Stderr].w; m.dst[Stdout].w != os.Stdout || e != os.Stderr && e != os.Stdout {
		t.Error("nil destinations are not os.Stdout and os.Stderr")
	}
	var o lockedBuffer
	m = New(Options{Stdout: io.Discard, Stderr: &o})
	fmt.Fprintf(m.Writer(Stderr), "tend: hello\n")
	if o.String() != "tend: hello\n" {
		t.Errorf("Writer wrote %q", o.String())
	}
}

// In JSON, tend's own messages are objects with the keys of service lines.
func TestWriterJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tend: started pid=7 cmd=\"sh -c x\"\n", `{"time":"2026-11-24T12:00:00.123456789Z","service":"tend","stream":"stderr","line":"started pid=7 cmd=\"sh -c x\""}` + "\n"},
		{"no prefix", `{"time":"2026-11-24T12:00:00.123456789Z","service":"tend","stream":"stderr","line":"no prefix"}` + "\n"},
		{"tend: panic\nstack\xff\n", `{"time":"2026-11-24T12:00:00.123456789Z","service":"tend","stream":"stderr","line":"panic\nstack\ufffd"}` + "\n"},
	}
	for _, tt := range tests {
		var o, e lockedBuffer
		m := New(Options{Format: JSON, Stdout: &o, Stderr: &e, Now: fixedNow})
		n, err := io.WriteString(m.Writer(Stderr), tt.in)
		if n != len(tt.in) || err != nil {
			t.Errorf("Write(%q) = %d, %v", tt.in, n, err)
		}
		if e.String() != tt.want || o.String() != "" {
			t.Errorf("Write(%q): stderr %q, stdout %q; want stderr %q", tt.in, e.String(), o.String(), tt.want)
		}
		if !json.Valid([]byte(e.String())) {
			t.Errorf("Write(%q): invalid JSON %q", tt.in, e.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// payload is the deterministic content of line seq of a writer.
func payload(id string, seq int) string {
	n := seq % 97 * 3
	if seq%1000 == 999 {
		n = 5000 + seq%3000 // beyond PIPE_BUF: atomic only thanks to the mutex
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:", id, seq)
	for i := range n {
		b.WriteByte("abcdefghijklmnopqrstuvwxyz"[(seq+i)%26])
	}
	return b.String()
}

// TestConcurrent has many writers write through real pipes at once while
// checkers parse both destinations: no line may be torn, interleaved,
// reordered or lost.
func TestConcurrent(t *testing.T) {
	const (
		services = 6
		lines    = 10000
		ownLines = 2000
	)
	tests := []struct {
		name string
		opts Options
	}{
		{"text", Options{Width: 9}},
		{"timestamps", Options{Timestamps: true, Width: 9}},
		{"json", Options{Format: JSON}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dsts [2]struct{ r, w *os.File }
			for i := range dsts {
				var err error
				if dsts[i].r, dsts[i].w, err = os.Pipe(); err != nil {
					t.Fatal(err)
				}
			}
			opts := tt.opts
			opts.Stdout, opts.Stderr = dsts[0].w, dsts[1].w
			m := New(opts)
			// Checkers.
			type result struct {
				counts map[string]int
				err    error
			}
			results := make(chan result, 2)
			for s := range 2 {
				go func() {
					res := result{counts: map[string]int{}}
					br := bufio.NewReaderSize(dsts[s].r, 1<<16)
					for {
						l, err := br.ReadString('\n')
						if err == io.EOF && l == "" {
							break
						}
						if err != nil {
							res.err = err
							break
						}
						if res.err == nil {
							res.err = checkLine(tt.opts, Stream(s), l, res.counts)
						}
					}
					dsts[s].r.Close()
					results <- res
				}()
			}
			// Writers.
			var wg sync.WaitGroup
			for i := range services {
				name := "svc" + strconv.Itoa(i)
				for s := range 2 {
					r, w, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					m.Attach(name, Stream(s), r)
					wg.Go(func() {
						defer w.Close()
						rnd := rand.New(rand.NewPCG(uint64(i), uint64(s)))
						id := name + "/" + Stream(s).String()
						var buf []byte
						for seq := range lines {
							buf = append(buf, payload(id, seq)...)
							buf = append(buf, '\n')
							if len(buf) > 8192 || seq == lines-1 {
								for len(buf) > 0 { // random chunks: lines arrive in pieces
									n := min(len(buf), 1+rnd.IntN(6000))
									if _, err := w.Write(buf[:n]); err != nil {
										t.Error(err)
										return
									}
									buf = buf[n:]
								}
								buf = buf[:0]
							}
						}
					})
				}
			}
			// tend's own messages, on stderr, meanwhile.
			wg.Go(func() {
				for seq := range ownLines {
					if _, err := fmt.Fprintf(m.Writer(Stderr), "tend: %s\n", payload("tend/stderr", seq)); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Wait()
			wait(t, m)
			dsts[0].w.Close()
			dsts[1].w.Close()
			for range 2 {
				res := <-results
				if res.err != nil {
					t.Fatal(res.err)
				}
				want := services
				if res.counts["tend/stderr"] > 0 {
					want++ // tend's own messages, on stderr
				}
				if len(res.counts) != want {
					t.Errorf("lines from %d services, want %d", len(res.counts), want)
				}
				for id, n := range res.counts {
					if id == "tend/stderr" {
						if n != ownLines {
							t.Errorf("%d messages of tend's own, want %d", n, ownLines)
						}
						continue
					}
					if n != lines {
						t.Errorf("%s: %d lines, want %d", id, n, lines)
					}
				}
			}
			for i := range services {
				name := "svc" + strconv.Itoa(i)
				var want [2]uint64
				for s := range 2 {
					for seq := range lines {
						want[s] += uint64(len(payload(name+"/"+Stream(s).String(), seq)))
					}
				}
				if l, b := m.Stats(name); l != [2]uint64{lines, lines} || b != want {
					t.Errorf("Stats(%s) = %v %v, want bytes %v", name, l, b, want)
				}
			}
		})
	}
}

// checkLine parses one output line of TestConcurrent and checks it is the
// next expected line of its writer.
func checkLine(opts Options, s Stream, l string, counts map[string]int) error {
	var service, stream, text string
	if opts.Format == JSON {
		var v struct{ Time, Service, Stream, Line string }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			return fmt.Errorf("bad JSON %.100q: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, v.Time); err != nil {
			return err
		}
		service, stream, text = v.Service, v.Stream, v.Line
	} else {
		rest := strings.TrimSuffix(l, "\n")
		if own, ok := strings.CutPrefix(rest, "tend: "); ok {
			// tend's own message: written as it is.
			service, stream, text = "tend", s.String(), own
			goto check
		}
		if opts.Timestamps {
			ts, r, ok := strings.Cut(rest, " ")
			if _, err := time.Parse(time.RFC3339, ts); !ok || err != nil || len(ts) != len("2026-11-24T12:00:00.123Z") {
				return fmt.Errorf("bad timestamp in %.100q", l)
			}
			rest = r
		}
		prefix, t, ok := strings.Cut(rest, " | ")
		if !ok || len(prefix) != opts.Width {
			return fmt.Errorf("bad prefix in %.100q", l)
		}
		service, text = strings.TrimRight(prefix, " "), t
		stream = s.String()
	}
check:
	if stream != s.String() {
		return fmt.Errorf("%s line on %v: %.100q", stream, s, l)
	}
	id, _, _ := strings.Cut(text, ":")
	if id != service+"/"+stream {
		return fmt.Errorf("line of %s/%s reads %.100q", service, stream, text)
	}
	seq := counts[id]
	if want := payload(id, seq); text != want {
		return fmt.Errorf("%s: line %d is %.100q, want %.100q", id, seq, text, want)
	}
	counts[id]++
	return nil
}

// special8 against a byte-by-byte reference: whether a word has a byte to
// escape, and which is the first; every byte value at every position of a
// plain word, and random words.
func TestSpecial8(t *testing.T) {
	ref := func(w uint64) int { // index of the first special byte, or 8
		for i := range 8 {
			c := byte(w >> (8 * i))
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return i
			}
		}
		return 8
	}
	got := func(w uint64) int {
		if m := special8(w); m != 0 {
			return bits.TrailingZeros64(m) / 8
		}
		return 8
	}
	const plain = 0x6161616161616161 // "aaaaaaaa"
	for c := range 256 {
		for pos := range 8 {
			w := plain&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
			if got(w) != ref(w) {
				t.Errorf("special8(%#016x): first special byte %d, want %d", w, got(w), ref(w))
			}
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		w := rnd.Uint64()
		if rnd.IntN(2) == 0 { // mostly printable ASCII, to reach the plain case
			w &= 0x3f3f3f3f3f3f3f3f
			w |= 0x2020202020202020 | rnd.Uint64()&0x4040404040404040
		}
		if got(w) != ref(w) {
			t.Fatalf("special8(%#016x): first special byte %d, want %d", w, got(w), ref(w))
		}
	}
}

// Adding only the lines ring.kept names, as one run, leaves the ring as
// adding them all one by one does.
func TestRingKept(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ lines, bytes int }{{1, 10}, {5, 10}, {7, 100}, {100, 64}, {1000, 5000}, {0, 100}} {
		all := ring{maxLines: c.lines, maxBytes: c.bytes}
		some := ring{maxLines: c.lines, maxBytes: c.bytes}
		seq := uint64(0)
		for range 2000 {
			var buf []byte
			var refs []lineRef
			for range rnd.IntN(40) {
				n := rnd.IntN(c.bytes/3 + 1)
				if rnd.IntN(30) == 0 {
					n = c.bytes
				}
				refs = append(refs, lineRef{off: int32(len(buf)), n: int32(n), cont: rnd.IntN(2) == 0})
				buf = append(buf, strings.Repeat(string(rune('a'+rnd.IntN(26))), n)...)
				buf = append(buf, "\r\n"[:1+rnd.IntN(2)]...) // line ends between the texts
			}
			first := some.kept(refs)
			some.addRun(entry{seq: seq + uint64(first)}, buf, refs[first:])
			for _, r := range refs {
				seq++
				all.add(entry{seq: seq, cont: r.cont}, buf[r.off:r.off+r.n])
			}
			if len(some.data) > 2*(c.bytes+2*c.lines) {
				t.Fatalf("%+v: arena grew to %d", c, len(some.data))
			}
			if some.bytes != total(tailTexts(all.tail("x", -1))) || all.bytes != some.bytes {
				t.Fatalf("%+v: bytes counted %d and %d, want %d", c, all.bytes, some.bytes, total(tailTexts(all.tail("x", -1))))
			}
			a, s := all.tail("x", -1), some.tail("x", -1)
			if len(a) != len(s) {
				t.Fatalf("%+v: %d lines kept, want %d", c, len(s), len(a))
			}
			for i := range a {
				if a[i].Seq != s[i].Seq || a[i].Cont != s[i].Cont || string(a[i].Text) != string(s[i].Text) {
					t.Fatalf("%+v: line %d differs", c, i)
				}
			}
		}
	}
}

// With the default bounds and 100-byte lines (1000 lines kept, 100 kB),
// the arena stays near twice the text kept instead of growing to
// 2*RingBytes.
func TestRingArenaFollowsKeptText(t *testing.T) {
	r := ring{maxLines: DefaultRingLines, maxBytes: DefaultRingBytes}
	line := []byte(strings.Repeat("x", 100))
	for i := range 50000 {
		r.add(entry{seq: uint64(i)}, line)
	}
	if r.n != DefaultRingLines {
		t.Fatalf("%d lines kept, want %d", r.n, DefaultRingLines)
	}
	if c := cap(r.data); c > 512<<10 {
		t.Errorf("arena capacity %d for 100 kB kept, want at most 512 KiB", c)
	}
}

func tailTexts(ls []Line) []string {
	var out []string
	for _, l := range ls {
		out = append(out, string(l.Text))
	}
	return out
}
