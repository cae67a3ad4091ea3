package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario (issue 10, item 17): with log_format = "json" (and -v, so tend
// has plenty to say: starts, exits, shutdown), every line tend writes, its
// own messages included, is one JSON object with the keys of the service
// lines; tend's own have "service":"tend".
func TestLogsJSONOwnMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `log_format = "json"
[service.web]
command = `+tomlArgv("sh", "-c", "echo hello; echo oops >&2; exec sleep 1000")+`
`)
	r := startIn(t, dir, opts{}, "-v", "-c", cfg)
	r.Poll("web's line", func() bool { return strings.Contains(r.Stdout(), "hello") || r.Exited() })
	r.Signal(unix.SIGTERM)
	r.Wait()

	own := 0
	for _, f := range []struct{ name, out string }{{"stdout", r.Stdout()}, {"stderr", r.Stderr()}} {
		if f.out == "" || !strings.HasSuffix(f.out, "\n") {
			t.Errorf("%s is empty or does not end with a newline: %q", f.name, f.out)
			continue
		}
		for _, line := range strings.Split(strings.TrimSuffix(f.out, "\n"), "\n") {
			var obj map[string]string
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Errorf("%s line is not a JSON object of strings: %q: %v", f.name, line, err)
				continue
			}
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"line", "service", "stream", "time"}) {
				t.Errorf("%s line has keys %q, want line, service, stream, time: %q", f.name, keys, line)
			}
			if _, err := time.Parse(time.RFC3339Nano, obj["time"]); err != nil {
				t.Errorf("%s line: time: %v", f.name, err)
			}
			if obj["stream"] != f.name {
				t.Errorf("%s line has stream %q: %q", f.name, obj["stream"], line)
			}
			if obj["service"] == "tend" {
				own++
				if strings.HasPrefix(obj["line"], "tend: ") {
					t.Errorf("tend's message keeps its \"tend: \" prefix: %q", line)
				}
			}
		}
	}
	if own < 3 {
		t.Errorf("only %d of tend's own messages seen with -v, want several (start, exit, shutdown)\n%s", own, r.Diag())
	}
}
