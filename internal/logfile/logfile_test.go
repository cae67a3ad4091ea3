package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// lines returns n numbered lines "line NNNNNN xxx...\n" of width bytes each
// (width >= 13), from first.
func lines(first, n, width int) []byte {
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		s := fmt.Sprintf("line %06d ", i)
		b.WriteString(s + strings.Repeat("x", width-len(s)-1) + "\n")
	}
	return b.Bytes()
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// numbers returns the line numbers of the files, oldest file first.
func numbers(t *testing.T, path string, files int) []int {
	t.Helper()
	var out []int
	for i := files - 1; i >= 0; i-- {
		name := path
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			var n int
			if _, err := fmt.Sscanf(l, "line %d ", &n); err != nil {
				t.Fatalf("%s: torn line %q", name, l)
			}
			out = append(out, n)
		}
	}
	return out
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name                     string
		maxSize                  int64
		maxFiles                 int
		batches, perBatch, width int
		wantFiles                int
	}{
		{"boundary exact", 200, 3, 1, 10, 20, 1}, // 200 bytes: fits exactly, no rotation
		{"one line over", 200, 3, 1, 11, 20, 2},  // the 11th line starts a new file
		{"many small batches", 1000, 3, 500, 1, 40, 3},
		{"big batches", 1000, 3, 10, 300, 33, 3},
		{"one file", 1000, 1, 10, 100, 20, 1},
		{"unbounded", 0, 3, 10, 100, 20, 1},
		{"line longer than max", 50, 2, 3, 1, 80, 2}, // a line alone in its file
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web.log")
			w, err := Open(path, Options{MaxSize: tc.maxSize, MaxFiles: tc.maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			total := 0
			for b := range tc.batches {
				p := lines(b*tc.perBatch, tc.perBatch, tc.width)
				if n, err := w.Write(p); err != nil || n != len(p) {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
				}
				total += tc.perBatch
			}
			files := 0
			for i := range tc.maxFiles + 2 {
				name := w.name(i)
				fi, err := os.Stat(name)
				if err != nil {
					continue
				}
				files++
				if i >= max(tc.maxFiles, 1) {
					t.Errorf("%s exists: more than max_files=%d files", name, tc.maxFiles)
				}
				if tc.maxSize > 0 && fi.Size() > tc.maxSize && fi.Size() != int64(tc.width) {
					t.Errorf("%s: %d bytes > max_size %d (and not one line alone)", name, fi.Size(), tc.maxSize)
				}
				if fi.Mode().Perm()&^Mode != 0 {
					t.Errorf("%s: mode %v, want at most %o", name, fi.Mode().Perm(), Mode)
				}
			}
			if files != tc.wantFiles {
				t.Errorf("%d files, want %d", files, tc.wantFiles)
			}
			// The files hold the last lines, consecutive, none missing.
			got := numbers(t, path, tc.maxFiles)
			if len(got) == 0 || got[len(got)-1] != total-1 {
				t.Fatalf("last line %v, want %d", got[max(len(got)-1, 0):], total-1)
			}
			for i := 1; i < len(got); i++ {
				if got[i] != got[i-1]+1 {
					t.Fatalf("line %d follows %d: lines missing or out of order", got[i], got[i-1])
				}
			}
			if tc.maxSize == 0 || tc.maxFiles > 1 && tc.batches*tc.perBatch*tc.width <= int(tc.maxSize)*tc.maxFiles {
				if got[0] != 0 {
					t.Errorf("first line kept %d, want 0 (everything fits)", got[0])
				}
			}
		})
	}
}

