package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The promise of issue 20: a service restarted ten times under continuous
// traffic answers every request. examples/zero-downtime (its server and
// its tend.toml: listen, notify readiness, start-first, two replicas) runs
// under tend as PID 1 while a client sends requests in a loop, each on a
// new connection, and `tend restart web` is run ten times: no request may
// fail, and the answers must come from new processes (the restarts
// happened). Counts, not timings: the machine may be loaded.
func TestZeroDowntimeExample(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	server := filepath.Join(dir, "zero-downtime")
	build := exec.Command("go", "build", "-o", server, "../../examples/zero-downtime")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/zero-downtime: %v\n%s", err, out)
	}
	example, err := os.ReadFile("../../examples/zero-downtime/tend.toml")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := strings.NewReplacer("/app/zero-downtime", server, "0.0.0.0:8080", addr, `"500ms"`, `"300ms"`).Replace(string(example))
	if conf == string(example) || !strings.Contains(conf, addr) || !strings.Contains(conf, server) {
		t.Fatalf("the example's tend.toml changed shape; the test rewrites its command path and address:\n%s", example)
	}
	cfg := filepath.Join(dir, "tend.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	r := startIn(t, dir, opts{Timeout: 150 * time.Second}, "-c", cfg, "--socket", sock)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (string, error) {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		return strings.TrimSpace(string(b)), err
	}
	r.Poll("the example to answer", func() bool {
		if r.Exited() {
			t.Fatalf("tend exited before the example answered\n%s", r.Diag())
		}
		_, err := get()
		return err == nil
	})

	var (
		mu       sync.Mutex
		failures []string
		pids     = map[string]bool{}
		requests int
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			body, err := get()
			mu.Lock()
			requests++
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000000"), err))
			} else {
				pids[body] = true
			}
			mu.Unlock()
		}
	}()
	for i := 0; i < 10; i++ {
		r.cli(sock, "restart", "web")
	}
	time.Sleep(500 * time.Millisecond) // traffic to the last instances too
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d requests answered by %d processes during 10 restarts", requests, len(pids))
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the restarts, the first: %q\n%s", len(failures), requests, failures[:min(5, len(failures))], r.Diag())
	}
	// 2 replicas, each replaced 10 times: 22 processes in all; at least
	// the last ones answered (new pids), or the restarts did not happen.
	if len(pids) < 3 {
		t.Errorf("answers came from %d processes (%v): the restarts did not replace the instances\n%s", len(pids), pids, r.Diag())
	}
	out, err := tendCommand(sock, "status")
	if err != nil || !strings.Contains(out, "web-0") || !strings.Contains(out, "web-1") {
		t.Errorf("tend status: %v\n%s", err, out)
	}
}
