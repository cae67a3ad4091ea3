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
// READY=1 once its service started (with STATUS=, a one-line summary, also
// sent whenever it changes) and STOPPING=1 when SIGTERM starts the
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
	// STATUS= summaries may come before READY=1 (a service's state
	// changed) and after it; nothing else does.
	next := func(what string) string {
		var skipped []string
		for {
			got := recv(r)
			if !strings.HasPrefix(got, "STATUS=") || strings.Contains(got, "\n") {
				if len(skipped) > 0 {
					t.Logf("STATUS lines before %s: %q", what, skipped)
				}
				return got
			}
			skipped = append(skipped, got)
		}
	}
	if got := next("READY"); got != "READY=1\nSTATUS=1 running" {
		t.Errorf("first notification other than STATUS: %q, want READY=1 with STATUS=1 running", got)
	}
	if got := r.WaitFile(seen); !strings.Contains(got, "child NOTIFY_SOCKET=[]") {
		t.Errorf("child saw %q: it must not get tend's NOTIFY_SOCKET", got)
	}
	r.Signal(unix.SIGTERM)
	if got := next("STOPPING"); got != "STOPPING=1" {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", got)
	}
	r.Wait()
}
