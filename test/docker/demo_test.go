package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo builds and runs examples/demo (the README's busybox-only
// multi-service demo, `make demo`) as a user would: the oneshot sets up,
// web becomes ready, worker fetches from it, and docker stop ends it all
// with the worker's cleanup and exit 0.
func TestDemo(t *testing.T) {
	needDocker(t)
	t.Parallel()
	ctx := deadline(t, 90*time.Second)

	build := t.TempDir()
	src := filepath.Join("..", "..", "examples", "demo")
	for _, f := range [][2]string{
		{tendBin, "tend"}, {busyboxPath(), "busybox"},
		{filepath.Join(src, "Dockerfile"), "Dockerfile"}, {filepath.Join(src, "tend.toml"), "tend.toml"},
	} {
		if err := copyFile(f[0], filepath.Join(build, f[1])); err != nil {
			t.Fatal(err)
		}
	}
	iidFile := filepath.Join(t.TempDir(), "iid")
	_, berr := docker(ctx, "build", "-q", "--iidfile", iidFile, "--label", "tend-e2e.run="+runID, build)
	b, _ := os.ReadFile(iidFile)
	if iid := strings.TrimSpace(string(b)); iid != "" {
		t.Cleanup(func() { removeImage(iid) })
	}
	if berr != nil {
		t.Fatal(berr)
	}
	id, err := docker(ctx, "run", "-d", "--label", "tend-e2e.run="+runID, strings.TrimSpace(string(b)))
	if id != "" {
		registerRemoval(t, id)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := &container{t: t, ctx: ctx, id: id}
	c.waitFor("web ready and the worker's first fetch", func() bool {
		st, _ := c.exec("tend", "status")
		logs, _ := dockerCombined(ctx, "logs", id)
		return strings.Contains(st, "ready") && strings.Contains(logs, "worker | hello from tend")
	})
	st, _ := c.exec("tend", "status")
	for _, want := range []string{"setup ", "done", "web ", "worker "} {
		if !strings.Contains(st, want) {
			t.Errorf("tend status lacks %q:\n%s", want, st)
		}
	}
	if took := c.stop(10); took > 9*time.Second {
		t.Errorf("docker stop took %v: tend should finish within its 8 s grace, well before Docker's 10 s", took)
	}
	if code := c.wait(); code != 0 {
		t.Errorf("exit code %d, want 0 (stopped by SIGTERM, no main service)", code)
	}
	if logs := c.logs(); !strings.Contains(logs, "worker: done") {
		t.Errorf("the worker's cleanup did not finish; logs:\n%s", logs)
	}
}
