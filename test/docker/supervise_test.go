package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// multiServiceConfig: a sidecar and a background worker keep running; the
// critical app fails (exit 3) once the test creates /out/fail. tend must stop
// the others, let them finish their cleanup, and exit with 3.
const multiServiceConfig = `grace = "5s"

[service.sidecar]
command = ["testprog", "trapterm", "--file", "/out/sidecar.done", "--delay", "500ms", "--ready", "/out/sidecar.ready"]
ready = { file = "/out/sidecar.ready", timeout = "30s" }

[service.worker]
command = "testprog worker --file /out/worker.done --delay 500ms --ready /out/worker.ready"

[service.app]
command = ["sh", "-c", "testprog touch /out/app.started; testprog waitfile --timeout 60s /out/fail; exit 3"]
after = ["sidecar"]
critical = true
restart = "never"
`

// TestMultiService is scenario 3: tend -c FILE as the container's PID 1; a
// critical service failing ends the container with its exit code, after the
// other services' cleanup.
func TestMultiService(t *testing.T) {
	needDocker(t)
	record(withTini, "3", "n/a (no multi-service mode)")
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	out := outDir(t)
	if err := os.WriteFile(filepath.Join(out, "tend.toml"), []byte(multiServiceConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startIn(t, ctx, out, withTend, []string{"--entrypoint", "/tend"}, "-c", "/out/tend.toml")
	c.waitFile("sidecar.ready")
	c.waitFile("worker.ready")
	c.waitFile("app.started")
	if err := os.WriteFile(c.path("fail"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code := c.wait()
	sidecar, sidecarOK := c.read("sidecar.done")
	worker, workerOK := c.read("worker.done")
	t.Logf("exit %d; sidecar cleanup %q; worker cleanup %q", code, sidecar, worker)
	if sidecarOK && workerOK && code == 3 {
		record(withTend, "3", fmt.Sprintf("✅ cleanup done, exit %d (the critical service's)", code))
	} else {
		record(withTend, "3", fmt.Sprintf("❌ sidecar cleanup %v, worker cleanup %v, exit %d", sidecarOK, workerOK, code))
	}
	if code != 3 {
		t.Errorf("exit code %d, want 3 (the critical service's)", code)
	}
	if !sidecarOK || !strings.HasPrefix(sidecar, "done SIGTERM\n") {
		t.Errorf("sidecar cleanup file: %q (exists %v), want \"done SIGTERM...\"", sidecar, sidecarOK)
	}
	if !workerOK || !strings.HasPrefix(worker, "done SIGTERM\n") {
		t.Errorf("worker cleanup file: %q (exists %v), want \"done SIGTERM...\"", worker, workerOK)
	}
}

// healthConfig: the web service listens only after 2s; ready = tcp.
const healthConfig = `grace = "5s"

[service.web]
command = ["sh", "-c", "sleep 2; exec httpd -f -p 127.0.0.1:8080 -h /out/www"]
ready = { tcp = "127.0.0.1:8080", timeout = "30s" }
`

// healthDockerfile derives an image whose HEALTHCHECK is `tend wait-ready`,
// as a user's would be (see examples/multi-service/Dockerfile).
const healthDockerfile = `FROM %s
HEALTHCHECK --interval=1s --timeout=5s --retries=3 CMD ["/tend", "wait-ready"]
ENTRYPOINT ["/tend", "-c", "/out/tend.toml"]
`

// TestHealthcheck is scenario 5: a HEALTHCHECK built on `tend wait-ready`
// turns "healthy" in docker inspect once the services are ready.
func TestHealthcheck(t *testing.T) {
	needDocker(t)
	record(withTini, "5", "n/a (no wait-ready)")
	t.Parallel()
	ctx := deadline(t, 90*time.Second)

	build := t.TempDir()
	if err := os.WriteFile(filepath.Join(build, "Dockerfile"), []byte(fmt.Sprintf(healthDockerfile, imageID)), 0o644); err != nil {
		t.Fatal(err)
	}
	iid := filepath.Join(t.TempDir(), "iid")
	_, berr := docker(ctx, "build", "-q", "--iidfile", iid, "--label", "tend-e2e.run="+runID, build)
	if b, err := os.ReadFile(iid); err == nil && len(b) > 0 {
		id := strings.TrimSpace(string(b))
		// Registered before any container of it, so it runs after their removal.
		t.Cleanup(func() { removeImage(id) })
		if berr == nil {
			berr = runHealth(t, ctx, id)
		}
	} else if berr == nil {
		berr = fmt.Errorf("docker build wrote no image ID")
	}
	if berr != nil {
		t.Fatal(berr)
	}
}

// runHealth runs a container of image and waits for it to turn healthy.
func runHealth(t *testing.T, ctx context.Context, image string) error {
	out := outDir(t)
	if err := os.WriteFile(filepath.Join(out, "tend.toml"), []byte(healthConfig), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "www"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "www", "healthz"), []byte("ok\n"), 0o644); err != nil {
		return err
	}
	args := append([]string{"run", "-d"}, commonArgs(out)...)
	id, err := docker(ctx, append(args, image)...)
	if id != "" {
		registerRemoval(t, id)
	}
	if err != nil {
		return err
	}
	c := &container{t: t, ctx: ctx, id: id, out: out}
	t0 := time.Now()
	var status, seen string
	c.waitFor("health status healthy", func() bool {
		s, err := docker(ctx, "inspect", "-f", "{{.State.Health.Status}}", id)
		if err != nil {
			t.Fatal(err)
		}
		if s != status {
			status = s
			seen += fmt.Sprintf(" %s@%.1fs", s, time.Since(t0).Seconds())
		}
		return s == "healthy"
	})
	t.Logf("health status changes:%s", seen)
	record(withTend, "5", fmt.Sprintf("✅ healthy after %.1fs", time.Since(t0).Seconds()))
	took := c.stop(10)
	t.Logf("docker stop took %v, exit code %d", took, c.wait())
	return nil
}
