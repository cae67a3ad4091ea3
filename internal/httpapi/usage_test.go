package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tend-sh/tend/internal/status"
)

// usageFake measures: web 2.5 s and 64 MiB, the others nothing; orphans
// when all are asked; the container's cgroup.
type usageFake struct{ *fake }

func (u usageFake) StatusUsage(names []string) ([]status.ServiceStatus, status.Totals, error) {
	ss, err := u.Status(names)
	for i := range ss {
		x := status.Usage{}
		if ss[i].Name == "web" {
			x = status.Usage{CPUSeconds: 2.5, MemoryBytes: 64 << 20, Processes: 2}
		}
		ss[i].Usage = &x
	}
	mem, limit, cpu := uint64(100<<20), uint64(512<<20), 30.0
	tot := status.Totals{Container: &status.Container{MemoryBytes: &mem, MemoryLimitBytes: &limit, CPUSeconds: &cpu}}
	if len(names) == 0 {
		tot.Orphans = &status.Usage{CPUSeconds: 0.5, MemoryBytes: 4096, Processes: 1}
	}
	return ss, tot, err
}

func TestUsageMetricsAndStatus(t *testing.T) {
	base := listen(t, usageFake{newFake()})
	code, out, _ := get(t, "GET", base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE tend_service_cpu_seconds_total counter\n",
		`tend_service_cpu_seconds_total{service="web"} 2.50` + "\n",
		`tend_service_cpu_seconds_total{service="idle"} 0.00` + "\n",
		"# TYPE tend_service_memory_bytes gauge\n",
		`tend_service_memory_bytes{service="web"} 67108864` + "\n",
		`tend_service_processes{service="web"} 2` + "\n",
		"tend_orphans_cpu_seconds_total 0.50\n",
		"tend_orphans_memory_bytes 4096\n",
		"tend_orphans_processes 1\n",
		"tend_container_memory_bytes 104857600\n",
		"tend_container_memory_limit_bytes 536870912\n",
		"tend_container_cpu_seconds_total 30.00\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = get(t, "GET", base+"/status?name=web")
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); code != 200 || err != nil {
		t.Fatalf("/status?name=web: %d %v", code, err)
	}
	if len(r.Services) != 1 || r.Services[0].Usage == nil || r.Services[0].CPUSeconds != 2.5 || r.Orphans != nil || r.Container == nil {
		t.Errorf("/status?name=web: %s", out)
	}
	_, out, _ = get(t, "GET", base+"/status")
	for _, key := range []string{`"cpu_seconds": 2.5`, `"memory_bytes": 67108864`, `"orphans": {`, `"container": {`, `"memory_limit_bytes": 536870912`} {
		if !strings.Contains(out, key) {
			t.Errorf("/status lacks %s:\n%s", key, out)
		}
	}
}

// A backend that does not measure writes no usage family.
func TestNoUsageMetrics(t *testing.T) {
	var b bytes.Buffer
	writeUsageMetrics(&b, newFake().ss, status.Totals{})
	if b.Len() != 0 {
		t.Errorf("usage families without usage:\n%s", b.String())
	}
	_, out, _ := get(t, "GET", listen(t, newFake())+"/metrics")
	if strings.Contains(out, "cpu_seconds") || strings.Contains(out, "memory_bytes") {
		t.Errorf("/metrics of a backend without usage:\n%s", out)
	}
}
