package httpapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/status"
)

func TestJobMetrics(t *testing.T) {
	at := time.Unix(1764579600, 0)
	d := 1.5
	ss := []status.ServiceStatus{
		{Name: "web", State: "running", PID: 9},
		{Name: "backup", State: "scheduled", Job: &status.JobStatus{
			Schedule: "@daily", Timezone: "UTC", Next: &at, LastSuccess: &at, LastDurationSeconds: &d,
			Runs: map[string]uint64{"success": 2, "failure": 1}, Skipped: 4,
		}},
		{Name: "fresh", State: "scheduled", Job: &status.JobStatus{Schedule: "@hourly", Runs: map[string]uint64{}}},
	}
	var b bytes.Buffer
	writeMetrics(&b, ss, 0, 0)
	out := b.String()
	for _, want := range []string{
		"# TYPE tend_job_runs_total counter\n",
		`tend_job_runs_total{service="backup",result="success"} 2` + "\n",
		`tend_job_runs_total{service="backup",result="failure"} 1` + "\n",
		`tend_job_runs_total{service="backup",result="timeout"} 0` + "\n",
		`tend_job_runs_total{service="fresh",result="success"} 0` + "\n",
		`tend_job_skipped_runs_total{service="backup"} 4` + "\n",
		`tend_job_last_success_time_seconds{service="backup"} 1764579600.000` + "\n",
		`tend_job_last_duration_seconds{service="backup"} 1.500` + "\n",
		`tend_job_next_run_time_seconds{service="backup"} 1764579600.000` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, absent := range []string{`service="web",result`, `tend_job_last_success_time_seconds{service="fresh"}`, `tend_job_next_run_time_seconds{service="fresh"}`} {
		if strings.Contains(out, absent) {
			t.Errorf("unexpected %q in:\n%s", absent, out)
		}
	}
	b.Reset()
	writeMetrics(&b, ss[:1], 0, 0)
	if strings.Contains(b.String(), "tend_job_") {
		t.Errorf("job families written without jobs:\n%s", b.String())
	}
}
