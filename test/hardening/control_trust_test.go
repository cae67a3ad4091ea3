package hardening

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startFakeCtl runs `testprog fakectl` (an impostor answering every
// request with "ok") as uid, listening on sock, and returns the file where
// it records what clients sent. The process is SIGKILLed by pid at cleanup.
func startFakeCtl(t *testing.T, dir, sock string, uid int) string {
	t.Helper()
	logf := filepath.Join(dir, "fakectl.log")
	readyf := filepath.Join(dir, "fakectl.ready")
	argv := tprog("fakectl", "--socket", sock, "--log", logf, "--ready", readyf)
	if uid != 0 {
		argv = append(tprog("execas", "--uid", strconv.Itoa(uid), "--gid", strconv.Itoa(uid), "--"), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = cleanEnv(nil)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(unix.SIGKILL)
		cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(readyf); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fakectl (uid %d) not ready after 30 s", uid)
		}
	}
	return logf
}

// TestCLIChecksServer: a process of another user listening on the socket
// path (here in a world-writable directory) answers every request with
// "ok". root's `tend shutdown` and `tend status` must not believe it — nor
// send it anything: exit 5 naming the impostor's uid. An answer from a
// server running as root (tend's usual case) is still accepted.
func TestCLIChecksServer(t *testing.T) {
	for _, c := range []struct {
		name    string
		uid     int
		cmd     []string
		code    int
		errWant string
	}{
		{"impostor_shutdown", 65534, []string{"shutdown"}, 5, "refusing to talk to"},
		{"impostor_status", 65534, []string{"status", "--json"}, 5, "served by uid 65534"},
		{"impostor_wait_ready", 65534, []string{"wait-ready", "--timeout", "2s"}, 5, "only a tend running as root or as uid 0"},
		{"root_server", 0, []string{"shutdown"}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := scratch(t)
			pub := filepath.Join(dir, "pub")
			if err := os.Mkdir(pub, 0o777); err != nil {
				t.Fatal(err)
			}
			os.Chmod(pub, 0o777)
			sock := filepath.Join(pub, "control.sock")
			logf := startFakeCtl(t, pub, sock, c.uid)
			code, out, errs, took := tendCLI(sock, 20*time.Second, c.cmd...)
			t.Logf("tend %s: code %d after %v, stderr %q", strings.Join(c.cmd, " "), code, took.Round(time.Millisecond), errs)
			if code != c.code {
				t.Fatalf("tend %s against a server of uid %d: exit %d, want %d\nstdout: %s\nstderr: %s",
					strings.Join(c.cmd, " "), c.uid, code, c.code, out, errs)
			}
			if !strings.Contains(errs, c.errWant) {
				t.Errorf("stderr %q does not contain %q", errs, c.errWant)
			}
			if c.code != 0 {
				time.Sleep(100 * time.Millisecond)
				if b, _ := os.ReadFile(logf); len(b) != 0 {
					t.Errorf("the CLI sent the impostor %q", b)
				}
			}
		})
	}
}
