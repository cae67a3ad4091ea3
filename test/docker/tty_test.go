package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTTY is scenario 4: `docker run -t -i IMAGE sh` driven from a pty we
// control, like a user at a terminal. Ctrl-C (0x03) must reach the program
// running in the foreground of the interactive shell, and only it: the shell
// and PID 1 keep running, so `exit 7` afterwards ends the container with 7.
func TestTTY(t *testing.T) {
	needDocker(t)
	t.Parallel()
	for _, k := range []initKind{withTend, withTini} {
		t.Run(k.name, func(t *testing.T) {
			k.need(t)
			t.Parallel()
			runTTY(t, k)
		})
	}
}

func runTTY(t *testing.T, k initKind) {
	ctx := deadline(t, 60*time.Second)
	out := outDir(t)
	cidfile := filepath.Join(t.TempDir(), "cid")

	term, err := openPty()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	defer term.master.Close()

	args := append([]string{"run", "-t", "-i", "--cidfile", cidfile}, commonArgs(out)...)
	args = append(args, k.args...)
	args = append(args, imageID, "sh")
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	go term.pump()

	c := &container{t: t, ctx: ctx, out: out}
	c.waitFor("docker run to write its --cidfile", func() bool {
		b, err := os.ReadFile(cidfile)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			c.id = string(bytes.TrimSpace(b))
			return true
		}
		return false
	})
	registerRemoval(t, c.id)
	defer func() {
		if t.Failed() {
			t.Logf("terminal output:\n%s", term.output())
		}
	}()

	term.waitFor(t, ctx, "# ", 0) // the shell's prompt
	mark := term.len()
	term.write(t, "testprog sigprint --out /out/S --ready /out/R\r")
	c.waitFile("R")
	term.write(t, "\x03") // Ctrl-C
	c.waitContains("S", "got SIGINT\n")

	// sigprint survives SIGINT; end it with SIGTERM, then leave the shell.
	pidText, _ := c.read("R")
	pid, err := strconv.Atoi(strings.TrimSpace(pidText))
	if err != nil {
		t.Fatalf("bad ready file %q", pidText)
	}
	if _, err := c.exec("kill", "-TERM", strconv.Itoa(pid)); err != nil {
		t.Fatal(err)
	}
	c.waitContains("S", "got SIGTERM\n")
	term.waitFor(t, ctx, "# ", mark) // the prompt again: the shell survived Ctrl-C
	term.write(t, "exit 7\r")

	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		t.Fatalf("docker run -t -i did not end after `exit 7`")
	}
	code := c.wait()
	got, _ := c.read("S")
	// docker sets the container terminal's size when it attaches, which
	// can land after sigprint is in the foreground: the kernel then sends
	// the foreground group a SIGWINCH. A resize is nobody's signal to
	// forward; leave it out of the comparison.
	got = strings.ReplaceAll(got, "got SIGWINCH\n", "")
	t.Logf("%s: sigprint recorded %q; docker run: %v; exit %d", k.name, got, runErr, code)
	var ee *exec.ExitError
	if runErr != nil && (!errors.As(runErr, &ee) || ee.ExitCode() != code) {
		t.Errorf("docker run -t -i: %v (container exit code %d)", runErr, code)
	}
	if got == "got SIGINT\ngot SIGTERM\n" && code == 7 {
		record(k, "4", fmt.Sprintf("✅ SIGINT reached the foreground program only, exit %d", code))
	} else {
		record(k, "4", fmt.Sprintf("❌ program got %q, exit %d", got, code))
	}
	if want := "got SIGINT\ngot SIGTERM\n"; got != want {
		t.Errorf("sigprint recorded %q, want %q", got, want)
	}
	if code != 7 {
		t.Errorf("exit code %d, want 7 (from `exit 7` typed into the shell)", code)
	}
}

// pty is the terminal a test types into.
type pty struct {
	master, slave *os.File
	mu            sync.Mutex
	buf           bytes.Buffer
}

// openPty opens a new pseudo-terminal with the slave side in raw mode (so a
// 0x03 we write is passed through and never signals the docker CLI itself,
// even before it set the terminal raw).
func openPty() (*pty, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	var n int
	var ierr error
	rc, err := m.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr != nil {
				return
			}
			n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		})
	}
	if err = errors.Join(err, ierr); err != nil {
		m.Close()
		return nil, err
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, err
	}
	rc, err = s.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			var tio *unix.Termios
			if tio, ierr = unix.IoctlGetTermios(int(fd), unix.TCGETS); ierr != nil {
				return
			}
			// cfmakeraw
			tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
			tio.Oflag &^= unix.OPOST
			tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
			tio.Cflag &^= unix.CSIZE | unix.PARENB
			tio.Cflag |= unix.CS8
			if ierr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio); ierr != nil {
				return
			}
			ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 120})
		})
	}
	if err = errors.Join(err, ierr); err != nil {
		m.Close()
		s.Close()
		return nil, err
	}
	return &pty{master: m, slave: s}, nil
}

// pump collects everything the terminal shows until the slave side is gone.
func (p *pty) pump() {
	b := make([]byte, 4096)
	for {
		n, err := p.master.Read(b)
		p.mu.Lock()
		p.buf.Write(b[:n])
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *pty) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Len()
}

// waitFor waits until s appears in the terminal output after offset from.
func (p *pty) waitFor(t *testing.T, ctx context.Context, s string, from int) {
	t.Helper()
	for {
		if strings.Contains(p.output()[from:], s) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("deadline exceeded waiting for %q on the terminal; it shows:\n%s", s, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *pty) write(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		t.Fatalf("writing %q to the terminal: %v", s, err)
	}
}
