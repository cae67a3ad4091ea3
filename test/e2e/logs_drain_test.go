package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario (issue 10, item 2): output still in the services' pipes at exit
// is drained within the grace, not for a fixed 2 s. 60 services each write
// a final 60 KiB (600 lines of 100 bytes) when they get SIGTERM, then exit;
// tend's stdout is a pipe read at about 400 KB/s, so writing it all out
// takes about 9 s after the last service exited. With a 40 s grace every
// one of the 36,000 final lines must arrive, in order per service.
func TestLogsDrainedWithinGraceAtExit(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	const (
		services = 60
		lines    = 600
		lineLen  = 100 // bytes, with the newline
	)
	var cfg strings.Builder
	cfg.WriteString("grace = \"40s\"\n")
	for i := range services {
		name := fmt.Sprintf("s%02d", i)
		var final bytes.Buffer
		for j := 1; j <= lines; j++ {
			l := fmt.Sprintf("%s final %04d ", name, j)
			final.WriteString(l + strings.Repeat("x", lineLen-1-len(l)) + "\n")
		}
		finalPath := filepath.Join(dir, "final-"+name)
		if err := os.WriteFile(finalPath, final.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		// The trap runs once the foreground sleep ends: it gets the
		// SIGTERM through the process group (or, if the signal came
		// between its fork and exec and was lost, ends on its own). The
		// shell's "Terminated" about it goes to /dev/null.
		script := fmt.Sprintf(`exec 2>/dev/null; trap 'cat %s; exit 0' TERM; echo up > %s; while :; do sleep 0.2; done`,
			q(finalPath), q(filepath.Join(dir, "ready-"+name)))
		fmt.Fprintf(&cfg, "\n[service.%s]\ncommand = %s\n", name, tomlArgv("sh", "-c", script))
	}
	cfgPath := writeConfig(t, dir, cfg.String())

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// A slow reader of tend's stdout: 4 KiB every 10 ms, at most 400 KB/s.
	got := make(chan []byte, 1)
	go func() {
		var out bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		got <- out.Bytes()
	}()
	r := startIn(t, dir, opts{Timeout: 120 * time.Second, Stdout: pw}, "-c", cfgPath)
	pw.Close()
	r.Poll("every service to be up", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "ready-*"))
		return len(m) == services || r.Exited()
	})
	r.Signal(unix.SIGTERM)
	sent := time.Now()
	r.ExpectExit(0)
	took := r.Ended.Sub(sent)

	var out []byte
	select {
	case out = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("tend's stdout did not reach EOF within 30 s of its exit")
	}
	next := map[string]int{}
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		_, text, ok := strings.Cut(line, " | ")
		if !ok {
			continue
		}
		var name string
		var seq int
		if _, err := fmt.Sscanf(text, "%s final %d ", &name, &seq); err != nil {
			continue
		}
		if seq != next[name]+1 && len(errs) < 10 {
			errs = append(errs, fmt.Sprintf("%s: line %d after line %d", name, seq, next[name]))
		}
		next[name] = seq
	}
	missing := 0
	for i := range services {
		name := fmt.Sprintf("s%02d", i)
		missing += lines - next[name]
		if next[name] != lines && len(errs) < 10 {
			errs = append(errs, fmt.Sprintf("%s: last final line seen %d of %d", name, next[name], lines))
		}
	}
	t.Logf("tend exited %v after SIGTERM; %d bytes read from its stdout", took.Round(time.Millisecond), len(out))
	if missing > 0 || len(errs) > 0 {
		t.Errorf("%d of %d final lines never arrived (tend exited %v after SIGTERM, grace 40s):\n%s\n--- stderr:\n%s",
			missing, services*lines, took.Round(time.Millisecond), strings.Join(errs, "\n"), r.Stderr())
	}
	if s := r.Stderr(); s != "" {
		t.Errorf("tend wrote to stderr:\n%s", s)
	}
}
