package config

import (
	"os"
	"path/filepath"
	"reflect"
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
	want := []row{
		{"my-cleanup-4e01140c", "*/5 * * * *", "America/New_York", "/app/cleanup --old   2>&1 | logger", base},
		{"my-echo-bfa3afc0", "*/10 * * * * * *", "America/New_York", `echo "every ten seconds, $GREETING"`, base},
		{"my-report-cc7c979b", "@daily", "America/New_York", "/app/report", base},
		{"my-poll-2fd9896a", "@every 30s", "America/New_York", "/app/poll", base},
		{"my-backup-3a8a8d0c", "30 2 * * *", "Europe/Berlin", "backup", base},
		// 7z has a letter: not a seconds field, the command starts there.
		{"my-7z-77707748", "0 0 * * 1", "Europe/Berlin", "7z a x.7z /data", base},
		// 6 fields: the 5, then a year, as supercronic reads them.
		{"my-echo-40fdb49a", "0 0 12 * * * 2027", "Europe/Berlin", `echo "noon, 2027 only" | tee -a /log`, bash},
		{"my-echo-3f4b39a7", "0 */5 * * * * *", "Europe/Berlin", "echo every five minutes, any year", bash},
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
	if strings.Join(names, " ") != "db web crontab-tick-eb51acb2 extra-tock-ae834a69" || strings.Join(files, " ") != "base.toml 20-web.toml crontab extra.cron" {
		t.Errorf("services %v from %v", names, files)
	}
	if c.Grace != 20*time.Second || c.File != base || len(c.Files) != 3 || filepath.Base(c.Files[1]) != "10-cron.toml" || len(c.Crontabs) != 2 {
		t.Errorf("config %+v", *c)
	}
	plan := c.Plan()
	for _, want := range []string{"[service.web]  # " + filepath.Join(confd, "20-web.toml") + ":1\n", "[service.crontab-tick-eb51acb2]  # " + filepath.Join(dir, "crontab") + ":2\n"} {
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
	clash := write(t, filepath.Join(dir, "clash.toml"), "[service."+jobName("same", "@hourly", "x")+"]\ncommand = \"x\"\n")
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
		{[]string{clash}, []string{same}, same + `:1: job "` + jobName("same", "@hourly", "x") + `" (named after the crontab file, the schedule and the command) is already defined at ` + clash + ":1"},
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
