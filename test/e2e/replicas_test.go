package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario: replicas = 3. Each instance has its index in TEND_REPLICA and
// wherever ${TEND_REPLICA} is written in its command and env; a service
// after the replicated one starts once all are up; tend status --json
// lists each instance with replica_of and replica; tend restart NAME
// restarts them all.
func TestReplicasIndices(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	sock := filepath.Join(dir, "sock")
	svc := strings.Join(tprog("svc", "--name", "w${TEND_REPLICA}", "--log", records), " ")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
replicas = 3
command = ["/bin/sh", "-c", %s]
env = { IDX = "i${TEND_REPLICA}" }
ready = { file = %s }

[service.front]
after = ["web"]
command = ["/bin/sh", "-c", %s]
`, tomlStr(`echo "$$TEND_REPLICA $$IDX ${TEND_REPLICA}" > `+dir+`/out-${TEND_REPLICA}; exec `+svc),
		tomlStr(dir+"/out-${TEND_REPLICA}"),
		tomlStr("cd "+dir+" && cat out-0 out-1 out-2 > saw; exec "+strings.Join(tprog("svc", "--name", "front", "--log", records), " "))))
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock)
	r.waitSvcRecord(records, "start", "front")
	for i := range 3 {
		r.waitSvcRecord(records, "start", fmt.Sprintf("w%d", i))
		out, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out-%d", i)))
		if want := fmt.Sprintf("%d i%d %d\n", i, i, i); err != nil || string(out) != want {
			t.Errorf("instance %d wrote %q (%v), want %q", i, out, err, want)
		}
	}
	// front (after web) started once every instance was ready.
	if saw, err := os.ReadFile(filepath.Join(dir, "saw")); err != nil || string(saw) != "0 i0 0\n1 i1 1\n2 i2 2\n" {
		t.Errorf("front saw %q (%v): started before every instance of web was ready", saw, err)
	}

	code, out, errs := tendCtl(t, sock, "status", "--json")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errs)
	}
	var st struct {
		Services []struct {
			Name      string `json:"name"`
			ReplicaOf string `json:"replica_of"`
			Replica   *int   `json:"replica"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st.Services {
		e := s.Name
		if s.Replica != nil {
			e += fmt.Sprintf("(%s,%d)", s.ReplicaOf, *s.Replica)
		}
		got = append(got, e)
	}
	if want := "web-0(web,0) web-1(web,1) web-2(web,2) front"; strings.Join(got, " ") != want {
		t.Errorf("status lists %q, want %q\n%s", strings.Join(got, " "), want, out)
	}

	r.cli(sock, "restart", "web")
	for i := range 3 {
		name := fmt.Sprintf("w%d", i)
		r.Poll("second start of "+name, func() bool {
			return len(filterSvcRecords(readSvcRecords(t, records), "start", name)) == 2
		})
	}
	if n := len(filterSvcRecords(readSvcRecords(t, records), "start", "front")); n != 1 {
		t.Errorf("front started %d times, want 1", n)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: update = "start-first". A new process that never gets ready
// is stopped at its ready timeout while the old one keeps serving (no
// connection refused throughout), and tend restart exits 1 naming the
// service. Without a ready probe the new process starts before the old
// one is stopped.
func TestStartFirstNeverReadyKeepsOld(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	sock := filepath.Join(dir, "sock")
	port := cfgFreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ready, broken := filepath.Join(dir, "ready"), filepath.Join(dir, "broken")
	calmReady := filepath.Join(dir, "calm-ready")
	// With the broken file, the new process neither listens nor says it
	// is ready: it sleeps.
	script := fmt.Sprintf("if [ -e %s ]; then exec %s; fi; exec %s", broken,
		strings.Join(tprog("sleep", "1h"), " "), strings.Join(tprog("listen", "--addr", addr, "--file", ready), " "))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
update = "start-first"
command = ["/bin/sh", "-c", %s]
ready = { file = %s, timeout = "2s" }

[service.calm]
update = "start-first"
command = %s
ready = { file = %s }
`, tomlStr(script), tomlStr(ready), tomlArgv(tprog("svc", "--name", "calm", "--log", records, "--ready", calmReady)...), tomlStr(calmReady)))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg, "--socket", sock)
	r.waitSvcRecord(records, "start", "calm")
	oldPID := r.jobs(sock)["web"].PID
	r.Poll("web ready", func() bool { return r.jobs(sock)["web"].State == "ready" })

	var refused atomic.Int64
	var dials atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			dials.Add(1)
			if err != nil {
				refused.Add(1)
				continue
			}
			c.Close()
		}
	}()
	if err := os.Remove(ready); err != nil {
		t.Fatal(err)
	}
	cfgWriteFile(t, broken, "")
	code, out, errs := tendCtl(t, sock, "restart", "web")
	close(stop)
	wg.Wait()
	if code != 1 || !strings.Contains(errs, "web: the new process was not ready within 2s; the old one keeps running") {
		t.Errorf("tend restart web: code %d, stdout %q, stderr %q; want 1 naming web\n%s", code, out, errs, r.Diag())
	}
	if n := refused.Load(); n != 0 || dials.Load() < 10 {
		t.Errorf("%d of %d connections failed during the replacement, want none", n, dials.Load())
	}
	after := r.jobs(sock)["web"]
	if after.PID != oldPID || after.State != "ready" {
		t.Errorf("web after the failed replacement: pid %d state %s, want the old pid %d, ready", after.PID, after.State, oldPID)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Errorf("the old process does not serve: %v", err)
	} else {
		c.Close()
	}
	r.Poll("the new process gone", func() bool { return len(r.cfgTestprogs()) == 2 }) // old web + calm

	// The new calm starts (and says it is ready) before the old one gets
	// its stop signal.
	if err := os.Remove(calmReady); err != nil {
		t.Fatal(err)
	}
	r.cli(sock, "restart", "calm")
	r.Poll("old calm stopped", func() bool { return len(filterSvcRecords(readSvcRecords(t, records), "stop", "calm")) == 1 })
	recs := filterSvcRecords(readSvcRecords(t, records), "", "calm")
	if len(recs) != 3 || recs[0].kind != "start" || recs[1].kind != "start" || recs[2].kind != "stop" || recs[2].pid != recs[0].pid {
		t.Errorf("calm's records: want start old, start new, stop old:\n%s", formatSvcRecords(recs))
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
