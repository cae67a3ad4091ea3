package hardening

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
)

// probeHealthz does what kubelet does: connect, GET /healthz, read the
// answer, within timeout.
func probeHealthz(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tend\r\nUser-Agent: kube-probe/1.31\r\n\r\n"); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 200 ") {
		return fmt.Errorf("answer %q, %v", clip(b), err)
	}
	return nil
}

// TestHTTPIdleFlood: 500 peers on loopback hold TCP connections to --http
// open without completing a request (400 send nothing, 100 trickle a
// header a byte a second), and reconnect at once when tend closes them.
// /healthz, polled all the while for longer than the request-head
// deadline, must answer 200 every time: a pod whose probes fail is
// restarted by the kubelet. tend's RSS stays bounded.
func TestHTTPIdleFlood(t *testing.T) {
	const idle, trickle = 400, 100
	dir := scratch(t)
	addr := "127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	recs := filepath.Join(dir, "records")
	conf := writeConfig(t, dir, fmt.Sprintf("grace = \"5s\"\n\n[service.steady]\ncommand = %s\n",
		tomlArgv(tprog("svc", "--name", "steady", "--log", recs)...)))
	r := start(t, dir, opts{Timeout: 90 * time.Second}, "-c", conf, "--socket", filepath.Join(dir, "ctl.sock"), "--http", addr)
	r.Poll("/healthz answering", func() bool { return probeHealthz(addr, 2*time.Second) == nil })
	rss0 := rssKiB(t, r.TendPID)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var open, dials atomic.Int64
	peer := func(slow bool) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			dials.Add(1)
			open.Add(1)
			closed := make(chan struct{})
			go func() {
				io.Copy(io.Discard, c) // until tend closes it
				close(closed)
			}()
			if slow {
				go func() {
					for _, ch := range []byte("GET /healthz HTTP/1.1\r\nX-Slow: " + strings.Repeat("z", 200)) {
						select {
						case <-closed:
							return
						case <-stop:
							return
						case <-time.After(time.Second):
						}
						if _, err := c.Write([]byte{ch}); err != nil {
							return
						}
					}
				}()
			}
			select {
			case <-closed:
			case <-stop:
			}
			c.Close()
			open.Add(-1)
			time.Sleep(50 * time.Millisecond) // a persistent peer, not a CPU burner
		}
	}
	for i := range idle + trickle {
		wg.Add(1)
		go peer(i >= idle)
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	r.Poll(fmt.Sprintf("%d peers connected", idle+trickle), func() bool { return open.Load() >= idle+trickle })

	// Longer than tend's 5 s request-head deadline, so that every slot
	// an idle peer took has been freed and retaken at least once.
	var lat stats
	var fails []string
	probes, maxRSS := 0, 0
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		t0 := time.Now()
		err := probeHealthz(addr, 5*time.Second)
		lat.add(time.Since(t0).Seconds())
		probes++
		if err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", time.Since(t0).Round(time.Millisecond), err))
		}
		maxRSS = max(maxRSS, rssKiB(t, r.TendPID))
	}
	t.Logf("%d probes under %d idle + %d trickling peers (%d connects): latency s %s; %d failed; tend RSS %d KiB before, max %d KiB",
		probes, idle, trickle, dials.Load(), &lat, len(fails), rss0, maxRSS)
	if len(fails) > 0 {
		t.Errorf("%d of %d /healthz probes failed under the idle flood, e.g.:\n%s\n%s", len(fails), probes, strings.Join(fails[:min(len(fails), 5)], "\n"), r.Diag())
	}
	// Bound (README): ~1024 connections at ~24 KiB each at worst; 500 idle
	// peers need far less.
	if maxRSS-rss0 > 48<<10 {
		t.Errorf("tend's RSS grew by %d KiB under the flood (bound 48 MiB)", maxRSS-rss0)
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	r.Signal(unix.SIGTERM)
	r.WaitExit(20 * time.Second) // ms when it works; bounds a hang
	r.ExpectCode(0)
	r.noPanic()
}
