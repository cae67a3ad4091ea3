package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tendCLI runs `tend ARGS... --socket SOCK` (bounded by timeout) and
// returns its exit code (-2: no answer in time), stdout and stderr
// (harness.Env.CLI).
func tendCLI(t *testing.T, sock string, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	code, out, errs, _ := env.CLI(sock, timeout, args...)
	return code, out, errs
}

// Scenario (issue 10, item 1): a service with a polled ready probe leaves
// "starting" while its process is still alive (it takes 1.5 s to stop):
// its ready timeout runs out, `tend stop` or `tend restart` is asked
// while it starts, or a reload changes it. The probe's pending timer must not run a health check
// it does not have (tend used to panic and stop the container with 70): the
// container, and the other service, go on; SIGTERM then ends it with 0.
func TestConfigReadyProbeLeftStarting(t *testing.T) {
	t.Parallel()
	needEnv(t)
	for _, trigger := range []string{"timeout", "stop", "restart", "reload"} {
		t.Run(trigger, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			records := filepath.Join(dir, "records")
			sock := filepath.Join(dir, "s.sock")
			timeout := "60s"
			if trigger == "timeout" {
				timeout = "500ms"
			}
			config := func(slowArgs ...string) string {
				return fmt.Sprintf(`
[service.slow]
command = %s
ready = { file = %s, interval = "20ms", timeout = %q }

[service.keeper]
command = %s
`,
					tomlArgv(append(tprog("svc", "--name", "slow", "--log", records, "--stop-delay", "1500ms"), slowArgs...)...),
					tomlStr(filepath.Join(dir, "never")), timeout,
					tomlArgv(tprog("svc", "--name", "keeper", "--log", records, "--ready", filepath.Join(dir, "keeper-ready"))...))
			}
			cfg := writeConfig(t, dir, config())
			r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg, "--socket", sock)
			r.WaitFile(filepath.Join(dir, "keeper-ready"))
			r.waitSvcRecord(records, "start", "slow")
			switch trigger {
			case "timeout":
				r.waitStderr("the ready timeout", func(l string) bool { return strings.Contains(l, "not ready in time") })
			case "reload":
				time.Sleep(200 * time.Millisecond) // a few probes: the next one is pending
				cfgWriteFile(t, cfg, config("--check", filepath.Join(dir, "changed")))
				r.Signal(unix.SIGHUP)
			default:
				time.Sleep(200 * time.Millisecond) // a few probes: the next one is pending
				if code, out, errs := tendCLI(t, sock, 20*time.Second, trigger, "slow"); code != 0 {
					t.Fatalf("tend %s slow: code %d\n%s%s\n%s", trigger, code, out, errs, r.Diag())
				}
			}
			// slow is stopping for 1.5 s; every probe interval passes many
			// times meanwhile.
			r.AliveFor(2500*time.Millisecond, "a non-critical service left starting ("+trigger+")")
			if strings.Contains(r.Stderr(), "panic") {
				t.Errorf("tend reported a panic\n%s", r.Diag())
			}
			if trigger == "reload" || trigger == "restart" {
				r.Poll("slow started again by the "+trigger, func() bool {
					return len(filterSvcRecords(readSvcRecords(t, records), "start", "slow")) == 2
				})
			}
			r.Signal(unix.SIGTERM)
			r.ExpectExit(0)
		})
	}
}
