package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var cronNow = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestCrontab(t *testing.T) {
	in := `# a crontab copied from a VM
SHELL=/bin/sh
MAILTO = ""
GREETING='hello world'

*/5 * * * *   /app/cleanup --old   2>&1 | logger
*/10 * * * * * * echo "every ten seconds, $GREETING"
@daily  /app/report
@every 30s /app/poll
CRON_TZ=Europe/Berlin
30 2 * * * backup
0 0 * * 1 7z a x.7z /data
SHELL=/bin/bash
0 12 * * * 2027 echo "noon, 2027 only" | tee -a /log
*/5 * * * * * echo every five minutes, any year
`
	jobs, err := parseCrontab("/etc/my.crontab", []byte(in), env("TZ", "America/New_York"), cronNow)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, spec, zone, cmd string
		env                   []string
	}
	base := []string{"SHELL=/bin/sh", "MAILTO=", "GREETING=hello world"}
	bash := []string{"SHELL=/bin/bash", "MAILTO=", "GREETING=hello world"}
	id := func(spec, cmd string) string { return "my-" + jobID(spec, cmd) }
	want := []row{
		{id("*/5 * * * *", "/app/cleanup --old   2>&1 | logger"), "*/5 * * * *", "America/New_York", "/app/cleanup --old   2>&1 | logger", base},
		{id("*/10 * * * * * *", `echo "every ten seconds, $GREETING"`), "*/10 * * * * * *", "America/New_York", `echo "every ten seconds, $GREETING"`, base},
		{id("@daily", "/app/report"), "@daily", "America/New_York", "/app/report", base},
		{id("@every 30s", "/app/poll"), "@every 30s", "America/New_York", "/app/poll", base},
		{id("30 2 * * *", "backup"), "30 2 * * *", "Europe/Berlin", "backup", base},
		// 7z has a letter: not a seconds field, the command starts there.
		{id("0 0 * * 1", "7z a x.7z /data"), "0 0 * * 1", "Europe/Berlin", "7z a x.7z /data", base},
		// 6 fields: the 5, then a year, as supercronic reads them.
		{id("0 0 12 * * * 2027", `echo "noon, 2027 only" | tee -a /log`), "0 0 12 * * * 2027", "Europe/Berlin", `echo "noon, 2027 only" | tee -a /log`, bash},
		{id("0 */5 * * * * *", "echo every five minutes, any year"), "0 */5 * * * * *", "Europe/Berlin", "echo every five minutes, any year", bash},
	}
	var got []row
	for _, j := range jobs {
		shell := "/bin/sh"
		if j.Line >= 14 {
			shell = "/bin/bash"
		}
		if j.File != "/etc/my.crontab" || j.Restart != "never" || j.Overlap != OverlapSkip || !j.IsJob() || len(j.Command) != 3 || j.Command[0] != shell || j.Command[1] != "-c" {
			t.Errorf("%s: %+v", j.Name, *j)
		}
		got = append(got, row{j.Name, j.Schedule, j.Timezone, j.Command[2], j.Env})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if p := crontabPrefix("/x/crontab"); p != "crontab" {
		t.Errorf("prefix of crontab: %q", p)
	}
	if p := crontabPrefix("/x/.hidden"); p != ".hidden" {
		t.Errorf("prefix of .hidden: %q", p)
	}
	if p := crontabPrefix("/x/my jobs.cron"); p != "my_jobs" {
		t.Errorf("prefix of 'my jobs.cron': %q", p)
	}
}

func TestCrontabErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"*/5 * * * *\n", `crontab:1: no command after the schedule; accepted: "SPEC COMMAND"`},
		{"# c\n\n*/5 * * * x run\n", `crontab:3: "*/5 * * * x" is not a schedule (failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax); accepted: 5 fields`},
		{"0 0 30 2 * run\n", `crontab:1: "0 0 30 2 *" never fires`},
		{"@reboot run\n", `crontab:1: @reboot is not supported`},
		{"@every 10ms run\n", `crontab:1: @every "10ms": want a duration of whole seconds`},
		{"CRON_TZ=Moon/Base\n", `crontab:1: CRON_TZ: "Moon/Base" is not a known time zone`},
		{"CRON_TZ=/dev/zero\n", `crontab:1: CRON_TZ: "/dev/zero": zone file /dev/zero: a character device, not a regular file; accepted: a regular file of at most 10 MiB`},
		{"CRON_TZ=/\n", `crontab:1: CRON_TZ: "/": zone file /: a directory, not a regular file`},
		{"9X=1\n", `crontab:1: not a crontab line: "9X=1"; accepted: "SPEC COMMAND"`},
		{"just words here\n", `crontab:1: not a crontab line: "just words here"`},
		{"just six words here for you\n", `crontab:1: "just six words here for" is not a schedule`},
		{"0 0 1 1 * 2020 expired\n", `crontab:1: "0 0 0 1 1 * 2020" never fires`},
		{"SHELL=bash\n", `crontab:1: SHELL="bash": accepted: an absolute path`},
		{"* * * * * root /bin/run\n\x00\n", `crontab:2: contains a NUL byte`},
	}
	for _, tt := range tests {
		_, err := parseCrontab("crontab", []byte(tt.in), env(), cronNow)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("parseCrontab(%q):\n got %v\nwant %s...", tt.in, err, tt.want)
		}
	}
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSet(t *testing.T) {
	dir := t.TempDir()
	base := write(t, filepath.Join(dir, "base.toml"), "grace = \"20s\"\n[service.db]\ncommand = \"db\"\n")
	confd := filepath.Join(dir, "conf.d")
	write(t, filepath.Join(confd, "20-web.toml"), "[service.web]\ncommand = \"web\"\nafter = [\"db\"]\n")
	write(t, filepath.Join(confd, "10-cron.toml"), "grace = \"20s\"\ncrontab = \"../crontab\"\n")
	write(t, filepath.Join(confd, "README"), "not toml")
	write(t, filepath.Join(confd, ".hidden.toml"), "broken = [")
	if err := os.Mkdir(filepath.Join(confd, "sub.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "crontab"), "A=1\n*/5 * * * * tick\n")
	extra := write(t, filepath.Join(dir, "extra.cron"), "@hourly tock\n")

	c, err := LoadSet([]string{base, confd}, []string{extra}, env())
	if err != nil {
		t.Fatal(err)
	}
	var names, files []string
	for _, s := range c.Services {
		names = append(names, s.Name)
		files = append(files, filepath.Base(s.File))
	}
	if strings.Join(names, " ") != "db web crontab-"+jobID("*/5 * * * *", "tick")+" extra-"+jobID("@hourly", "tock") || strings.Join(files, " ") != "base.toml 20-web.toml crontab extra.cron" {
		t.Errorf("services %v from %v", names, files)
	}
	if c.Grace != 20*time.Second || c.File != base || len(c.Files) != 3 || filepath.Base(c.Files[1]) != "10-cron.toml" || len(c.Crontabs) != 2 {
		t.Errorf("config %+v", *c)
	}
	plan := c.Plan()
	for _, want := range []string{"[service.web]  # " + filepath.Join(confd, "20-web.toml") + ":1\n", "[service.crontab-" + jobID("*/5 * * * *", "tick") + "]  # " + filepath.Join(dir, "crontab") + ":2\n"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}

	// Errors name both places.
	dup := filepath.Join(dir, "dup")
	write(t, filepath.Join(dup, "a.toml"), "[service.web]\ncommand = \"a\"\n")
	write(t, filepath.Join(dup, "b.toml"), "log_format = \"json\"\n\n[service.web]\ncommand = \"b\"\n")
	diff := filepath.Join(dir, "diff")
	write(t, filepath.Join(diff, "a.toml"), "grace = \"5s\"\n[service.a]\ncommand = \"a\"\n")
	write(t, filepath.Join(diff, "b.toml"), "\ngrace = \"6s\"\n")
	same := filepath.Join(dir, "same.cron")
	write(t, same, "@hourly x\n")
	sameJob := "same-" + jobID("@hourly", "x")
	clash := write(t, filepath.Join(dir, "clash.toml"), "[service."+sameJob+"]\ncommand = \"x\"\n")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		configs, crontabs []string
		want              string
	}{
		{[]string{dup}, nil, dup + "/b.toml:3: service.web: defined twice (first at " + dup + "/a.toml:1); accepted: each service in one file"},
		{[]string{diff}, nil, diff + `/b.toml:2: grace: "6s" differs from "5s" set at ` + diff + "/a.toml:1; accepted: set it in one file, or to the same value"},
		{[]string{clash}, []string{same}, same + `:1: job "` + sameJob + `" (named after this crontab file, its schedule and command) is already defined at ` + clash + ":1"},
		{[]string{empty}, nil, empty + ": no *.toml file in the directory; accepted: a TOML file, or a directory of *.toml files"},
		{[]string{filepath.Join(dir, "missing")}, nil, filepath.Join(dir, "missing") + ": stat: no such file or directory; accepted: a TOML file, or a directory of *.toml files"},
		{[]string{empty, filepath.Join(diff, "b.toml")}, nil, diff + "/b.toml: no services; define at least one [service.NAME] table"},
	}
	if os.Getuid() != 0 { // root reads a 0000 directory anyway
		tests = append(tests, struct {
			configs, crontabs []string
			want              string
		}{[]string{locked}, nil, locked + ": cannot read the directory: open: permission denied"})
	}
	for _, tt := range tests {
		_, err := LoadSet(tt.configs, tt.crontabs, env())
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("LoadSet(%v, %v):\n got %v\nwant %s", tt.configs, tt.crontabs, err, tt.want)
		}
	}
}

