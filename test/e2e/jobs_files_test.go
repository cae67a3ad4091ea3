package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Scenario: a crontab file runs unchanged: env lines reach the commands,
// which run through /bin/sh -c (supercronic's 7-field form with seconds,
// @every);
// jobs are named after the file and line; tend check shows file:line.
func TestCrontabFile(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	out, ticks := filepath.Join(dir, "out"), filepath.Join(dir, "ticks")
	crontab := filepath.Join(dir, "crontab")
	cfgWriteFile(t, crontab, fmt.Sprintf(`# m h dom mon dow command
GREETING = "hello cron"
OUT=%s

* * * * * * * echo "$GREETING from $0" >> "$OUT"
@every 1s   echo tick | tr a-z A-Z >> %s
`, out, ticks))
	stdout, stderr, code := runCheck(t, dir, "--crontab", crontab)
	if code != 0 || !regexp.MustCompile(`\[service\.crontab-[0-9a-f]{12}\]  # `+regexp.QuoteMeta(crontab)+`:5\n`).MatchString(stdout) || !strings.Contains(stdout, `schedule = "@every 1s"`) {
		t.Errorf("tend check --crontab: code %d\n%s%s", code, stdout, stderr)
	}
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 30 * time.Second}, "--crontab", crontab, "--socket", sock)
	lines := r.WaitLines(out, 2)
	if lines[0] != "hello cron from /bin/sh" {
		t.Errorf("the job saw %q, want the crontab's GREETING, run by /bin/sh", lines[0])
	}
	if got := r.WaitLines(ticks, 2); got[0] != "TICK" {
		t.Errorf("@every job: %q, want TICK (a shell pipeline)", got[0])
	}
	bySchedule := map[string]string{} // schedule -> job name
	for name, s := range r.jobs(sock) {
		if s.Job != nil {
			bySchedule[s.Job.Schedule] = name
		}
	}
	for _, sched := range []string{"* * * * * * *", "@every 1s"} {
		if name := bySchedule[sched]; !regexp.MustCompile(`^crontab-[0-9a-f]{12}$`).MatchString(name) {
			t.Errorf("the job of schedule %q is named %q, want crontab-ID (12 hex digits); jobs %v", sched, name, bySchedule)
		}
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)

	// A bad line: file:line, exit 2, from check and from a run.
	cfgWriteFile(t, crontab, "A=1\n\n*/5 * * * 8 run\n")
	want := crontab + `:3: "*/5 * * * 8" is not a schedule (end of range (8) above maximum (6): 8)`
	if _, stderr, code := runCheck(t, dir, "--crontab", crontab); code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("tend check on a bad crontab: code %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	r = startIn(t, dir, opts{}, "--crontab", crontab, "--socket", sock)
	r.ExpectExit(2)
	if !strings.Contains(r.Stderr(), want) {
		t.Errorf("tend --crontab on a bad crontab: stderr %q lacks %q", r.Stderr(), want)
	}
}

