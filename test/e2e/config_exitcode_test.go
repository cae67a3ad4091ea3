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

// Scenario (issue 10, item 13 and the skipped oneshot): the main (-- CMD)
// never started, or no main and a oneshot never ran: the container's exit
// code is that of what actually failed, or 128+N for the stop signal N —
// never 137, which means "killed". The reason is on tend's stderr at the
// default log level.
func TestConfigExitCodeNothingStarted(t *testing.T) {
	t.Parallel()
	needEnv(t)
	never := func(dir string) string { return tomlStr(filepath.Join(dir, "never")) }
	tests := []struct {
		name   string
		config func(dir string) string
		main   bool
		signal unix.Signal // sent once the first service runs
		want   int
		stderr string // a line of tend's stderr must contain it
	}{
		{"startup oneshot exits 9", func(dir string) string {
			return fmt.Sprintf("[service.init]\ncommand = %s\noneshot = true\nrestart = \"never\"\n", tomlArgv(tprog("exit", "9")...))
		}, true, 0, 9, "init failed"},
		{"SIGTERM while starting", func(dir string) string {
			return fmt.Sprintf("[service.db]\ncommand = %s\nready = { file = %s }\n", tomlArgv(tprog("sleep", "1h")...), never(dir))
		}, true, unix.SIGTERM, 143, ""},
		{"SIGINT while starting", func(dir string) string {
			return fmt.Sprintf("[service.db]\ncommand = %s\nready = { file = %s }\n", tomlArgv(tprog("sleep", "1h")...), never(dir))
		}, true, unix.SIGINT, 130, ""},
		{"dependency of the main fails for good", func(dir string) string {
			return fmt.Sprintf("[service.db]\ncommand = %s\nrestart = \"never\"\nready = { file = %s }\n", tomlArgv(tprog("exit", "4")...), never(dir))
		}, true, 0, 4, "dependency db failed"},
		{"oneshot skipped: its dependency failed", func(dir string) string {
			return fmt.Sprintf("[service.db]\ncommand = %s\nrestart = \"never\"\nready = { file = %s }\n\n[service.migrate]\ncommand = %s\noneshot = true\nafter = [\"db\"]\n",
				tomlArgv(tprog("exit", "5")...), never(dir), tomlArgv(tprog("exit", "0")...))
		}, false, 0, 5, "migrate failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := writeConfig(t, dir, tt.config(dir))
			args := []string{"-c", cfg}
			if tt.main {
				args = append(append(args, "--"), tprog("touch", filepath.Join(dir, "main-ran"))...)
			}
			r := startIn(t, dir, opts{Timeout: 30 * time.Second}, args...)
			if tt.signal != 0 {
				r.Poll("a service running", func() bool { return len(r.cfgTestprogs()) > 0 })
				r.Signal(tt.signal)
			}
			r.ExpectExit(tt.want)
			if _, err := os.Stat(filepath.Join(dir, "main-ran")); err == nil {
				t.Fatal("the main ran: the test is broken")
			}
			if tt.stderr != "" && !strings.Contains(r.Stderr(), tt.stderr) {
				t.Errorf("tend's stderr (default log level) does not say %q\n%s", tt.stderr, r.Diag())
			}
			if !strings.Contains(r.Stderr(), "shutting down") && tt.signal == 0 {
				t.Errorf("tend's stderr (default log level) does not say why it shuts down\n%s", r.Diag())
			}
		})
	}
}
