package supervise

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/config"
)

// Upward notification (issue 20 item 3): READY=1 once every service
// settled, carrying the summary; then STATUS= only when the summary
// changes (a crash, the restart), and STOPPING=1 at shutdown.
func TestNotifyUpStatus(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "manager.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	recv := func() []string {
		var got []string
		buf := make([]byte, 4096)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return got
			}
			got = append(got, string(buf[:n]))
		}
	}
	r := newRig(t, Config{NotifySocket: sock},
		&Service{Service: &config.Service{Name: "db", BackoffInitial: time.Second, BackoffMax: time.Second, MaxRestarts: 10, MaxRestartsWithin: time.Minute}},
		&Service{Service: &config.Service{Name: "web", After: []string{"db"}}})
	msgs := recv()
	ready := -1
	for i, m := range msgs {
		if strings.HasPrefix(m, "READY=1\n") {
			ready = i
		}
	}
	if ready < 0 || msgs[ready] != "READY=1\nSTATUS=2 running" {
		t.Fatalf("at startup: %q, want READY=1 with STATUS=2 running last", msgs)
	}
	if msgs := recv(); len(msgs) != 0 {
		t.Errorf("nothing changed, yet sent %q", msgs)
	}
	r.exit("db", 1)
	if got := recv(); strings.Join(got, "|") != "STATUS=1 running, 1 backoff (db)" {
		t.Errorf("after db crashed: %q", got)
	}
	r.advance(time.Second)
	if got := recv(); strings.Join(got, "|") != "STATUS=2 running" {
		t.Errorf("after db restarted: %q", got)
	}
	r.signal(unix.SIGTERM)
	got := recv()
	if len(got) == 0 || got[0] != "STOPPING=1" {
		t.Errorf("at shutdown: %q, want STOPPING=1 first", got)
	}
}
