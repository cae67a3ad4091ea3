package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario (issue 17 item 1): with TZ naming a named pipe in tend's
// environment, a job with its own timezone runs and the status, which
// formats times, answers (Go's lazy open of $TZ for time.Local must never
// block the control server). TestZoneFilesNotRegular covers the errors.
func TestZoneFileTZFifoStatus(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "zone-fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	// No date in the job: it inherits TZ, and the C library would open the pipe too.
	cfg := writeConfig(t, dir, shJob("j", "@every 1s", "echo run >> "+runs, `timezone = "UTC"`))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 40 * time.Second, Env: []string{"TZ=" + fifo}}, "-c", cfg, "--socket", sock)
	r.WaitLines(runs, 1)
	if j := r.waitJob(sock, "j", "a run counted", func(s svcStatus) bool { return s.Job.LastStart != nil && s.Job.Runs["success"] >= 1 }); j.Job.Timezone != "UTC" {
		t.Errorf("job status: %+v", j.Job)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
