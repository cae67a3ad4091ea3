package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario (issue 10): `tend wait-ready` (no names, and with the name)
// while a service has already failed for good says at once which one and
// exits 1, instead of waiting out its timeout.
func TestConfigWaitReadyFailedService(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.broken]
command = %s
restart = "never"

[service.keeper]
command = %s
`, tomlArgv(tprog("exit", "3")...), tomlArgv(tprog("sleep", "1h")...)))
	r := startIn(t, dir, opts{Timeout: 90 * time.Second}, "-c", cfg, "--socket", sock)
	r.waitStderr("broken failing", func(l string) bool { return strings.Contains(l, "service=broken") && strings.Contains(l, "failed") })
	for _, names := range [][]string{nil, {"broken"}} {
		t0 := time.Now()
		code, out, errs := tendCLI(t, sock, 60*time.Second, append([]string{"wait-ready", "--timeout", "30s"}, names...)...)
		took := time.Since(t0)
		if code != 1 || !strings.Contains(errs, "broken (last exit 3)") || took > 15*time.Second {
			t.Errorf("wait-ready %v: code %d after %v (timeout 30s), want 1 at once naming broken\nstdout: %s\nstderr: %s\n%s",
				names, code, took.Round(time.Millisecond), out, errs, r.Diag())
		}
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
