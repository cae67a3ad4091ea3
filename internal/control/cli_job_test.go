package control

import (
	"bytes"
	"github.com/tend-sh/tend/internal/status"
	"strings"
	"testing"
	"time"
)

func TestStatusTextJobs(t *testing.T) {
	next := t0.Add(90 * time.Second)
	start := t0.Add(-time.Minute)
	d := 2.25
	r := status.Report{Services: []status.ServiceStatus{
		{Name: "web", State: status.Running, PID: 4, Started: t0, Ready: true},
		{Name: "backup", State: status.Scheduled, LastExit: exitp(3), Ready: true, Job: &status.JobStatus{
			Schedule: "30 2 * * *", Timezone: "Europe/Berlin", Next: &next, LastStart: &start, LastDurationSeconds: &d,
			Runs: map[string]uint64{"success": 5, "failure": 1, "timeout": 2}, Skipped: 7,
		}},
	}}
	var b bytes.Buffer
	if err := WriteStatusText(&b, r, t0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"JOB     SCHEDULE                  LAST RUN              DURATION  EXIT  NEXT RUN                         OK/FAILED/TIMEOUT/SKIPPED\n",
		"backup  30 2 * * * Europe/Berlin  2026-11-24T11:59:00Z  2.25s     3     2026-11-24T12:01:30Z (in 1m30s)  5/1/2/7\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	b.Reset()
	r.Services = r.Services[:1]
	WriteStatusText(&b, r, t0)
	if strings.Contains(b.String(), "JOB") {
		t.Errorf("a job table without jobs:\n%s", b.String())
	}
}
