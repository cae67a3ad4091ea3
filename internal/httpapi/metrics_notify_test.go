package httpapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tend-sh/tend/internal/status"
)

// tend_notify_rejected_total: one sample per notify service, none for the
// others.
func TestNotifyRejectedMetric(t *testing.T) {
	three, zero := uint64(3), uint64(0)
	ss := []status.ServiceStatus{
		{Name: "web", State: "ready", PID: 9, NotifyRejected: &three},
		{Name: "db", State: "ready", PID: 10, NotifyRejected: &zero},
		{Name: "plain", State: "running", PID: 11},
	}
	var b bytes.Buffer
	writeMetrics(&b, ss, 0, 0)
	out := b.String()
	for _, want := range []string{
		"# TYPE tend_notify_rejected_total counter\n",
		`tend_notify_rejected_total{service="web"} 3` + "\n",
		`tend_notify_rejected_total{service="db"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, `tend_notify_rejected_total{service="plain"}`) {
		t.Errorf("a service without notify has a sample:\n%s", out)
	}
}
