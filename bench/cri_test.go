package bench

import (
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
