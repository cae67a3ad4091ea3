package hardening

import (
	"fmt"
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
			if err := os.Chmod(pub, 0o777); err != nil {
				t.Fatal(err)
			}
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

// TestSocketDirUntrusted: a socket directory another user can change (it,
// or a directory above it, writable by group/others without the sticky
// bit, or owned by another uid) lets that user swap the socket or plant
// links while tend creates it. tend refuses it with a message naming the
// directory and what is accepted, creates nothing there, and runs on
// without a socket; a sticky world-writable directory like /tmp is fine.
// The socket's own directory when owned by root but writable by others (a
// Kubernetes emptyDir is 0777) is made safe instead: tend adds the sticky
// bit, says so, and serves.
func TestSocketDirUntrusted(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, dir string) (sockDir, bad string)
		fixed bool // tend adds the sticky bit to sockDir
	}{
		{"world_writable_made_sticky", func(t *testing.T, dir string) (string, string) {
			return mkdirMode(t, filepath.Join(dir, "pub"), 0o777, 0), ""
		}, true},
		{"group_writable_made_sticky", func(t *testing.T, dir string) (string, string) {
			return mkdirMode(t, filepath.Join(dir, "grp"), 0o770, 0), ""
		}, true},
		{"other_owner", func(t *testing.T, dir string) (string, string) {
			d := mkdirMode(t, filepath.Join(dir, "nobody"), 0o755, 65534)
			return d, d
		}, false},
		{"writable_parent", func(t *testing.T, dir string) (string, string) {
			p := mkdirMode(t, filepath.Join(dir, "pub"), 0o777, 0)
			return mkdirMode(t, filepath.Join(p, "run"), 0o755, 0), p
		}, false},
		{"sticky_ok", func(t *testing.T, dir string) (string, string) {
			return mkdirMode(t, filepath.Join(dir, "tmp"), os.ModeSticky|0o777, 0), ""
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := scratch(t)
			sockDir, bad := c.setup(t, dir)
			sock := filepath.Join(sockDir, "control.sock")
			recs := filepath.Join(dir, "records")
			conf := writeConfig(t, dir, fmt.Sprintf("grace = \"5s\"\n\n[service.steady]\ncommand = %s\n",
				tomlArgv(tprog("svc", "--name", "steady", "--log", recs)...)))
			r := start(t, dir, opts{}, "-c", conf, "--socket", sock)
			r.Poll("steady's start record", func() bool { return strings.Contains(readFile(recs), "start steady") })
			if bad == "" {
				st := waitStatus(t, r, sock, "status over the socket", func(s statusReport) bool { return len(s.Services) == 1 })
				t.Logf("served in %s: %+v", sockDir, st.Services)
				if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
					t.Errorf("socket %s: %v %v, want a 0600 socket", sock, fi.Mode(), err)
				}
				if c.fixed {
					line := r.waitStderrLine("the note", "control socket", "directory "+sockDir+" was mode", "tend added the sticky bit")
					t.Logf("tend said: %s", line)
					if fi, _ := os.Stat(sockDir); fi.Mode()&os.ModeSticky == 0 {
						t.Errorf("%s: mode %v, want the sticky bit", sockDir, fi.Mode())
					}
				}
			} else {
				line := r.waitStderrLine("the refusal", "control socket", "refusing directory "+bad+":", "accepted: owned by root")
				t.Logf("tend said: %s", line)
				ents, _ := os.ReadDir(sockDir)
				for _, e := range ents {
					t.Errorf("tend created %s in the refused directory", e.Name())
				}
				r.Alive("without a control socket")
			}
			r.Signal(unix.SIGTERM)
			r.WaitExit(20 * time.Second) // ms when it works; bounds a hang
			r.ExpectCode(0)
			if bad == "" {
				if _, err := os.Lstat(sock); err == nil {
					t.Errorf("socket %s left behind", sock)
				}
			}
			r.noPanic()
		})
	}
}

func mkdirMode(t *testing.T, d string, mode os.FileMode, uid int) string {
	t.Helper()
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	if uid != 0 {
		if err := os.Chown(d, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	return d
}
