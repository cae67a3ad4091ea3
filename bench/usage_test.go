package bench_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tend-sh/tend/bench"
)

// TestUsageSmoke runs the usage table (tend status vs ps -e) with tiny
// counts so that it cannot rot. Its numbers mean nothing.
func TestUsageSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a PID namespace)")
	}
	for _, tool := range []string{"unshare", "ps"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	dir := t.TempDir()
	build := func(pkg, name string) string { return goBuild(t, dir, pkg, name) }
	rep, err := bench.RunUsage(bench.UsageOptions{
		Tend:       build("github.com/tend-sh/tend/cmd/tend", "tend"),
		Testprog:   build("github.com/tend-sh/tend/test/testprog", "testprog"),
		Services:   3,
		PerService: 2,
		Runs:       2,
		Log:        t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Processes < 7 || len(rep.Status) != 2 || len(rep.Ps) != 2 {
		t.Errorf("report: %+v", rep)
	}
	md := filepath.Join(dir, "BENCHMARKS.md")
	os.WriteFile(md, []byte("# Benchmarks\n\nhand-written text\n"), 0o644)
	if err := bench.UpdateUsageFile(md, rep.Markdown("test")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(md)
	for _, want := range []string{"hand-written text", bench.UsageBegin, "| `tend status` (usage of every service) |", "| `ps -e` |", bench.UsageEnd} {
		if !strings.Contains(string(b), want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, b)
		}
	}
}
