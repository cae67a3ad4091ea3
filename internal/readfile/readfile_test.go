package readfile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
		return p
	}
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	atLimit := write("at-limit", 1<<10)
	overLimit := write("over-limit", 1<<10+1)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	zeroLink := filepath.Join(dir, "zero-link")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	const acc = "; accepted: a regular file of at most 1 KiB"
	tests := []struct {
		path    string
		size    int    // wanted length when ok
		reason  string // wanted *Error reason, "" = no *Error
		notExst bool
	}{
		{small, 4, "", false},
		{atLimit, 1 << 10, "", false},
		{overLimit, 0, "1025 bytes, larger than 1 KiB" + acc, false},
		{fifo, 0, "a named pipe (FIFO), not a regular file" + acc, false},
		{"/dev/zero", 0, "a character device, not a regular file" + acc, false},
		{zeroLink, 0, "a character device, not a regular file" + acc, false},
		{dir, 0, "a directory, not a regular file" + acc, false},
		{sock, 0, "a socket, not a regular file" + acc, false},
		{filepath.Join(dir, "missing"), 0, "", true},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			done := make(chan struct{})
			var data []byte
			var err error
			go func() {
				defer close(done)
				data, err = Read(tt.path, 1<<10)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("Read(%s) blocked", tt.path)
			}
			var re *Error
			switch {
			case tt.reason != "":
				if !errors.As(err, &re) || re.Reason != tt.reason || re.Path != tt.path {
					t.Fatalf("Read(%s) = %v, want *Error %q", tt.path, err, tt.reason)
				}
				if !strings.HasPrefix(err.Error(), tt.path+": ") {
					t.Errorf("error %q does not start with the path", err)
				}
			case tt.notExst:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Read(%s) = %v, want ErrNotExist", tt.path, err)
				}
			default:
				if err != nil || len(data) != tt.size {
					t.Fatalf("Read(%s) = %d bytes, %v; want %d bytes", tt.path, len(data), err, tt.size)
				}
			}
		})
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{Max: "4 MiB", 64 << 20: "64 MiB", 1 << 10: "1 KiB", 1000: "1000 bytes", 3<<10 + 1: "3073 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
