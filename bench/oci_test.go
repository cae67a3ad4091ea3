package bench_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tend-sh/tend/bench"
)

// TestOCISmoke runs the tend-runc benchmark with 1 run per column so that
// it cannot rot; its numbers mean nothing. Needs root, runc and
// /bin/busybox; skipped loudly without them.
func TestOCISmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the tend-runc benchmark needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("SKIPPED: runc not installed (apt-get install runc)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("SKIPPED: /bin/busybox missing (apt-get install busybox-static)")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	tend := filepath.Join(dir, "tend")
	cmd := exec.Command("go", "build", "-o", tend, "github.com/tend-sh/tend/cmd/tend")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	link := filepath.Join(dir, "tend-runc")
	if err := os.Symlink(tend, link); err != nil {
		t.Fatal(err)
	}
	rep, err := bench.RunOCI(bench.OCIOptions{TendRunc: link, Runs: 1, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown("smoke")
	for _, want := range []string{"shim sequence", "`run`", "pass-through `state`", "tend-runc ÷ runc"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	file := filepath.Join(dir, "BENCHMARKS.md")
	os.WriteFile(file, []byte("# B\n\nkept\n"), 0o644)
	for i := 0; i < 2; i++ {
		if err := bench.UpdateOCIFile(file, md); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "kept") || strings.Count(string(b), bench.OCIBegin) != 1 {
		t.Errorf("UpdateOCIFile:\n%s", b)
	}
}
