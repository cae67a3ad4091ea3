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
// jobs are named after the file and what they run (crontab-WORD-HASH);
// tend check shows file:line.
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
	if code != 0 || !regexpLine(stdout, `^\[service\.crontab-echo-[0-9a-f]{8}\]  # `+regexp.QuoteMeta(crontab)+`:5$`) || !strings.Contains(stdout, `schedule = "@every 1s"`) {
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
	bySchedule := map[string]string{}
	for name, s := range r.jobs(sock) {
		if s.Job != nil {
			bySchedule[s.Job.Schedule] = name
		}
	}
	if n := bySchedule["* * * * * * *"]; !regexp.MustCompile(`^crontab-echo-[0-9a-f]{8}$`).MatchString(n) {
		t.Errorf("the line 5 job is named %q in the status, want crontab-echo-HASH (%v)", n, bySchedule)
	}
	if n := bySchedule["@every 1s"]; !regexp.MustCompile(`^crontab-echo-[0-9a-f]{8}$`).MatchString(n) || n == bySchedule["* * * * * * *"] {
		t.Errorf("the line 6 job is named %q in the status, want another crontab-echo-HASH (%v)", n, bySchedule)
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

// Scenario (issue 17 item 2): comments inserted above a crontab job while
// it runs, then SIGHUP: the job is the same job (its name does not depend
// on its line), so its run goes on undisturbed to its end and its history
// (runs, last start) stays. Before, jobs were named FILE-LINE: the reload
// removed the running job (SIGTERM mid-run) and added a new one.
func TestCrontabCommentEditKeepsRunningJob(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	log, release, marks := filepath.Join(dir, "log"), filepath.Join(dir, "release"), filepath.Join(dir, "marks")
	// A long run: starts, waits for the test to release it, ends.
	backup := fmt.Sprintf(`@every 1s echo "start $$" >> %s; while [ ! -e %s ]; do sleep 0.05; done; echo "done $$" >> %s`, log, release, log)
	crontab := filepath.Join(dir, "crontab")
	cfgWriteFile(t, crontab, "SHELL=/bin/sh\n"+backup+"\n")
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "--crontab", crontab, "--socket", sock)
	first := r.WaitLines(log, 1)[0]
	pid := strings.TrimPrefix(first, "start ")
	var name string
	var before svcStatus
	r.Poll("the running job in the status", func() bool {
		for n, s := range r.jobs(sock) {
			if s.Job != nil && s.PID != 0 {
				name, before = n, s
				return true
			}
		}
		return false
	})

	// Comments and a blank line inserted above, and a new job after it
	// (its marks say the reload was applied).
	cfgWriteFile(t, crontab, "# nightly backup\n# takes a while: do not move\n\nSHELL=/bin/sh\n"+backup+"\n@every 1s echo mark >> "+marks+"\n")
	r.Signal(unix.SIGHUP)
	r.WaitLines(marks, 1)

	st := r.jobs(sock)
	after, ok := st[name]
	switch {
	case !ok:
		t.Fatalf("job %s gone from the status after the reload: %v", name, st)
	case after.PID != before.PID:
		t.Errorf("job %s: pid %d before the reload, %d after: its run was replaced", name, before.PID, after.PID)
	case after.Job.LastStart == nil || before.Job.LastStart == nil || !after.Job.LastStart.Equal(*before.Job.LastStart):
		t.Errorf("job %s: last start %v before the reload, %v after", name, before.Job.LastStart, after.Job.LastStart)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := r.WaitLines(log, 2)
	if lines[1] != "done "+pid {
		t.Errorf("after the reload the log is %q; want the run started before it (pid %s) to finish undisturbed", lines, pid)
	}
	got := r.waitJob(sock, name, "the run counted", func(s svcStatus) bool { return s.Job.Runs["success"] >= 1 })
	if n := got.Job.Runs["failure"]; n != 0 {
		t.Errorf("job %s: %d failed runs, want none: %+v", name, n, got.Job)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario (issue 17 item 1): time zone files are read bounded. A
// crontab's CRON_TZ naming a named pipe is an error at its line, exit 2,
// at once (before, startup blocked forever in open); with TZ naming a
// named pipe in tend's environment, a job with its own timezone runs and
// the status, which formats times, answers (before, Go's lazy open of $TZ
// blocked the control server forever).
func TestZoneFileBounded(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "zone-fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	crontab := filepath.Join(dir, "crontab")
	cfgWriteFile(t, crontab, "CRON_TZ="+fifo+"\n@hourly true\n")
	r := startIn(t, dir, opts{Timeout: 30 * time.Second}, "--crontab", crontab)
	r.ExpectExit(2)
	want := crontab + `:1: CRON_TZ: "` + fifo + `" is not a time zone: ` + fifo + ": a named pipe (FIFO), not a regular file; accepted:"
	if !strings.Contains(r.Stderr(), want) {
		t.Errorf("CRON_TZ=FIFO: stderr %q lacks %q", r.Stderr(), want)
	}

	runs := filepath.Join(dir, "runs")
	// No date in the job: it inherits TZ, and the C library would open the pipe too.
	cfg := writeConfig(t, dir, shJob("j", "@every 1s", "echo run >> "+runs, `timezone = "UTC"`))
	sock := filepath.Join(dir, "ctl.sock")
	r = startIn(t, dir, opts{Timeout: 40 * time.Second, Env: []string{"TZ=" + fifo}}, "-c", cfg, "--socket", sock)
	r.WaitLines(runs, 1)
	if j := r.waitJob(sock, "j", "a run counted", func(s svcStatus) bool { return s.Job.LastStart != nil && s.Job.Runs["success"] >= 1 }); j.Job.Timezone != "UTC" {
		t.Errorf("job status: %+v", j.Job)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
