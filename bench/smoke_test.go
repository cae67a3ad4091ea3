package bench_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tend-sh/tend/bench"
)

// TestSmoke runs the comparison harness end to end with tiny counts, so that
// it cannot rot: every row of the table must be there. Peers that are not
// installed are skipped (loudly, in the log): in CI this may be tend alone.
// The rows measured in PID namespaces need root; without it they read
// "skipped". Real numbers come from `make bench-compare`, never from here.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	build := func(pkg, name string) string { return goBuild(t, dir, pkg, name) }
	tend := build("github.com/tend-sh/tend/cmd/tend", "tend")
	testprog := build("github.com/tend-sh/tend/test/testprog", "testprog")
	tendbench := build("github.com/tend-sh/tend/bench/cmd/tendbench", "tendbench")
	gofloor := build("github.com/tend-sh/tend/bench/cmd/gofloor", "gofloor")
	for _, peer := range bench.Columns[1:] {
		if _, err := exec.LookPath(peer); err != nil && peer != bench.GoFloor {
			t.Logf("SKIP peer %s: not installed (apt-get install -y tini dumb-init catatonit supervisor)", peer)
		}
	}
	if os.Geteuid() != 0 {
		t.Logf("not root: the PID-namespace rows will read \"skipped\"")
	}
	md := filepath.Join(dir, "BENCHMARKS.md")
	os.WriteFile(md, []byte("# Benchmarks\n\nhand-written text\n"), 0o644)
	cmd := exec.Command(tendbench, "-tend", tend, "-testprog", testprog, "-gofloor", gofloor, "-out", md,
		"-startup-runs", "3", "-rounds", "1", "-idle", "1s", "-term-runs", "2",
		"-orphans", "60", "-orphan-runs", "1", "-shell-runs", "1", "-shell-delay", "300ms",
		"-super-runs", "2", "-services", "3", "-crashes", "2", "-log-lines", "2000", "-log-runs", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("tendbench stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("tendbench: %v\n%s", err, out)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	file := string(b)
	if !strings.Contains(file, "hand-written text") || !strings.Contains(file, bench.BeginMarker) || !strings.Contains(file, bench.EndMarker) {
		t.Errorf("BENCHMARKS.md lost its text or markers:\n%s", file)
	}
	rows := []string{
		"startup `X -- /bin/true`, median", "startup `X -- /bin/true`, p90", "startup over the /bin/true floor",
		"RSS, one idle child", "anonymous RSS (RssAnon), one idle child", "threads, one idle child", "idle wakeups in 1s, one child",
		"RSS, 3 services", "threads, 3 services", "idle wakeups in 1s, 3 services",
		"SIGTERM → init exit (child exits at once), median", "SIGTERM → init exit, p90",
		"60 orphans created and reaped", "largest zombie count seen", "runs ending with every orphan reaped",
		"`sh -c 'app; echo'` SIGTERM → exit", "shell wrapper: app's cleanup finished",
		"start 3 services", "restart after a crash, zero backoff", "restart after a crash, p90",
	}
	for _, w := range []string{"single", "mixed"} {
		for _, tool := range []string{"copy floor", "tend text", "tend JSON"} {
			if !strings.Contains(string(out), "| "+w+" | "+tool+" | ") {
				t.Errorf("no log-forwarding row for %s, %s in:\n%s", w, tool, out)
			}
		}
	}
	for _, r := range rows {
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "| "+r) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no table row %q in:\n%s", r, out)
			continue
		}
		// tend's column is always filled: a number, or "skipped" without root.
		cells := strings.Split(line, " | ")
		if len(cells) < 2 || cells[1] == "–" || cells[1] == "" {
			t.Errorf("row %q has no value for tend: %s", r, line)
		}
		// The Go floor column (the next one) is filled in the startup rows.
		if strings.HasPrefix(r, "startup `X") && (len(cells) < 3 || cells[2] == "–" || cells[2] == "") {
			t.Errorf("row %q has no value for the go floor: %s", r, line)
		}
	}
	if os.Geteuid() == 0 {
		// tend finishes the app's cleanup in a shell wrapper; check the
		// harness actually saw it (and the orphans all reaped).
		for _, r := range []string{"app's cleanup finished", "runs ending with every orphan reaped"} {
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, r) && !strings.Contains(l, "| 1/1 |") {
					t.Errorf("row %q: tend did not get 1/1: %s", r, l)
				}
			}
		}
	}
}

// TestRestartSmoke runs `tendbench restart` with one restart per column
// (supervisord's only where installed), so that the restart table cannot
// rot: every column is there, and tend start-first lost no request.
func TestRestartSmoke(t *testing.T) {
	dir := t.TempDir()
	build := func(pkg, name string) string { return goBuild(t, dir, pkg, name) }
	tend := build("github.com/tend-sh/tend/cmd/tend", "tend")
	server := build("github.com/tend-sh/tend/examples/zero-downtime", "zero-downtime")
	tendbench := build("github.com/tend-sh/tend/bench/cmd/tendbench", "tendbench")
	md := filepath.Join(dir, "BENCHMARKS.md")
	cmd := exec.Command(tendbench, "restart", "-tend", tend, "-server", server, "-restarts", "1", "-baseline", "300ms", "-warmup", "50ms", "-out", md)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("tendbench restart stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("tendbench restart: %v\n%s", err, out)
	}
	for _, col := range bench.RestartColumns {
		if !strings.Contains(string(out), "| "+col+" | ") {
			t.Errorf("no row for %q in:\n%s", col, out)
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "| "+bench.RestartStartFirst+" | ") && !strings.Contains(l, "| 0 failed | yes |") {
			t.Errorf("tend start-first lost requests or its restart failed: %s", l)
		}
	}
	if b, _ := os.ReadFile(md); !strings.Contains(string(b), bench.RestartBegin) {
		t.Errorf("the table was not written into %s", md)
	}
}
