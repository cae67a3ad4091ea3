package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario: a reload moves a service's log from a.log to b.log; logrotate
// then moves both away and runs `tend logs --reopen`. Only b.log comes
// back: the file no service writes any more is not recreated (it was
// kept open, and reopened, forever).
func TestLogFileReloadMoved(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	pa, pb := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	def := func(path string) string {
		return fmt.Sprintf(`
[service.tick]
command = ["sh", "-c", "while :; do echo tick; sleep 0.02; done"]
log = { file = %s }
`, tomlStr(path))
	}
	cfg := writeConfig(t, dir, def(pa))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg, "--socket", sock)
	lines := func(p string) int {
		b, _ := os.ReadFile(p)
		return strings.Count(string(b), "\n")
	}
	r.Poll("ticks in a.log", func() bool { return lines(pa) >= 3 })
	cfgWriteFile(t, cfg, def(pb))
	r.Signal(unix.SIGHUP)
	r.Poll("ticks in b.log after the reload", func() bool { return lines(pb) >= 3 })
	for _, p := range []string{pa, pb} {
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errs := tendCtl(t, sock, "logs", "--reopen"); code != 0 {
		t.Fatalf("tend logs --reopen: exit %d: %s", code, errs)
	}
	r.Poll("ticks in a new b.log", func() bool { return lines(pb) >= 3 })
	if _, err := os.Stat(pa); !os.IsNotExist(err) {
		t.Errorf("tend logs --reopen recreated a.log, which no service writes since the reload (%v)", err)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
