package hardening

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fuzzFrame returns a hostile request frame: random bytes, a mutated valid
// status request, a nesting bomb, or broken UTF-8, with or without newline.
func fuzzFrame(rng *rand.Rand) []byte {
	var b []byte
	switch rng.IntN(5) {
	case 0: // random bytes
		b = make([]byte, 1+rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
	case 1: // a valid status request with 1-2 bytes flipped (never another op)
		b = []byte(`{"v":1,"op":"status","names":["a","b"]}`)
		for range 1 + rng.IntN(2) {
			b[rng.IntN(len(b))] = byte(rng.UintN(256))
		}
	case 2: // deep nesting
		n := 1 + rng.IntN(30000)
		b = []byte(`{"v":1,"op":"status","names":` + strings.Repeat("[", n) + strings.Repeat("]", n) + "}")
	case 3: // wrong types, broken UTF-8, unknown fields, huge numbers
		frames := []string{
			`{"v":1,"op":"status","names":["\xff\xfe"]}`,
			`{"v":"1","op":7}`,
			`{"v":99999999999999999999999,"op":"status"}`,
			`{"v":1,"op":"status","extra":{"a":[1,2,{"b":null}]}}`,
			`{"v":1,"op":"logs","names":["nope"],"lines":-999999999}`,
			`{"v":1,"op":"signal","names":["nope"],"signal":"KILL"}`,
			`null`, `[]`, `""`, `{}`, "\x00\x00\x00\x00",
		}
		b = []byte(frames[rng.IntN(len(frames))])
	default: // truncated valid request
		full := `{"v":1,"op":"status","names":["a"]}`
		b = []byte(full[:rng.IntN(len(full))])
	}
	if rng.IntN(2) == 0 {
		b = append(b, '\n')
	}
	return b
}

// TestControlHostileInput: fuzzed frames, 1 MiB requests, slow-loris
// clients and 1000 idle connections at once against a running tend's
// control socket. tend keeps answering `tend status` within 2 s, its
// services are untouched, its file descriptors come back afterwards.
func TestControlHostileInput(t *testing.T) {
	dir := scratch(t)
	sock := filepath.Join(dir, "ctl.sock")
	recs := filepath.Join(dir, "records")
	conf := writeConfig(t, dir, fmt.Sprintf(`grace = "5s"

[service.a]
command = %s

[service.b]
command = %s
`, tomlArgv(tprog("svc", "--name", "a", "--log", recs)...), tomlArgv(tprog("svc", "--name", "b", "--log", recs)...)))
	r := start(t, dir, opts{Timeout: 90 * time.Second}, "-c", conf, "--socket", sock)
	before := waitStatus(t, r, sock, "both services running", func(s statusReport) bool {
		m := s.ByName()
		return m["a"].State == "running" && m["b"].State == "running"
	})
	time.Sleep(100 * time.Millisecond)
	fd0, rss0 := fdCount(t, r.TendPID), rssKiB(t, r.TendPID)

	d := pick(3*time.Second, 20*time.Second)
	idle := pick(1000, 3000)
	loris := pick(50, 200)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	replies := map[string]int{} // fuzz/oversized replies by error code
	var okSamples []string      // frames answered ok (mutated status requests)
	var fuzzSent, bigSent, fuzzNoReply atomic.Int64
	var lorisClosedBy stats // seconds until the server closed a slow client
	var lorisOpenAtEnd atomic.Int64

	dial := func() (*net.UnixConn, error) {
		c, err := net.DialTimeout("unix", sock, 2*time.Second)
		if err != nil {
			return nil, err
		}
		return c.(*net.UnixConn), nil
	}
	// exchange sends frame, half-closes, and reads the reply.
	exchange := func(frame []byte, counter *atomic.Int64) {
		c, err := dial()
		if err != nil {
			mu.Lock()
			replies["dial error: "+err.Error()]++
			mu.Unlock()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		counter.Add(1)
		prefix := ""
		if _, err := c.Write(frame); err != nil {
			// tend stops reading at 64 KiB; its reply may still be there.
			prefix = "write cut short, then "
		} else {
			c.CloseWrite()
		}
		b, _ := io.ReadAll(c)
		var rep struct {
			OK   bool   `json:"ok"`
			Code string `json:"code"`
		}
		key := "no reply"
		if len(b) > 0 {
			if err := json.Unmarshal(b, &rep); err != nil {
				key = "unparsable reply"
			} else if rep.OK {
				key = "ok"
			} else {
				key = rep.Code
			}
		} else {
			fuzzNoReply.Add(1)
		}
		mu.Lock()
		replies[prefix+key]++
		if key == "ok" && len(okSamples) < 5 {
			okSamples = append(okSamples, string(frame))
		}
		mu.Unlock()
	}
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	// 1000 idle connections at once, held for the whole attack.
	var idleConns []*net.UnixConn
	var idleErr int
	for range idle {
		c, err := dial()
		if err != nil {
			idleErr++
			continue
		}
		idleConns = append(idleConns, c)
	}
	// Fuzzers.
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for running() {
				exchange(fuzzFrame(rng), &fuzzSent)
			}
		}()
	}
	// Oversized requests: 1 MiB lines.
	big := []byte(strings.Repeat("x", 1<<20) + "\n")
	bigJSON := []byte(`{"v":1,"op":"status","names":["` + strings.Repeat("a", 1<<20) + `"]}` + "\n")
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for running() {
				if g == 0 {
					exchange(big, &bigSent)
				} else {
					exchange(bigJSON, &bigSent)
				}
			}
		}()
	}
	// Slow-loris clients: one byte a second.
	for range loris {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial()
			if err != nil {
				return
			}
			defer c.Close()
			t0 := time.Now()
			msg := `{"v":1,"op":"status"}` + "\n"
			for i := 0; running(); i++ {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{msg[i%(len(msg)-1)]}); err != nil {
					lorisClosedBy.add(time.Since(t0).Seconds())
					return
				}
				select {
				case <-stop:
				case <-time.After(time.Second):
				}
			}
			lorisOpenAtEnd.Add(1)
		}()
	}
	// The prober: a status request must keep being answered within 4.5 s
	// — less than the 5 s request deadline a server that served clients
	// one at a time would sit out behind each slow-loris client. It is
	// made here, not by `tend status`: with the CLI's own exec and start
	// it took 3.7 s once at a load average of ~100, too close to the 5 s
	// of the bad outcome; what is measured now is tend's answer, from the
	// connect (typically ms, logged below). The CLI is checked after the
	// attack.
	var lat stats
	var probeFail []string
	t0 := time.Now()
	for time.Since(t0) < d {
		took, err := statusExchange(sock, 10*time.Second)
		lat.add(took.Seconds() * 1000)
		if err != nil || took > 4500*time.Millisecond {
			probeFail = append(probeFail, fmt.Sprintf("at %v: after %v: %v", time.Since(t0).Round(time.Millisecond), took.Round(time.Millisecond), err))
		}
		r.Alive("during the control-socket attack")
		time.Sleep(100 * time.Millisecond)
	}
	fdPeak, rssPeak := fdCount(t, r.TendPID), rssKiB(t, r.TendPID)
	close(stop)
	wg.Wait()
	for _, c := range idleConns {
		c.Close()
	}
	mu.Lock()
	t.Logf("attack for %v: %d idle connections held (%d failed to connect), %d fuzz frames (%d without reply), %d requests of 1 MiB, %d slow clients (closed by tend after s: %s; still open at the end: %d)",
		d, len(idleConns), idleErr, fuzzSent.Load(), fuzzNoReply.Load(), bigSent.Load(), loris, lorisClosedBy.String(), lorisOpenAtEnd.Load())
	t.Logf("replies to fuzz and oversized requests, by code: %v", replies)
	mu.Unlock()
	t.Logf("status latency during the attack (ms): %s", lat.String())
	t.Logf("tend: fds %d before, %d during; VmRSS %d KiB before, %d KiB during", fd0, fdPeak, rss0, rssPeak)
	for _, f := range probeFail {
		t.Errorf("a status request was not answered within 4.5 s during the attack: %s\n%s", f, r.Diag())
	}
	if idleErr > 0 {
		t.Errorf("%d of %d idle connections could not connect", idleErr, idle)
	}
	if len(idleConns) > 0 && fdPeak < fd0+len(idleConns)/2 {
		t.Logf("note: tend held only %d fds with %d idle connections open", fdPeak, len(idleConns))
	}
	if len(okSamples) > 0 {
		// Only mutated status requests can be valid: harmless, read-only.
		t.Logf("frames answered ok (still valid status requests), e.g. %q", okSamples)
	}
	if d > 8*time.Second {
		// The request must arrive within 5 s of connecting.
		if n := lorisOpenAtEnd.Load(); n > 0 {
			t.Errorf("%d slow-loris clients were still connected after %v (tend's request deadline is 5 s)", n, d)
		}
		if lorisClosedBy.max > 7 {
			t.Errorf("tend closed a slow-loris client only after %.1f s (request deadline 5 s)", lorisClosedBy.max)
		}
	}

	// Afterwards: same services, same pids, no restarts; fds back to normal.
	var fdAfter int
	r.Poll("tend's fds to come back to normal", func() bool {
		fdAfter = fdCount(t, r.TendPID)
		return fdAfter <= fd0+2 || time.Since(t0) > d+10*time.Second
	})
	rssAfter := rssKiB(t, r.TendPID)
	t.Logf("after the attack: fds %d (before %d), VmRSS %d KiB", fdAfter, fd0, rssAfter)
	if fdAfter > fd0+2 {
		t.Errorf("tend holds %d fds after the attack, %d before: a leak", fdAfter, fd0)
	}
	// 10 s: only that tend still answers (ms when it does); the CLI's own
	// start takes seconds at a load average of ~100.
	after, took := r.status(sock, 10*time.Second)
	t.Logf("status after the attack answered in %v", took.Round(time.Millisecond))
	bm, am := before.ByName(), after.ByName()
	for _, n := range []string{"a", "b"} {
		if bm[n].PID != am[n].PID || am[n].State != "running" || am[n].Restarts != 0 {
			t.Errorf("service %s changed: before %+v, after %+v", n, bm[n], am[n])
		}
	}
	r.Signal(unix.SIGTERM)
	took = r.WaitExit(20 * time.Second) // ms when it works; bounds a hang
	t.Logf("SIGTERM: tend exited %v later", took.Round(time.Millisecond))
	r.ExpectCode(0)
	r.noPanic()
}

// statusExchange sends one status request on a new connection to sock and
// reads its answer; it returns the time from the connect to the answer.
func statusExchange(sock string, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	c, err := net.DialTimeout("unix", sock, timeout)
	if err != nil {
		return time.Since(t0), err
	}
	defer c.Close()
	c.SetDeadline(t0.Add(timeout))
	if _, err := io.WriteString(c, `{"v":1,"op":"status"}`+"\n"); err != nil {
		return time.Since(t0), err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	took := time.Since(t0)
	if err != nil {
		return took, fmt.Errorf("reading the answer: %v (got %q)", err, line)
	}
	var rep struct {
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(line), &rep); err != nil || !rep.OK {
		return took, fmt.Errorf("answer %q (%v)", clip([]byte(line)), err)
	}
	return took, nil
}
