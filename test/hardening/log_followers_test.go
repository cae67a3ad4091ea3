package hardening

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// followerBudgetKiB is the RSS bound TestStalledFollowers holds tend to
// while 80 stalled `tend logs -f` followers face a flood: the followers'
// global budget (README: 16 MiB), plus tend's own few MiB, plus what the
// followers' writers hold (a 32 KiB buffer and the line being encoded
// each), plus headroom for the Go heap's garbage between collections.
const followerBudgetKiB = 64 << 10

// dialFollower connects to the control socket and asks to follow the logs
// of the named services (a JSON list's contents; "" for all).
func dialFollower(t *testing.T, sock, names string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, `{"v":1,"op":"logs","lines":0,"follow":true,"names":[`+names+`]}`+"\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStalledFollowers: 80 `tend logs -f` followers that never read while
// a service floods its output (lines from 1 B to 1 MiB). tend's RSS must
// stay under followerBudgetKiB throughout (it went to 164 MiB here, and
// 190-350 MiB in the issue, when each follower pinned up to 1024 lines); a
// follower of a quiet service that reads keeps receiving every line; a
// stalled follower that reads again finds that it was dropped, with a
// message saying why.
func TestStalledFollowers(t *testing.T) {
	const stalled = 80
	dir := scratch(t)
	sock := filepath.Join(dir, "ctl.sock")
	conf := writeConfig(t, dir, fmt.Sprintf(`grace = "5s"

[service.flood]
command = %s

[service.ticker]
command = %s
`, tomlArgv(tprog("flood", "--mode", "sizes")...), tomlArgv("sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done")))
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	r := start(t, dir, opts{Timeout: 120 * time.Second, Stdout: devnull}, "-c", conf, "--socket", sock)
	waitStatus(t, r, sock, "flood running", func(s statusReport) bool { return s.ByName()["flood"].State == "running" })
	rss0 := rssKiB(t, r.TendPID)

	// One follower of the quiet service, reading: it must get every tick,
	// in order, whatever the stalled followers of everything cost.
	good := dialFollower(t, sock, `"ticker"`)
	var goodLines atomic.Int64
	goodEnd := make(chan string, 1)
	go func() {
		dec := json.NewDecoder(good)
		prev := 0
		for {
			var m struct {
				OK   bool   `json:"ok"`
				Err  string `json:"error"`
				Line *struct {
					Text string `json:"text"`
				} `json:"line"`
			}
			if err := dec.Decode(&m); err != nil {
				goodEnd <- err.Error()
				return
			}
			if m.Line == nil {
				if !m.OK {
					goodEnd <- fmt.Sprintf("%+v", m)
					return
				}
				continue
			}
			var n int
			fmt.Sscanf(m.Line.Text, "tick %d", &n)
			if prev != 0 && n != prev+1 {
				goodEnd <- fmt.Sprintf("tick %d after tick %d", n, prev)
				return
			}
			prev = n
			goodLines.Add(1)
		}
	}()
	var bad []*net.UnixConn
	for range stalled {
		c := dialFollower(t, sock, "")
		c.SetReadBuffer(4096)
		bad = append(bad, c)
	}
	// After 5 s, one stalled follower starts reading again (within the
	// 10 s write deadline): what does it find at the end of its stream?
	lastMsg := make(chan string, 1)
	go func() {
		time.Sleep(5 * time.Second)
		c := bad[0]
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReaderSize(c, 2<<20)
		last := ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if !strings.HasPrefix(line, `{"line":`) {
				last = line
			}
		}
		lastMsg <- last
	}()
	// Longer than the 10 s write deadline that used to free them.
	maxRSS := 0
	var at time.Duration
	t0 := time.Now()
	for time.Since(t0) < 12*time.Second {
		r.Alive("under the follower flood")
		if v := rssKiB(t, r.TendPID); v > maxRSS {
			maxRSS, at = v, time.Since(t0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The reading follower still receives: the ticker writes every 50 ms;
	// a stalled stream gets nothing ever, and 2 s leave room for the
	// ticker's shell and sleeps on a loaded machine.
	g1 := goodLines.Load()
	time.Sleep(2 * time.Second)
	g2 := goodLines.Load()
	t.Logf("%d stalled followers: tend RSS %d KiB before, max %d KiB (at %v); the reading follower got %d lines (+%d in the last 2 s), all in order",
		stalled, rss0, maxRSS, at.Round(100*time.Millisecond), g2, g2-g1)
	if maxRSS > followerBudgetKiB {
		t.Errorf("tend's RSS reached %d KiB, bound %d KiB", maxRSS, followerBudgetKiB)
	}
	select {
	case e := <-goodEnd:
		t.Errorf("the reading follower's stream ended: %s", e)
	default:
		if g2 == g1 {
			t.Errorf("the reading follower got no line in 2 s (%d in all)\n%s", g2, r.Diag())
		}
	}
	var last string
	select {
	case last = <-lastMsg:
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled follower's stream did not end")
	}
	var msg struct {
		Error string `json:"error"`
	}
	json.Unmarshal([]byte(last), &msg)
	t.Logf("a stalled follower's last message: %s", strings.TrimSpace(last))
	if !strings.Contains(msg.Error, "fell behind") {
		t.Errorf("a stalled follower's last message is %q, want an error saying it fell behind", clip([]byte(last)))
	}
	r.Signal(unix.SIGTERM)
	r.WaitExit(20 * time.Second)
	r.ExpectCode(0)
	r.noPanic()
}
