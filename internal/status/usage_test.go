package status

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		sec  float64
		want string
	}{{0, "0.00s"}, {0.416, "0.42s"}, {9.99, "9.99s"}, {61.54, "61.5s"}, {3605.4, "3605s"}} {
		if got := FormatCPU(tc.sec); got != tc.want {
			t.Errorf("FormatCPU(%v) = %q; want %q", tc.sec, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    uint64
		want string
	}{{0, "0B"}, {1023, "1023B"}, {1024, "1.0Ki"}, {812 << 10, "812Ki"}, {64<<20 + 300<<10, "64.3Mi"}, {3 << 29, "1.5Gi"}, {5 << 40, "5.0Ti"}} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q; want %q", tc.n, got, tc.want)
		}
	}
}

// Usage's fields are keys of the service's own object; unmeasured, none
// appear; Totals' are keys of the report.
func TestUsageJSON(t *testing.T) {
	s := ServiceStatus{Name: "web", Usage: &Usage{CPUSeconds: 1.5, MemoryBytes: 42, Processes: 2}}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"cpu_seconds":1.5,"memory_bytes":42,"processes":2`) {
		t.Errorf("measured: %s", b)
	}
	var back ServiceStatus
	if err := json.Unmarshal(b, &back); err != nil || back.Usage == nil || *back.Usage != *s.Usage {
		t.Errorf("round trip: %+v, %v", back.Usage, err)
	}
	b, _ = json.Marshal(ServiceStatus{Name: "web"})
	if strings.Contains(string(b), "cpu_seconds") {
		t.Errorf("unmeasured: %s", b)
	}
	b, _ = json.Marshal(Report{Totals: Totals{Orphans: &Usage{Processes: 1}}})
	if !strings.Contains(string(b), `"orphans":{"cpu_seconds":0,"memory_bytes":0,"processes":1}`) || strings.Contains(string(b), "container") {
		t.Errorf("report: %s", b)
	}
}