// A crontab job's name (its identity across reloads) depends on its
// schedule and command only: comments, variables and other jobs added
// above it leave it unchanged (issue 17 item 2: named by line, inserting
// a comment renamed it, and a reload killed its running run); the same
// schedule and command twice are numbered in file order.
func TestCrontabNamesStable(t *testing.T) {
	names := func(in string) []string {
		t.Helper()
		jobs, err := parseCrontab("/etc/crontab", []byte(in), env(), cronNow)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, j.Name)
		}
		return out
	}
	before := names("@daily /backup\n*/5 * * * * poll\n")
	after := names("# nightly backup, keep it\n\nA=1\n@hourly new job\n@daily /backup\n# poll\n*/5 * * * * poll\n")
	if len(before) != 2 || len(after) != 3 || after[1] != before[0] || after[2] != before[1] {
		t.Errorf("names before %v, after inserting lines above %v: the unchanged jobs must keep theirs", before, after)
	}
	if before[0] != "crontab-"+jobID("@daily", "/backup") || len(before[0]) != len("crontab-")+12 {
		t.Errorf("name %q, want crontab-ID with 12 hex digits", before[0])
	}
	dup := names("@daily /backup\n@hourly x\n@daily /backup\n@daily   /backup\n")
	if want := []string{before[0], "crontab-" + jobID("@hourly", "x"), before[0] + "-2", before[0] + "-3"}; !reflect.DeepEqual(dup, want) {
		t.Errorf("duplicates: %v, want %v", dup, want)
	}
	if changed := names("@daily /backup --full\n"); changed[0] == before[0] {
		t.Errorf("a changed command kept the name %q", changed[0])
	}
	if changed := names("@weekly /backup\n"); changed[0] == before[0] {
		t.Errorf("a changed schedule kept the name %q", changed[0])
	}
}

// Loading and ordering cost O(services + edges) steps (issue 17 item 3: a
// name lookup per job scanned every service, so a 100k-line crontab took
// 268 s). Counted, not timed: a crontab of n jobs beside a chain of n
// services each after the one before.
func TestLoadLinear(t *testing.T) {
	for _, n := range []int{100, 4000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			dir := t.TempDir()
			var cron, toml strings.Builder
			for i := range n {
				fmt.Fprintf(&cron, "*/5 * * * * job %d\n", i)
				fmt.Fprintf(&toml, "[service.s%d]\ncommand = \"s\"\n", i)
				if i > 0 {
					fmt.Fprintf(&toml, "after = [\"s%d\"]\n", i-1)
				}
			}
			cfg := write(t, filepath.Join(dir, "tend.toml"), toml.String())
			tab := write(t, filepath.Join(dir, "crontab"), cron.String())
			work.Store(0)
			c, err := LoadSet([]string{cfg}, []string{tab}, env())
			if err != nil {
				t.Fatal(err)
			}
			order := c.StartOrder()
			if len(c.Services) != 2*n || len(order) != n {
				t.Fatalf("%d services in %d levels, want %d in %d", len(c.Services), len(order), 2*n, n)
			}
			edges := n - 1
			steps := int(work.Load())
			t.Logf("%d services, %d edges: %d steps", 2*n, edges, steps)
			if limit := 10 * (2*n + edges); steps > limit {
				t.Errorf("loading %d services and %d edges took %d steps, want at most %d (linear)", 2*n, edges, steps, limit)
			}
		})
	}
}
