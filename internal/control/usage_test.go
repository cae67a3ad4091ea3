package control

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tend-sh/tend/internal/status"
)

// usageFake is a fakeBackend that measures: web 1.5 s and 64 MiB in 3
// processes, the others nothing running; 2 orphans when all are asked.
type usageFake struct {
	*fakeBackend
	asked int // StatusUsage calls
}

func (u *usageFake) StatusUsage(names []string) ([]status.ServiceStatus, status.Totals, error) {
	ss, err := u.Status(names)
	u.mu.Lock()
	u.asked++
	u.mu.Unlock()
	var tot status.Totals
	for i := range ss {
		x := status.Usage{}
		if ss[i].Name == "web" {
			x = status.Usage{CPUSeconds: 1.5, MemoryBytes: 64 << 20, Processes: 3}
		}
		ss[i].Usage = &x
	}
	if len(names) == 0 {
		tot.Orphans = &status.Usage{CPUSeconds: 0.02, MemoryBytes: 3 << 20, Processes: 2}
	}
	return ss, tot, err
}

func TestStatusUsage(t *testing.T) {
	b := &usageFake{fakeBackend: newFake()}
	_, sock := start(t, b, nil, testConfig())

	code, stdout, stderr := cli(sock, "status")
	if code != 0 || stderr != "" {
		t.Fatalf("status: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	for i, want := range []string{
		"NAME .* HEALTH +CPU +MEM$",
		"^web .* healthy +1.50s +64.0Mi$",
		"^db .* - +- +-$",
		"^migrate .* - +- +-$",
		`^\(orphans\) +- +2 procs +- .* 0.02s +3.0Mi$`,
	} {
		if i >= len(lines) || !regexpMatch(want, lines[i]) {
			t.Errorf("line %d: want %q in\n%s", i, want, stdout)
		}
	}
	if len(lines) != 5 {
		t.Errorf("%d lines, want 5:\n%s", len(lines), stdout)
	}

	code, stdout, _ = cli(sock, "status", "--json", "web")
	var r status.Report
	if err := json.Unmarshal([]byte(stdout), &r); code != 0 || err != nil {
		t.Fatalf("status --json web: exit %d, %v", code, err)
	}
	if len(r.Services) != 1 || r.Services[0].Usage == nil || r.Services[0].MemoryBytes != 64<<20 || r.Orphans != nil {
		t.Errorf("status --json web: %s", stdout)
	}
	for _, key := range []string{`"cpu_seconds": 1.5`, `"memory_bytes": 67108864`, `"processes": 3`} {
		if !strings.Contains(stdout, key) {
			t.Errorf("no %s in %s", key, stdout)
		}
	}

	// wait-ready polls the status and does not ask for usage.
	before := b.asked
	if code, _, _ := cli(sock, "wait-ready"); code != 0 || b.asked != before {
		t.Errorf("wait-ready: exit %d, %d usage readings; want 0, none", code, b.asked-before)
	}
}

// Without usage (a backend that cannot measure, or an older tend), the
// columns show "-" and the JSON has no usage keys.
func TestStatusWithoutUsage(t *testing.T) {
	_, sock := start(t, newFake(), nil, testConfig())
	_, stdout, _ := cli(sock, "status")
	if !regexpMatch("^web .* healthy +- +-$", strings.Split(stdout, "\n")[1]) || strings.Contains(stdout, "orphans") {
		t.Errorf("status without usage:\n%s", stdout)
	}
	_, stdout, _ = cli(sock, "status", "--json")
	if strings.Contains(stdout, "cpu_seconds") || strings.Contains(stdout, "orphans") {
		t.Errorf("status --json without usage: %s", stdout)
	}
}

func TestContainerLine(t *testing.T) {
	u64 := func(n uint64) *uint64 { return &n }
	f64 := func(n float64) *float64 { return &n }
	for _, tc := range []struct {
		tot  status.Totals
		want string
	}{
		{status.Totals{}, ""},
		{status.Totals{UsageIncomplete: true}, "usage incomplete: /proc was not read in time\n"},
		{status.Totals{Container: &status.Container{MemoryBytes: u64(300 << 20), MemoryLimitBytes: u64(512 << 20), CPUSeconds: f64(12.25)}}, "container: cpu 12.2s memory 300Mi of 512Mi\n"},
		{status.Totals{Container: &status.Container{MemoryBytes: u64(2 << 30)}}, "container: memory 2.0Gi (no limit)\n"},
	} {
		var buf bytes.Buffer
		if err := writeContainerLine(&buf, tc.tot); err != nil || buf.String() != tc.want {
			t.Errorf("writeContainerLine(%+v) = %q, %v; want %q", tc.tot, buf.String(), err, tc.want)
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
