package logs

import (
	"io"
	"os"
	"strings"
	"testing"
)

const benchLine = `127.0.0.1 - - [24/Nov/2026:12:00:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.5.0"` + "\n"

// benchPipeFor is the stdout pipe of a service "web" of a Mux writing to
// io.Discard.
func benchPipeFor(opts Options) *pipe {
	opts.Stdout, opts.Stderr = io.Discard, io.Discard
	m := New(opts)
	m.SetWidth(8)
	m.mu.Lock()
	svc := m.service("web")
	m.mu.Unlock()
	return newPipe(m, svc, Stdout, nil)
}

// benchPipe measures the hot path for one line: scanning the read buffer,
// recording into the ring, formatting, and the write (to io.Discard).
func benchPipe(b *testing.B, opts Options, line string) {
	p := benchPipeFor(opts)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		p.prepare()
		p.end += copy(p.buf[p.end:], line)
		p.scan()
	}
}

// benchBatch is benchPipe with 64 KiB of lines per read, as a service
// writing fast delivers them (a pipe's capacity): the per-line cost of the
// batched path. b.N counts lines.
func benchBatch(b *testing.B, opts Options, line string) {
	p := benchPipeFor(opts)
	chunk := strings.Repeat(line, (64<<10)/len(line))
	per := len(chunk) / len(line)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for i := 0; i < b.N; i += per {
		p.prepare()
		p.buf = p.buf[:cap(p.buf)]
		if len(p.buf)-p.end < len(chunk) {
			p.buf = append(p.buf[:p.end], make([]byte, len(chunk))...)
		}
		p.end += copy(p.buf[p.end:], chunk)
		p.scan()
	}
}

func BenchmarkText(b *testing.B) { benchPipe(b, Options{}, benchLine) }

func BenchmarkTextBatch(b *testing.B) { benchBatch(b, Options{}, benchLine) }

func BenchmarkJSONBatch(b *testing.B) { benchBatch(b, Options{Format: JSON}, benchLine) }

// BenchmarkJSONPlainBatch: 200-byte lines with nothing to escape.
func BenchmarkJSONPlainBatch(b *testing.B) {
	benchBatch(b, Options{Format: JSON}, strings.Repeat("abcdefghij klmnopqrs", 10)+"\n")
}

func BenchmarkJSONEscapesBatch(b *testing.B) {
	benchBatch(b, Options{Format: JSON}, "\x1b[31merror:\x1b[0m \"quoted\" \\ tab\there \xff ünïcödé\n")
}

func BenchmarkTextTimestamps(b *testing.B) { benchPipe(b, Options{Timestamps: true}, benchLine) }

func BenchmarkJSON(b *testing.B) { benchPipe(b, Options{Format: JSON}, benchLine) }

func BenchmarkJSONEscapes(b *testing.B) {
	benchPipe(b, Options{Format: JSON}, "\x1b[31merror:\x1b[0m \"quoted\" \\ tab\there \xff ünïcödé\n")
}

// BenchmarkSplit measures a 1 MiB line arriving in 4 KiB reads, split into
// 16 pieces.
func BenchmarkSplit(b *testing.B) {
	m := New(Options{Stdout: io.Discard, Stderr: io.Discard})
	m.mu.Lock()
	svc := m.service("web")
	m.mu.Unlock()
	p := newPipe(m, svc, Stdout, nil)
	line := strings.Repeat("ünïcödé ", 1<<20/len("ünïcödé ")) + "\n"
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		for s := line; len(s) > 0; {
			p.prepare()
			n := copy(p.buf[p.end:min(len(p.buf), p.end+4096)], s)
			p.end += n
			s = s[n:]
			p.scan()
		}
	}
}

// BenchmarkPipe is end to end: a writer goroutine, an os.Pipe, the reading
// goroutine, a subscriber-free Mux writing to /dev/null.
func BenchmarkPipe(b *testing.B) { benchEndToEnd(b, Options{}) }

func BenchmarkPipeJSON(b *testing.B) { benchEndToEnd(b, Options{Format: JSON}) }

func benchEndToEnd(b *testing.B, opts Options) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	opts.Stdout, opts.Stderr = null, null
	m := New(opts)
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	m.Attach("web", Stdout, r)
	chunk := []byte(strings.Repeat(benchLine, 4096/len(benchLine)))
	per := len(chunk) / len(benchLine)
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		w.Write(chunk)
	}
	w.Close()
	wait(b, m)
}
