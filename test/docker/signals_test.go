package docker

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// signalsScript starts a background job, orphaned at once, that leaves 500
// orphans (exited, so zombies until PID 1 reaps them), and becomes sigprint,
// which records every signal it gets.
const signalsScript = `(testprog orphans --count 500 --ready /out/O &); exec testprog sigprint --out /out/S --ready /out/R`

// TestSignalsAndZombies is scenario 2: docker kill -s HUP / -s USR1 reach the
// app, and the orphans it left behind do not stay zombies. The "no init" run
// is a control showing that the zombie check is not vacuous: there PID 1 is
// sigprint itself, which reaps nothing.
func TestSignalsAndZombies(t *testing.T) {
	needDocker(t)
	t.Parallel()
	for _, k := range []initKind{withTend, withTini, withNone} {
		t.Run(k.name, func(t *testing.T) {
			k.need(t)
			t.Parallel()
			ctx := deadline(t, 60*time.Second)
			c := start(t, ctx, k, nil, "sh", "-c", signalsScript)
			c.waitFile("R")
			c.waitFile("O")

			for _, sig := range []string{"HUP", "USR1"} {
				mustDocker(t, ctx, "kill", "-s", sig, c.id)
				c.waitContains("S", "got SIG"+sig+"\n")
			}
			got, _ := c.read("S")
			if k.column >= 0 {
				if got == "got SIGHUP\ngot SIGUSR1\n" {
					record(k, "2a", "✅ HUP, USR1 forwarded")
				} else {
					record(k, "2a", fmt.Sprintf("❌ app got %q", got))
				}
			}

			zombies, ps := countZombies(t, c, k.name != withNone.name)
			switch {
			case k.name == withNone.name:
				// Nobody reaps (sh as PID 1 may reap a few before it execs).
				if zombies < 400 {
					t.Errorf("control run without an init: %d zombies, want about 500 (is the check broken?)\n%s", zombies, ps)
				}
			case zombies == 0:
				record(k, "2b", "✅ 0 zombies")
			default:
				record(k, "2b", fmt.Sprintf("❌ %d zombies", zombies))
				t.Errorf("%d zombies left in the container:\n%s", zombies, ps)
			}

			took := c.stop(10)
			code := c.wait()
			got, _ = c.read("S")
			t.Logf("%s: stop took %v, exit %d, signals %q, zombies %d", k.name, took.Round(time.Millisecond), code, got, zombies)
			if want := "got SIGHUP\ngot SIGUSR1\ngot SIGTERM\n"; got != want {
				t.Errorf("sigprint recorded %q, want %q", got, want)
			}
			if code != 0 {
				t.Errorf("exit code %d, want 0 (sigprint exits 0 on SIGTERM)", code)
			}
			if took > beforeDockerKill {
				t.Errorf("docker stop took %v, want < %v (before Docker's own SIGKILL)", took, beforeDockerKill)
			}
			if k.column >= 0 {
				tableMu.Lock()
				r := table["2a"]
				r[k.column] += fmt.Sprintf(", exit %d", code)
				table["2a"] = r
				tableMu.Unlock()
			}
		})
	}
}

var psLine = regexp.MustCompile(`(?m)^procs=(\d+) zombies=(\d+) others=(\d+)$`)

// countZombies runs testprog pscheck inside the container. With settle it
// polls (up to 10s) until there is no zombie; otherwise it waits a second and
// returns what is there.
func countZombies(t *testing.T, c *container, settle bool) (int, string) {
	t.Helper()
	if !settle {
		time.Sleep(time.Second)
	}
	until := time.Now().Add(10 * time.Second)
	for {
		out, err := c.exec("/testprog", "pscheck")
		if err != nil {
			t.Fatal(err)
		}
		m := psLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("unexpected pscheck output:\n%s", out)
		}
		z, _ := strconv.Atoi(m[2])
		if z == 0 || !settle || time.Now().After(until) {
			return z, out
		}
		time.Sleep(100 * time.Millisecond)
	}
}
