package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
)

// memLimit is the address-space limit (ulimit -v, KiB) the tests of
// unbounded reads run tend under, so that a regression (reading /dev/zero
// to the end) fails the test instead of exhausting the shared machine.
const memLimit = "4194304"

// runCheckLimited is runCheck under memLimit.
func runCheckLimited(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return runCheckWith(t, dir, []string{"sh", "-c", `ulimit -v ` + memLimit + ` && exec "$@"`, "sh", tendBin, "check"}, args)
}

// Scenario (issue 10, item 4): every file tend reads — the config file, an
// env_file, a Procfile and the .env beside it — must be a regular file of
// at most 4 MiB. A FIFO used to hang `tend check` and startup (the open
// blocks until a writer comes); /dev/zero used to kill tend with Go's
// out-of-memory dump. Now each is an error naming the file and what is
// accepted, exit 2, at once — from `tend check` and from tend as PID 1.
func TestConfigFilesNotRegular(t *testing.T) {
	t.Parallel()
	needEnv(t)
	const acc = "; accepted: a regular file of at most 4 MiB"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) (flag, file, want string) // want after "tend: "
	}{
		{"env_file FIFO", func(t *testing.T, dir string) (string, string, string) {
			fifo := mkfifo(t, dir, "db.env")
			p := writeConfig(t, dir, "[service.db]\ncommand = \"/bin/true\"\nenv_file = \"db.env\"\n")
			return "-c", p, p + `:3: service.db.env_file: cannot read "` + fifo + `": a named pipe (FIFO), not a regular file` + acc
		}},
		{"env_file /dev/zero", func(t *testing.T, dir string) (string, string, string) {
			p := writeConfig(t, dir, "[service.db]\ncommand = \"/bin/true\"\nenv_file = \"/dev/zero\"\n")
			return "-c", p, p + `:3: service.db.env_file: cannot read "/dev/zero": a character device, not a regular file` + acc
		}},
		{"config FIFO", func(t *testing.T, dir string) (string, string, string) {
			fifo := mkfifo(t, dir, "tend.toml")
			return "-c", fifo, fifo + `: a named pipe (FIFO), not a regular file` + acc
		}},
		{"Procfile's .env FIFO", func(t *testing.T, dir string) (string, string, string) {
			fifo := mkfifo(t, dir, ".env")
			p := filepath.Join(dir, "Procfile")
			if err := os.WriteFile(p, []byte("web: /bin/true\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "-f", p, fifo + `: a named pipe (FIFO), not a regular file` + acc
		}},
		{"Procfile /dev/zero", func(t *testing.T, dir string) (string, string, string) {
			return "-f", "/dev/zero", `/dev/zero: a character device, not a regular file` + acc
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			flag, file, want := c.setup(t, dir)
			want = "tend: " + want + "\n"
			stdout, stderr, code := runCheckLimited(t, dir, flag, file)
			if stderr != want || code != 2 || stdout != "" {
				t.Errorf("tend check %s %s:\n got exit %d, stderr %q, stdout %q\nwant exit 2, stderr %q", flag, file, code, stderr, stdout, want)
			}
			r := startIn(t, t.TempDir(), opts{Pre: "ulimit -v " + memLimit}, flag, file)
			r.ExpectExit(2)
			if r.Stderr() != want {
				t.Errorf("tend %s %s: stderr %q, want %q", flag, file, r.Stderr(), want)
			}
		})
	}
}

// Scenario (issue 17, item 1): a time zone is a file tend reads too: the
// timezone key, a crontab's CRON_TZ and $TZ naming /dev/zero used to kill
// tend with Go's out-of-memory dump, a FIFO blocked the start forever. Now
// each is an error naming the zone file and what it is, exit 2, at once,
// from tend check and from tend as PID 1 (whose own local time zone falls
// back to UTC with a warning).
func TestZoneFilesNotRegular(t *testing.T) {
	t.Parallel()
	needEnv(t)
	const acc = "; accepted: a regular file of at most 10 MiB"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) (tz, flag, file, want string) // want: a line of stderr, after "tend: "
	}{
		{"timezone /dev/zero", func(t *testing.T, dir string) (string, string, string, string) {
			p := writeConfig(t, dir, "[service.j]\ncommand = \"/bin/true\"\nschedule = \"@hourly\"\ntimezone = \"/dev/zero\"\n")
			return "", "-c", p, p + `:4: service.j.timezone: "/dev/zero": zone file /dev/zero: a character device, not a regular file` + acc
		}},
		{"CRON_TZ FIFO", func(t *testing.T, dir string) (string, string, string, string) {
			fifo := mkfifo(t, dir, "zone")
			p := filepath.Join(dir, "crontab")
			cfgWriteFile(t, p, "CRON_TZ="+fifo+"\n@hourly true\n")
			return "", "--crontab", p, p + `:1: CRON_TZ: "` + fifo + `": zone file ` + fifo + `: a named pipe (FIFO), not a regular file` + acc
		}},
		{"TZ FIFO", func(t *testing.T, dir string) (string, string, string, string) {
			fifo := mkfifo(t, dir, "zone")
			p := writeConfig(t, dir, "[service.j]\ncommand = \"/bin/true\"\nschedule = \"@hourly\"\n")
			return fifo, "-c", p, p + `:3: service.j.schedule: no timezone key, and TZ="` + fifo + `": zone file ` + fifo + `: a named pipe (FIFO), not a regular file` + acc
		}},
		{"TZ /dev/zero", func(t *testing.T, dir string) (string, string, string, string) {
			p := filepath.Join(dir, "crontab")
			cfgWriteFile(t, p, "@hourly true\n")
			return "/dev/zero", "--crontab", p, p + `:1: no CRON_TZ line, and TZ="/dev/zero": zone file /dev/zero: a character device, not a regular file` + acc
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tz, flag, file, want := c.setup(t, dir)
			env := []string{"env"}
			if tz != "" {
				env = append(env, "TZ="+tz)
			}
			argv := append(env, "sh", "-c", `ulimit -v `+memLimit+` && exec "$@"`, "sh", tendBin, "check")
			stdout, stderr, code := runCheckWith(t, dir, argv, []string{flag, file})
			if !strings.Contains(stderr, "tend: "+want+"\n") || code != 2 || stdout != "" {
				t.Errorf("tend check %s %s (TZ=%s):\n got exit %d, stderr %q, stdout %q\nwant exit 2, stderr with %q", flag, file, tz, code, stderr, stdout, want)
			}
			pre := "ulimit -v " + memLimit
			if tz != "" {
				pre += " && export TZ=" + tz
			}
			r := startIn(t, t.TempDir(), opts{Pre: pre}, flag, file)
			r.ExpectExit(2)
			if !strings.Contains(r.Stderr(), "tend: "+want+"\n") {
				t.Errorf("tend %s %s (TZ=%s): stderr %q, want a line %q", flag, file, tz, r.Stderr(), want)
			}
			if tz != "" && !strings.Contains(r.Stderr(), "tend: warning: local time zone: "+tz+": ") {
				t.Errorf("tend with TZ=%s: stderr %q lacks the local-zone warning", tz, r.Stderr())
			}
		})
	}
}

func mkfifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := unix.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Scenario (issue 10, item 3): a SIGHUP whose new configuration names a
// FIFO as env_file used to wedge PID 1 — the read ran on the event loop, so
// reaping, the control socket, /healthz and even SIGTERM stopped. Now the
// files are read off the loop (and a FIFO is refused at once): the reload
// is reported, the running configuration kept, and tend keeps answering
// and stops promptly on SIGTERM.
func TestConfigReloadFIFO(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready-a")
	sock := filepath.Join(dir, "ctl.sock")
	port := cfgFreePort(t)
	def := "[service.a]\ncommand = " + tomlArgv(tprog("svc", "--name", "a", "--log", filepath.Join(dir, "records"), "--ready", ready)...) + "\n"
	cfg := writeConfig(t, dir, def)
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock, "--http", "127.0.0.1:"+strconv.Itoa(port))
	aPID := r.WaitPID(ready)

	fifo := mkfifo(t, dir, "a.env")
	cfgWriteFile(t, cfg, def+"env_file = \"a.env\"\n")
	r.Signal(unix.SIGHUP)
	line := r.waitStderr("the reload error", func(line string) bool {
		return strings.HasPrefix(line, "tend: reload failed; keeping the running configuration")
	})
	if want := fifo + `\": a named pipe (FIFO), not a regular file`; !strings.Contains(line, want) {
		t.Errorf("reload error %q does not contain %q", line, want)
	}

	// Still answering: the control socket and /healthz.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tendBin, "status", "--socket", sock)
	cmd.Env = cleanEnv(nil)
	state := harness.StateOnCancel(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("tend status after the failed reload: %v\n%s%s\n%s", err, state(), out, r.Diag())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/healthz")
	if err != nil {
		t.Errorf("GET /healthz after the failed reload: %v\n%s", err, r.Diag())
	} else {
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /healthz after the failed reload: %d, want 200", resp.StatusCode)
		}
	}
	if pid := r.WaitPID(ready); pid != aPID {
		t.Errorf("a failed reload restarted a (pid %d, was %d)", pid, aPID)
	}

	r.Signal(unix.SIGTERM)
	r.WaitExit(10 * time.Second)
	r.ExpectCode(0)
}
