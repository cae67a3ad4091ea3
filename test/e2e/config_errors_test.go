package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

// runCheck runs `tend check ARGS...` in dir and returns stdout, stderr and
// the exit code.
func runCheck(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return runCheckWith(t, dir, []string{tendBin, "check"}, args)
}

// runCheckWith runs the command line check (one that runs `tend check`)
// followed by args, in dir, and returns stdout, stderr and tend's exit
// code. It fails the test when the command does not finish within 10s or
// does not exit normally.
func runCheckWith(t *testing.T, dir string, check, args []string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := append(append([]string{}, check...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	state := harness.StateOnCancel(cmd)
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("tend check %q did not finish within 10s (it must never block on a file)\n%s\nstderr:\n%s", args, state(), stderr.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("tend check: %v", err)
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if !ws.Exited() {
			t.Fatalf("tend check died: %v\nstderr:\n%s", err, stderr.String())
		}
		code = ws.ExitStatus()
	}
	return stdout.String(), stderr.String(), code
}

// Scenario: each class of configuration error gives its exact message,
// "tend: FILE:LINE: KEY: message", and exit code 2 — from `tend check -c`
// and from running with the file.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	needEnv(t)
	const (
		commandAccepted = "an array of words, or a string split like shell words"
		keysAccepted    = "after, backoff, command, cpu_max, critical, env, env_file, health, listen, log, max_restarts, memory_max, oneshot, overlap, pids_max, ready, replicas, restart, schedule, stop_signal, stop_timeout, success_codes, timeout, timezone, update, user, watchdog, workdir"
		durAccepted     = `a Go duration such as "500ms", "10s", "1m30s"`
	)
	cases := []struct {
		name, toml string
		want       string // after "tend: FILE"
	}{
		{"unknown key",
			"[service.web]\ncommand = \"/bin/true\"\n\nrestrat = \"never\"\n",
			`:4: service.web.restrat: unknown key (did you mean restart?); accepted: ` + keysAccepted},
		{"bad restart value",
			"[service.web]\ncommand = \"/bin/true\"\nrestart = \"sometimes\"\n",
			`:3: service.web.restart: "sometimes" is not a restart policy; accepted: always, on-failure, never`},
		{"unknown name in after",
			"[service.db]\ncommand = \"/bin/true\"\n\n[service.web]\ncommand = \"/bin/true\"\nafter = [\"db\", \"cache\"]\n",
			`:6: service.web.after: unknown service "cache"; accepted: db, web`},
		{"dependency cycle",
			"[service.a]\ncommand = \"/bin/true\"\nafter = [\"c\"]\n\n[service.b]\ncommand = \"/bin/true\"\nafter = [\"a\"]\n\n[service.c]\ncommand = \"/bin/true\"\nafter = [\"b\"]\n",
			`:3: service.a.after: dependency cycle: a -> c -> b -> a`},
		{"undefined variable",
			"[service.web]\ncommand = [\"/bin/echo\", \"--port=${TEND_E2E_UNSET_PORT}\"]\n",
			`:2: service.web.command[1]: ${TEND_E2E_UNSET_PORT} is not set in tend's environment; write ${TEND_E2E_UNSET_PORT:-default} for a fallback`},
		{"bad duration",
			"grace = \"5s\"\n\n[service.web]\ncommand = \"/bin/true\"\nstop_timeout = \"10 seconds\"\n",
			`:5: service.web.stop_timeout: "10 seconds" is not a duration; accepted: ` + durAccepted},
		{"missing command",
			"[service.web]\nrestart = \"always\"\n",
			`:1: service.web.command: missing; accepted: ` + commandAccepted},
		{"TOML syntax",
			"[service.web]\ncommand = \"/bin/true\nrestart = \"never\"\n",
			`:2: TOML syntax: basic strings cannot have new lines`},
		{"no services",
			"grace = \"5s\"\n",
			`: no services; define at least one [service.NAME] table`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeConfig(t, dir, c.toml)

			// tend check, with the path as given (relative here).
			stdout, stderr, code := runCheck(t, dir, "-c", "tend.toml")
			if want := "tend: tend.toml" + c.want + "\n"; stderr != want || code != 2 || stdout != "" {
				t.Errorf("tend check -c tend.toml:\n got exit %d, stderr %q, stdout %q\nwant exit 2, stderr %q, stdout \"\"", code, stderr, stdout, want)
			}

			// Running with it, as PID 1 (absolute path).
			r := startIn(t, t.TempDir(), opts{}, "-c", path)
			if got := r.Wait(); got != 2 || r.Signaled {
				t.Errorf("tend -c %s: exit %d, want 2\n%s", path, got, r.Diag())
			}
			if want := "tend: " + path + c.want + "\n"; r.Stderr() != want || r.Stdout() != "" {
				t.Errorf("tend -c %s:\n got stderr %q, stdout %q\nwant stderr %q, stdout \"\"", path, r.Stderr(), r.Stdout(), want)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		stdout, stderr, code := runCheck(t, dir, "-c", "nope.toml")
		if want := "tend: nope.toml: open: no such file or directory\n"; stderr != want || code != 2 || stdout != "" {
			t.Errorf("tend check -c nope.toml:\n got exit %d, stderr %q, stdout %q\nwant exit 2, stderr %q", code, stderr, stdout, want)
		}
		path := filepath.Join(dir, "nope.toml")
		r := startIn(t, dir, opts{}, "-c", path)
		r.ExpectExit(2)
		if want := "tend: " + path + ": open: no such file or directory\n"; r.Stderr() != want {
			t.Errorf("tend -c %s: stderr %q, want %q", path, r.Stderr(), want)
		}
	})

	// And a valid file: check prints the plan and exits 0, nothing on stderr.
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeConfig(t, dir, "[service.web]\ncommand = \"/bin/true\"\nafter = [\"db\"]\n\n[service.db]\ncommand = [\"/bin/true\", \"x\"]\n")
		stdout, stderr, code := runCheck(t, dir, "-c", "tend.toml")
		if code != 0 || stderr != "" {
			t.Fatalf("tend check of a valid file: exit %d, stderr %q", code, stderr)
		}
		for _, want := range []string{"#   1. db\n#   2. web\n", "[service.web]", "[service.db]", `command = ["/bin/true", "x"]`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("plan lacks %q:\n%s", want, stdout)
			}
		}
		// The plan is itself a valid configuration.
		if err := os.WriteFile(filepath.Join(dir, "plan.toml"), []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := runCheck(t, dir, "-c", "plan.toml"); code != 0 {
			t.Errorf("tend check of its own plan: exit %d, stderr %q", code, stderr)
		}
	})
}