// Scenario: -c FILE -c DIR loads the file and every *.toml of DIR in
// lexical order; tend check names each service's file:line; a service in
// two files, or a setting with two values, is an error naming both; SIGHUP
// re-reads the whole set: a job file added starts a job, a job file
// removed stops one.
func TestConfigDirectoryAndJobReload(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	j1, j2 := filepath.Join(dir, "j1"), filepath.Join(dir, "j2")
	base := filepath.Join(dir, "base.toml")
	cfgWriteFile(t, base, "grace = \"5s\"\n\n[service.web]\ncommand = "+tomlArgv("/bin/sh", "-c", "sleep 1000 & wait")+"\n")
	cfgWriteFile(t, filepath.Join(confd, "10-j1.toml"), "grace = \"5s\"\n"+shJob("j1", "@every 1s", stamp("run", j1), ""))
	cfgWriteFile(t, filepath.Join(confd, "README.md"), "not a config")

	stdout, stderr, code := runCheck(t, dir, "-c", base, "-c", confd)
	for _, want := range []string{"# " + base + ", " + filepath.Join(confd, "10-j1.toml") + ", resolved with defaults", "[service.web]  # " + base + ":3\n", "[service.j1]  # " + filepath.Join(confd, "10-j1.toml") + ":2\n"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("tend check -c base -c conf.d: code %d, want %q in:\n%s%s", code, want, stdout, stderr)
		}
	}

	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", base, "-c", confd, "--socket", sock)
	r.WaitLines(j1, 2)

	// Reload: j1's file removed, j2's added.
	if err := os.Remove(filepath.Join(confd, "10-j1.toml")); err != nil {
		t.Fatal(err)
	}
	cfgWriteFile(t, filepath.Join(confd, "20-j2.toml"), shJob("j2", "@every 1s", stamp("run", j2), ""))
	r.Signal(unix.SIGHUP)
	r.WaitLines(j2, 2)
	r.Poll("j1 gone from status", func() bool { _, ok := r.jobs(sock)["j1"]; return !ok })
	n := len(readLines(j1))
	r.AliveFor(2500*time.Millisecond, "reload")
	if after := len(readLines(j1)); after != n {
		t.Errorf("j1 ran %d more times after its file was removed and tend reloaded", after-n)
	}
	if st := r.jobs(sock); st["web"].PID == 0 || st["j2"].Job == nil {
		t.Errorf("after reload: %+v", st)
	}

	// A duplicate: the reload is refused, naming both files; nothing changes.
	cfgWriteFile(t, filepath.Join(confd, "30-dup.toml"), "\n"+shJob("j2", "@hourly", "true", ""))
	r.Signal(unix.SIGHUP)
	want := filepath.Join(confd, "30-dup.toml") + ":2: service.j2: defined twice (first at " + filepath.Join(confd, "20-j2.toml") + ":1)"
	r.waitStderr("the reload error", func(line string) bool { return strings.Contains(line, want) })
	r.AliveFor(300*time.Millisecond, "a refused reload")
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)

	if _, stderr, code := runCheck(t, dir, "-c", base, "-c", confd); code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("tend check with a duplicate: code %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	// A setting given two values.
	os.Remove(filepath.Join(confd, "30-dup.toml"))
	cfgWriteFile(t, filepath.Join(confd, "40-grace.toml"), "grace = \"7s\"\n")
	want = filepath.Join(confd, "40-grace.toml") + `:1: grace: "7s" differs from "5s" set at ` + base + ":1; accepted: set it in one file, or to the same value"
	if _, stderr, code := runCheck(t, dir, "-c", base, "-c", confd); code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("tend check with two graces: code %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}

// Scenario (issue 17, item 2): a crontab's comments and other lines are
// edited while a job's run is under way (a backup, say); SIGHUP. The job
// keeps its name, so the reload leaves it alone: its run finishes
// undisturbed (not SIGTERMed) and its history stays. Jobs used to be named
// by line number: the comment renamed the job, the reload removed the old
// one (its run SIGTERMed, its history gone) and added a new one.
func TestCrontabEditKeepsRunningJob(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	crontab := filepath.Join(dir, "crontab")
	// One run a minute at second 0 would be too slow to wait for: @every
	// 2s, a run that takes 6 s and records how it ended.
	job := fmt.Sprintf(`@every 2s trap 'echo TERM >> %s; exit 143' TERM; echo start >> %s; sleep 6 & wait; echo done >> %s`, out, out, out)
	cfgWriteFile(t, crontab, job+"\n")
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "--crontab", crontab, "--socket", sock, "-v")
	r.WaitLines(out, 1) // the first run started
	var name string
	for n, s := range r.jobs(sock) {
		if s.Job != nil {
			name = n
		}
	}
	cfgWriteFile(t, crontab, "# the nightly backup: do not remove\nMAILTO=\"\"\n\n@hourly echo another job\n"+job+"\n")
	r.Signal(unix.SIGHUP)
	r.waitStderr("the reload's end", func(line string) bool { return strings.Contains(line, "reload") && strings.Contains(line, "added") })
	// The run ends by itself (6 s) with "done", never "TERM".
	got := r.WaitLines(out, 2)
	if got[1] != "done" {
		t.Errorf("the running run ended with %q after the reload, want done (undisturbed)\nstderr:\n%s", got[1], r.Stderr())
	}
	st := r.jobs(sock)
	j, ok := st[name]
	if !ok || j.Job == nil || j.Job.Runs["success"] < 1 {
		t.Errorf("job %s after the reload: %+v, want it kept with its successful run counted; jobs %v", name, j, st)
	}
	if strings.Contains(r.Stderr(), "removed") {
		t.Errorf("the reload removed a job:\n%s", r.Stderr())
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