// A Write that does not end with "\n" still never splits the final piece.
func TestRotationPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	w, err := Open(path, Options{MaxSize: 10, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{"aaaa\n", "bbbb\n", "cc"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, path+".1"); got != "aaaa\nbbbb\n" {
		t.Errorf("web.log.1 = %q", got)
	}
	if got := read(t, path); got != "cc" {
		t.Errorf("web.log = %q", got)
	}
}

// Appending to an existing file counts its size.
func TestAppendExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	if err := os.WriteFile(path, []byte("old1\nold2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(path, Options{MaxSize: 15, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("new1\n"))
	w.Write([]byte("new2\n"))
	if got := read(t, path+".1"); got != "old1\nold2\nnew1\n" {
		t.Errorf("web.log.1 = %q", got)
	}
	if got := read(t, path); got != "new2\n" {
		t.Errorf("web.log = %q", got)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.log")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("before\n"))
	// logrotate: rename, then ask for a reopen.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("renamed\n"))
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	if got := read(t, path+".old"); got != "before\nrenamed\n" {
		t.Errorf("old file = %q", got)
	}
	if got := read(t, path); got != "after\n" {
		t.Errorf("new file = %q", got)
	}

	s := NewSet()
	a, err := s.Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Open(path, Options{})
	if a != b || s.Len() != 1 {
		t.Errorf("two Opens of one path gave two writers")
	}
	os.Remove(path)
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("x\n"))
	if got := read(t, path); got != "x\n" {
		t.Errorf("after Set.Reopen: %q", got)
	}
	s.Close()
}

// failing is a file whose writes fail with ENOSPC while full is set.
type failing struct {
	mu   sync.Mutex
	full bool
	buf  bytes.Buffer
}

func (f *failing) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full {
		return 0, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	}
	return f.buf.Write(p)
}
func (f *failing) Close() error { return nil }

func TestWriteErrorReportedOnceCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	var reports []string
	w, err := Open(path, Options{Report: func(p string, err error) { reports = append(reports, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fake := &failing{full: true}
	w.mu.Lock()
	w.f.Close()
	w.f = fake
	w.mu.Unlock()

	before := WriteErrors()
	for range 5 {
		if _, err := w.Write([]byte("line\n")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Write error = %v, want ENOSPC", err)
		}
	}
	if got := WriteErrors() - before; got != 5 {
		t.Errorf("WriteErrors rose by %d, want 5", got)
	}
	if len(reports) != 1 || !strings.Contains(reports[0], "no space left on device") || !strings.Contains(reports[0], path) {
		t.Errorf("reports = %q, want one naming the path and ENOSPC", reports)
	}
	fake.mu.Lock()
	fake.full = false
	fake.mu.Unlock()
	if _, err := w.Write([]byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	fake.full = true
	fake.mu.Unlock()
	w.Write([]byte("again\n"))
	if len(reports) != 2 {
		t.Errorf("after a success, a new failure is reported again: %d reports", len(reports))
	}
}

func TestOpenRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: ownership cases limited")
	}
	base := t.TempDir()
	mk := func(name string, f func(p string) error) string {
		p := filepath.Join(base, name)
		if err := f(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := filepath.Join(mk("wideopen", func(p string) error {
		if err := os.Mkdir(p, 0o777); err != nil {
			return err
		}
		return os.Chmod(p, 0o777)
	}), "web.log")
	sticky := filepath.Join(mk("sticky", func(p string) error {
		if err := os.Mkdir(p, 0o777); err != nil {
			return err
		}
		return os.Chmod(p, 0o777|os.ModeSticky)
	}), "web.log")
	link := mk("link.log", func(p string) error { return os.Symlink("/etc/passwd", p) })
	fifo := mk("fifo.log", func(p string) error { return syscall.Mkfifo(p, 0o600) })
	hard := mk("hard.log", func(p string) error {
		if err := os.WriteFile(p+".orig", nil, 0o600); err != nil {
			return err
		}
		return os.Link(p+".orig", p)
	})
	tests := []struct {
		path string
		want string // "" = accepted
	}{
		{filepath.Join(base, "ok.log"), ""},
		{sticky, ""},
		{"relative.log", "not an absolute path"},
		{filepath.Join(base, "missing", "web.log"), "does not exist (tend creates no directories)"},
		{open, "lets other users replace the log file"},
		{link, "a symbolic link"},
		{fifo, "a named pipe"},
		{hard, "has 2 hard links"},
		{base, "a directory"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			w, err := Open(tc.path, Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Open(%s): %v", tc.path, err)
				}
				w.Close()
				return
			}
			if err == nil {
				w.Close()
				t.Fatalf("Open(%s) succeeded, want an error containing %q", tc.path, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s) = %v, want %q", tc.path, err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile("/etc/passwd"); len(b) == 0 {
		t.Log("no /etc/passwd")
	}
}

func BenchmarkWrite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "web.log")
	w, err := Open(path, Options{MaxSize: 1 << 20, MaxFiles: 3})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	p := lines(0, 1000, 64)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		w.Write(p)
	}
}
