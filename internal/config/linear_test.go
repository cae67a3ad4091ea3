package config

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Issue 17 item 3: loading n services and jobs costs O(n) name lookups,
// not one pass over the services per job (a crontab of 100k lines took
// 268 s). Counted in steps (services visited to find or index a name), not
// timed.
func TestLoadLinear(t *testing.T) {
	for _, n := range []int{100, 4000, 16000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			dir := t.TempDir()
			var cron, toml strings.Builder
			for i := 0; i < n; i++ {
				cron.WriteString("# job " + strconv.Itoa(i) + "\n@hourly /app/task " + strconv.Itoa(i) + "\n")
				toml.WriteString("[service.s" + strconv.Itoa(i) + "]\ncommand = \"x\"\n")
				if i > 0 {
					toml.WriteString("after = [\"s" + strconv.Itoa(i-1) + "\"]\n")
				}
			}
			cf := write(t, filepath.Join(dir, "jobs.cron"), cron.String())
			tf := write(t, filepath.Join(dir, "tend.toml"), toml.String())
			lookupSteps.Store(0)
			c, err := LoadSet([]string{tf}, []string{cf}, env())
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Services) != 2*n {
				t.Fatalf("%d services and jobs, want %d", len(c.Services), 2*n)
			}
			if lv := c.StartOrder(); len(lv) != n {
				t.Fatalf("%d start levels, want %d", len(lv), n)
			}
			Diff(c, c)
			steps := lookupSteps.Load()
			t.Logf("%d services + %d jobs: %d lookup steps", n, n, steps)
			if limit := int64(10 * 2 * n); steps > limit {
				t.Errorf("loading %d services and %d jobs took %d lookup steps, want at most %d (linear)", n, n, steps, limit)
			}
		})
	}
}
