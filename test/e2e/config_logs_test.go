package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario: no lost or torn log lines. Three services each write 10k
// lines/s (every 100th line 8 KiB long) and keep writing for a while after
// SIGTERM, then end with a line without a newline. Every line of tend's
// stdout must be well-formed and each service's sequence contiguous from 1
// to the last line it wrote.
func TestConfigLogsTextNoLossNoTearing(t *testing.T) {
	t.Parallel()
	spewTest(t, "text")
}

// Same in JSON: every stdout line is one JSON object with exactly time,
// service, stream and line.
func TestConfigLogsJSONNoLossNoTearing(t *testing.T) {
	t.Parallel()
	spewTest(t, "json")
}

const (
	spewRate      = 10000
	spewLongEvery = 100
	spewLongSize  = 8192
	spewShortSize = 40
)

func spewTest(t *testing.T, format string) {
	needEnv(t)
	dir := t.TempDir()
	names := []string{"s1", "s22", "s333"}
	var b strings.Builder
	fmt.Fprintf(&b, "log_format = %s\ngrace = \"20s\"\n", tomlStr(format))
	for _, name := range names {
		fmt.Fprintf(&b, "\n[service.%s]\ncommand = %s\nstop_timeout = \"20s\"\n", name, tomlArgv(tprog("spew",
			"--rate", strconv.Itoa(spewRate),
			"--long-every", strconv.Itoa(spewLongEvery), "--long-size", strconv.Itoa(spewLongSize),
			"--count-file", filepath.Join(dir, "count-"+name),
			"--linger", "300ms", "--partial")...))
	}
	cfg := writeConfig(t, dir, b.String())
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg)

	// Let them write for a while (about a second), then stop mid-stream.
	const enough = 3 << 20
	r.Poll("3 MiB of output", func() bool {
		st, err := os.Stat(r.OutPath)
		return (err == nil && st.Size() >= enough) || r.Exited()
	})
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)

	counts := map[string]uint64{}
	for _, name := range names {
		s := strings.TrimSpace(r.WaitFile(filepath.Join(dir, "count-"+name)))
		n, err := strconv.ParseUint(strings.TrimPrefix(s, "lines="), 10, 64)
		if err != nil {
			t.Fatalf("count-%s: %q", name, s)
		}
		counts[name] = n
	}
	if errOut := r.Stderr(); errOut != "" {
		t.Errorf("tend wrote to stderr during a clean shutdown:\n%s", errOut)
	}
	out := r.Stdout()
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("stdout does not end with a newline: the final partial lines must be written as whole lines; ends with %q", cfgTail(out, 80))
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")

	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	next := map[string]uint64{} // last sequence number seen
	ended := map[string]bool{}  // partial "end N" line seen
	var errs []string
	bad := func(i int, line, format string, a ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf("stdout line %d: %s: %q", i+1, fmt.Sprintf(format, a...), cfgTail(line, 120)))
		} else if len(errs) == 20 {
			errs = append(errs, "... (more errors left out)")
		}
	}
	for i, line := range lines {
		var name, text string
		switch format {
		case "text":
			n, rest, ok := strings.Cut(line, " | ")
			name = strings.TrimRight(n, " ")
			if !ok || !slices.Contains(names, name) || len(n) != width {
				bad(i, line, "not %q padded to %d, then \" | \"", names, width)
				continue
			}
			text = rest
		case "json":
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				bad(i, line, "not JSON: %v", err)
				continue
			}
			var keys []string
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"line", "service", "stream", "time"}) {
				bad(i, line, "keys %q, want line, service, stream, time", keys)
				continue
			}
			var ts, stream string
			if json.Unmarshal(obj["time"], &ts) != nil || json.Unmarshal(obj["service"], &name) != nil ||
				json.Unmarshal(obj["stream"], &stream) != nil || json.Unmarshal(obj["line"], &text) != nil {
				bad(i, line, "a value is not a string")
				continue
			}
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				bad(i, line, "time: %v", err)
			}
			if stream != "stdout" {
				bad(i, line, "stream %q, want stdout", stream)
			}
			if !slices.Contains(names, name) {
				bad(i, line, "unknown service %q", name)
				continue
			}
		}
		if ended[name] {
			bad(i, line, "%s: a line after its final partial line", name)
			continue
		}
		if rest, ok := strings.CutPrefix(text, "end "); ok {
			ended[name] = true
			if rest != strconv.FormatUint(next[name], 10) {
				bad(i, line, "%s: final partial line says %s lines, but the last line seen was %d", name, rest, next[name])
			}
			continue
		}
		seqStr, payload, ok := strings.Cut(text, " ")
		seq, err := strconv.ParseUint(seqStr, 10, 64)
		if !ok || err != nil {
			bad(i, line, "%s: not \"SEQ PAYLOAD\"", name)
			continue
		}
		if seq != next[name]+1 {
			bad(i, line, "%s: sequence %d after %d (lost or duplicated lines)", name, seq, next[name])
		}
		next[name] = seq
		size := spewShortSize
		if seq%spewLongEvery == 0 {
			size = spewLongSize
		}
		if payload != spewPayload(seq, size) {
			bad(i, line, "%s: line %d: payload of %d bytes is not the %d bytes written (torn or interleaved)", name, seq, len(payload), size)
		}
	}
	for _, name := range names {
		if next[name] != counts[name] {
			bad(len(lines)-1, "", "%s wrote %d lines but stdout has lines up to %d", name, counts[name], next[name])
		}
		if !ended[name] {
			bad(len(lines)-1, "", "%s: its final partial line (\"end %d\", no newline) is missing", name, counts[name])
		}
		if counts[name] < 2*spewLongEvery {
			bad(len(lines)-1, "", "%s wrote only %d lines: the test did not exercise much", name, counts[name])
		}
	}
	t.Logf("%d stdout lines, %d bytes; lines written: %v", len(lines), len(out), counts)
	if len(errs) > 0 {
		t.Errorf("tend's stdout (%s format) is not exactly the services' lines:\n%s\n--- stderr:\n%s", format, strings.Join(errs, "\n"), r.Stderr())
	}
}

// cfgTail returns the last n bytes of s.
func cfgTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Scenario: log = "inherit" gives a service tend's own stdout (no prefix),
// next to a prefixed one.
func TestConfigLogInherit(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	records := filepath.Join(dir, "records")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.raw]
command = %s
log = "inherit"

[service.prefixed]
command = %s

[service.keeper]
command = %s
`,
		tomlArgv(tprog("id")...),
		tomlArgv(tprog("id")...),
		tomlArgv(tprog("svc", "--name", "keeper", "--log", records, "--ready", filepath.Join(dir, "keeper-ready"))...)))
	r := startIn(t, dir, opts{}, "-c", cfg)
	r.WaitFile(filepath.Join(dir, "keeper-ready"))
	var raw, prefixed bool
	r.Poll("both id lines on stdout", func() bool {
		raw, prefixed = false, false
		for _, line := range readLines(r.OutPath) {
			raw = raw || strings.HasPrefix(line, "uid=0 gid=0 ")
			prefixed = prefixed || strings.HasPrefix(line, "prefixed | uid=0 gid=0 ")
		}
		return raw && prefixed
	})
	for _, line := range readLines(r.OutPath) {
		if !strings.HasPrefix(line, "uid=0 gid=0 ") && !strings.HasPrefix(line, "prefixed | uid=0 gid=0 ") {
			t.Errorf("unexpected stdout line %q", line)
		}
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
