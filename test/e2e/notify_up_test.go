package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario (issue 20, item 3): tend started by a manager speaking
// sd_notify (podman --sdnotify=container, systemd Type=notify) tells it
// READY=1 once its service started and STOPPING=1 when SIGTERM starts the
// shutdown; the child never sees tend's NOTIFY_SOCKET.
func TestNotifyUpward(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, seen := filepath.Join(dir, "manager.sock"), filepath.Join(dir, "seen")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 60})
	recv := func(r interface{ Diag() string }) string {
		buf := make([]byte, 4096)
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("no notification within 60 s: %v\n%s", err, r.Diag())
		}
		return string(buf[:n])
	}
	r := start(t, opts{Env: []string{"NOTIFY_SOCKET=" + sock}, Timeout: 90 * time.Second},
		"--", "/bin/sh", "-c", `echo "child NOTIFY_SOCKET=[$NOTIFY_SOCKET]" >`+seen+`.tmp; mv `+seen+`.tmp `+seen+`; exec sleep 1000`)
	if got := recv(r); !strings.HasPrefix(got, "READY=1\n") {
		t.Errorf("first notification %q, want READY=1", got)
	}
	if got := r.WaitFile(seen); !strings.Contains(got, "child NOTIFY_SOCKET=[]") {
		t.Errorf("child saw %q: it must not get tend's NOTIFY_SOCKET", got)
	}
	r.Signal(unix.SIGTERM)
	if got := recv(r); got != "STOPPING=1" {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", got)
	}
	r.Wait()
}
