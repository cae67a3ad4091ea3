package bench

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCRITarget: the lifecycle row says for each path whether it meets its
// own target (the run of 2026-12-04: NRI 1.010× met, RuntimeClass 1.123×
// not), and the table shows it.
func TestCRITarget(t *testing.T) {
	row := func(runc, rc, runcB, nri float64) Row {
		return Row{Name: "pod lifecycle: run, create, start, stop, remove, median", Unit: "ms", Ratio: true,
			Val: map[string]float64{CRIRunc: runc, CRIRuntimeClass: rc, CRIRuncB: runcB, CRINRI: nri}}
	}
	for _, tc := range []struct {
		r    Row
		want string
	}{
		{row(606, 681, 599, 605), "NRI yes, RuntimeClass **NO**"},
		{row(600, 650, 600, 630), "NRI **NO**, RuntimeClass yes"},
		{row(600, 660, 600, 618), "NRI yes, RuntimeClass yes"},
		{row(600, 700, 600, 700), "NRI **NO**, RuntimeClass **NO**"},
	} {
		target, met := criTarget(tc.r)
		if target != "NRI ≤ 1.03×, RuntimeClass ≤ 1.10×" || met != tc.want {
			t.Errorf("criTarget(%v) = %q, %q; want %q", tc.r.Val, target, met, tc.want)
		}
	}
	r := row(606, 681, 599, 605)
	r.Target, r.Met = criTarget(r)
	md := CRIMarkdown(&OCIReport{Start: time.Now(), End: time.Now(), Runs: 30, Rows: []Row{r}, Versions: map[string]string{}}, "tendbench cri")
	if !strings.Contains(md, "| 1.124× | 1.010× | NRI ≤ 1.03×, RuntimeClass ≤ 1.10× | NRI yes, RuntimeClass **NO** |") {
		t.Errorf("CRI table row:\n%s", md)
	}
}

// TestReadmeCRICost: the README's CRI lifecycle figures are the ones
// BENCHMARKS.md's CRI table gives.
func TestReadmeCRICost(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	bench := read("../BENCHMARKS.md")
	i, j := strings.Index(bench, CRIBegin), strings.Index(bench, CRIEnd)
	if i < 0 || j < i {
		t.Fatal("BENCHMARKS.md has no CRI table")
	}
	row := regexp.MustCompile(`(?m)^\| pod lifecycle: run, create, start, stop, remove, median \(ms\) \|.*$`).FindString(bench[i:j])
	cells := strings.Split(row, "|")
	if len(cells) < 9 {
		t.Fatalf("BENCHMARKS.md's CRI lifecycle row: %q", row)
	}
	// | name | runc | RuntimeClass | runc (NRI node) | NRI | RuntimeClass ÷ runc | NRI ÷ its node's runc | ...
	rc, nri := strings.TrimSpace(cells[6]), strings.TrimSpace(cells[7])
	readme := read("../README.md")
	line := regexp.MustCompile(`(?m)^\| a pod's CRI lifecycle.*$`).FindString(readme)
	if line == "" {
		t.Fatal("README's benchmark table has no CRI lifecycle row")
	}
	for _, want := range []string{"NRI " + nri + " its node's runc", "RuntimeClass " + rc + " its node's runc"} {
		if !strings.Contains(line, want) {
			t.Errorf("README's CRI row does not say %q (BENCHMARKS.md):\n%s", want, line)
		}
	}
}
