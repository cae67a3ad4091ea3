package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/test/internal/harness"
)

// Helpers for the scheduled-job tests: jobs are sh -c scripts that append
// "KIND UNIXNANO" lines to a file; tend is asked through its control
// socket.

// svcStatus is a service of `tend status --json`.
type svcStatus = harness.ServiceStatus

// tendCtl runs `tend ARGS... --socket SOCK` and returns its exit code,
// stdout and stderr; it fails the test when tend does not exit normally
// within 20s.
func tendCtl(t *testing.T, sock string, args ...string) (int, string, string) {
	t.Helper()
	code, out, errs, _ := env.CLI(sock, 20*time.Second, args...)
	if code < 0 {
		t.Fatalf("tend %v: code %d (-1: did not exit normally, -2: no exit within 20s)\nstderr: %s", args, code, errs)
	}
	return code, out, errs
}

// jobs returns the services of `tend status --json` by name.
func (r *run) jobs(sock string) map[string]svcStatus {
	r.T.Helper()
	m, ok := r.tryJobs(sock)
	if !ok {
		r.T.Fatalf("no control socket at %s\n%s", sock, r.Diag())
	}
	return m
}

// tryJobs is jobs, but reports false while tend has no socket yet.
func (r *run) tryJobs(sock string) (map[string]svcStatus, bool) {
	r.T.Helper()
	code, out, errs := tendCtl(r.T, sock, "status", "--json")
	if code == 4 {
		return nil, false
	}
	if code != 0 {
		r.T.Fatalf("tend status --json: code %d: %s\n%s", code, errs, r.Diag())
	}
	rep, err := harness.ParseStatus(out)
	if err != nil {
		r.T.Fatalf("tend status --json: %v\n%s", err, out)
	}
	return rep.ByName(), true
}

// waitJob polls the status until cond holds for the named service.
func (r *run) waitJob(sock, name, what string, cond func(svcStatus) bool) svcStatus {
	r.T.Helper()
	var got svcStatus
	r.Poll(name+": "+what, func() bool {
		r.Alive("waiting for " + name + ": " + what)
		m, ok := r.tryJobs(sock)
		got = m[name]
		return ok && got.Job != nil && cond(got)
	})
	return got
}

// stamp is a shell snippet appending "KIND UNIXNANO" to file; nothing
// when date is cut short by a stop signal.
func stamp(kind, file string) string {
	return fmt.Sprintf(`t=$(date +%%s%%N) && echo "%s $t" >> %s`, kind, file)
}

type stampRec struct {
	kind string
	at   time.Time
}

func readStamps(t *testing.T, path string) []stampRec {
	t.Helper()
	var out []stampRec
	for _, line := range readLines(path) {
		kind, ns, ok := strings.Cut(line, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			t.Fatalf("%s: malformed line %q", filepath.Base(path), line)
		}
		out = append(out, stampRec{kind, time.Unix(0, n)})
	}
	return out
}

func shJob(name, schedule, script, more string) string {
	return fmt.Sprintf("[service.%s]\ncommand = %s\nschedule = %s\n%s\n", name, tomlArgv("/bin/sh", "-c", script), tomlStr(schedule), more)
}

// lateBound is how late after its due time a run's stamp may be. The stamp
// is taken by the job's own `date`, after tend's fork and the exec of sh and
// date: under load that alone took 1.9 s (load average 54, CI run), while
// tend's timer is exact to the millisecond. A */3 run more than 3 s late
// would read as the next slot's, so the slots are checked to be distinct
// and consecutive too.
const lateBound = 2500 * time.Millisecond

// Scenario: a seconds-field schedule and @every 1s run at their times.
func TestJobScheduleTimes(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	thirds, every := filepath.Join(dir, "thirds"), filepath.Join(dir, "every")
	cfg := writeConfig(t, dir, shJob("thirds", "*/3 * * * * *", stamp("run", thirds), "")+
		shJob("every", "@every 1s", stamp("run", every), ""))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock)
	r.WaitLines(thirds, 3)
	r.WaitLines(every, 4)
	var prevDue time.Time
	for i, rec := range readStamps(t, thirds) {
		// */3 in the seconds field: due at every Unix second divisible by 3.
		due := rec.at.Truncate(3 * time.Second)
		if late := rec.at.Sub(due); late > lateBound {
			t.Errorf("*/3 run at %s: %v after its due time %s (bound %v)", rec.at.Format("15:04:05.000"), late, due.Format("15:04:05"), lateBound)
		}
		if i > 0 && !due.Equal(prevDue.Add(3*time.Second)) {
			t.Errorf("*/3 run %d is due at %s, the one before at %s: want one run per 3 s slot, none skipped or doubled", i, due.Format("15:04:05"), prevDue.Format("15:04:05"))
		}
		prevDue = due
	}
	recs := readStamps(t, every)
	for i := 1; i < len(recs); i++ {
		if gap := recs[i].at.Sub(recs[i-1].at); gap < 300*time.Millisecond || gap > time.Second+2*lateBound {
			t.Errorf("@every 1s: runs %d and %d are %v apart", i-1, i, gap)
		}
	}
	st := r.jobs(sock)
	for _, name := range []string{"thirds", "every"} {
		j := st[name].Job
		if j == nil || j.Next == nil || j.Runs["success"] == 0 || j.LastSuccess == nil || j.Timezone != "UTC" {
			t.Errorf("%s: status %+v", name, st[name])
			continue
		}
		if d := time.Until(*j.Next); d > 3*time.Second+time.Second {
			t.Errorf("%s: next run %v away, want within its period", name, d)
		}
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}

// Scenario: a slow job's due times are skipped while it runs (overlap =
// "skip", counted and logged), queued with overlap = "queue"; runs never
// overlap; at shutdown the running run gets its stop signal and no new run
// starts.
func TestJobOverlap(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	slow, queue, term := filepath.Join(dir, "slow"), filepath.Join(dir, "queue"), filepath.Join(dir, "term")
	slowScript := fmt.Sprintf(`trap '%s; exit 0' TERM; %s; sleep 2.5 & wait; %s`, stamp("term", term), stamp("start", slow), stamp("end", slow))
	queueScript := fmt.Sprintf(`%s; sleep 1.4; %s`, stamp("start", queue), stamp("end", queue))
	cfg := writeConfig(t, dir, shJob("slow", "@every 1s", slowScript, "")+
		shJob("queued", "@every 1s", queueScript, `overlap = "queue"`))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock)

	r.waitJob(sock, "slow", "two runs done and a skip", func(s svcStatus) bool { return s.Job.Runs["success"] >= 2 && s.Job.Skipped >= 2 })
	r.waitJob(sock, "queued", "three runs done", func(s svcStatus) bool { return s.Job.Runs["success"] >= 3 })
	if !strings.Contains(r.Stderr(), "job still running; skipped the run due now service=slow") {
		t.Errorf("no skip logged on stderr:\n%s", r.Stderr())
	}
	if q := r.jobs(sock)["queued"]; q.Job.Skipped != 0 {
		t.Errorf("queued: %d due times skipped, want 0 with overlap = \"queue\"", q.Job.Skipped)
	}
	// Stop while slow runs: it gets its TERM, nothing starts after.
	// ... once the current run has written its start record (a TERM
	// during the $(date) of that record would cut it short).
	r.waitJob(sock, "slow", "running, its start recorded", func(s svcStatus) bool {
		lines := readLines(slow)
		return s.PID != 0 && len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "start ") && len(lines[len(lines)-1]) > len("start ")
	})
	stopAt := time.Now()
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
	if got := readLines(term); len(got) != 1 {
		t.Errorf("slow's run got %d TERMs at shutdown, want 1", len(got))
	}
	for name, path := range map[string]string{"slow": slow, "queued": queue} {
		recs := readStamps(t, path)
		running := false
		for i, rec := range recs {
			switch rec.kind {
			case "start":
				if running {
					t.Errorf("%s: run %d started while the previous one still ran:\n%v", name, i, recs)
				}
				running = true
			case "end":
				running = false
			}
			if rec.kind == "start" && rec.at.After(stopAt) {
				t.Errorf("%s: a run started %v after SIGTERM: no run may start during shutdown", name, rec.at.Sub(stopAt))
			}
		}
		if name != "queued" {
			continue
		}
		// Queued: each run starts right after the previous one ends.
		for i := 1; i < len(recs); i++ {
			if recs[i].kind == "start" && recs[i-1].kind == "end" {
				if gap := recs[i].at.Sub(recs[i-1].at); gap > lateBound {
					t.Errorf("queued: run started %v after the previous one ended, want at once", gap)
				}
			}
		}
	}
}

// Scenario: timeout stops a run with its stop signal, SIGKILL after
// stop_timeout; exit codes and results show in status and metrics; tend
// run starts a run now; a failed run is not restarted and, on a critical
// job, stops the container with its code.
func TestJobTimeoutRunAndExitCodes(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	const yearly = "0 0 1 1 *" // never during the test: runs come from tend run
	cfg := writeConfig(t, dir,
		shJob("polite", yearly, fmt.Sprintf(`trap 'exit 7' TERM; %s; sleep 30 & wait`, stamp("polite", runs)), `timeout = "700ms"`)+
			shJob("stubborn", yearly, fmt.Sprintf(`trap '' TERM; %s; sleep 30`, stamp("stubborn", runs)), `timeout = "500ms"`+"\nstop_timeout = \"500ms\"")+
			shJob("fails", yearly, fmt.Sprintf(`%s; exit 3`, stamp("fails", runs)), "")+
			shJob("fatal", yearly, `exit 4`, "critical = true")+
			"[service.web]\ncommand = "+tomlArgv("/bin/sh", "-c", "sleep 1000 & wait")+"\n")
	sock := filepath.Join(dir, "ctl.sock")
	port := cfgFreePort(t)
	r := startIn(t, dir, opts{Timeout: 40 * time.Second}, "-c", cfg, "--socket", sock, "--http", "127.0.0.1:"+strconv.Itoa(port))
	r.waitJob(sock, "polite", "scheduled", func(s svcStatus) bool { return s.State == "scheduled" })

	for _, name := range []string{"polite", "stubborn", "fails"} {
		if code, _, errs := tendCtl(t, sock, "run", name); code != 0 {
			t.Fatalf("tend run %s: code %d: %s", name, code, errs)
		}
	}
	if code, _, errs := tendCtl(t, sock, "run", "polite"); code != 1 || !strings.Contains(errs, "polite is already running") {
		t.Errorf("tend run on a running job: code %d, %q; want 1, already running", code, errs)
	}
	want := map[string]int{"polite": 7, "stubborn": 137, "fails": 3}
	for name, code := range want {
		s := r.waitJob(sock, name, "run finished", func(s svcStatus) bool { return s.PID == 0 && s.LastExit != nil })
		if *s.LastExit != code || s.State != "scheduled" {
			t.Errorf("%s: last exit %d, state %s; want %d, scheduled", name, *s.LastExit, s.State, code)
		}
		result := "timeout"
		if name == "fails" {
			result = "failure"
		}
		if s.Job.Runs[result] != 1 || s.Job.LastStart == nil || s.Job.LastDurationSeconds == nil {
			t.Errorf("%s: job status %+v, want one %s run", name, *s.Job, result)
		}
		if d := *s.Job.LastDurationSeconds; name != "fails" && (d < 0.4 || d > 10) {
			t.Errorf("%s: run took %.3fs, want about its timeout", name, d)
		}
	}
	if !strings.Contains(r.Stderr(), "job run exceeded its timeout; stopping it service=stubborn") {
		t.Errorf("no timeout logged:\n%s", r.Stderr())
	}
	r.AliveFor(1500*time.Millisecond, "a failed run of a non-critical job must not stop tend")
	if n := len(readLines(runs)); n != 3 {
		t.Errorf("%d runs recorded, want 3: a failed run is not restarted\n%s", n, strings.Join(readLines(runs), "\n"))
	}

	// The table and the metrics.
	_, text, _ := tendCtl(t, sock, "status")
	if !strings.Contains(text, "JOB ") || !regexpLine(text, `^fails +0 0 1 1 \* +\S+ +\S+ +3 +\S+ \(in `) {
		t.Errorf("tend status: no job table with fails' exit code 3:\n%s", text)
	}
	metrics := httpGet(t, "127.0.0.1:"+strconv.Itoa(port), "/metrics")
	for _, m := range []string{
		`tend_job_runs_total{service="fails",result="failure"} 1`,
		`tend_job_runs_total{service="stubborn",result="timeout"} 1`,
		`tend_job_runs_total{service="fails",result="success"} 0`,
		`tend_job_skipped_runs_total{service="fails"} 0`,
		`tend_job_last_duration_seconds{service="fails"} `,
		`tend_job_next_run_time_seconds{service="fails"} `,
	} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q:\n%s", m, metrics)
		}
	}
	if strings.Contains(metrics, `tend_job_runs_total{service="web"`) {
		t.Errorf("a service without schedule has job metrics")
	}
	if code, _, errs := tendCtl(t, sock, "run", "web"); code != 1 || !strings.Contains(errs, "web is not a job") {
		t.Errorf("tend run web: code %d %q; want 1, not a job", code, errs)
	}
	if code, _, _ := tendCtl(t, sock, "run", "nope"); code != 3 {
		t.Errorf("tend run nope: code %d, want 3 (unknown service)", code)
	}
	if code, _, _ := tendCtl(t, sock, "run"); code != 2 {
		t.Errorf("tend run without a name: code %d, want 2", code)
	}
	// A critical job's failed run stops the container with its code.
	if code, _, errs := tendCtl(t, sock, "run", "fatal"); code != 0 {
		t.Fatalf("tend run fatal: %d %s", code, errs)
	}
	r.ExpectExit(4)
}

func regexpLine(text, re string) bool {
	return regexp.MustCompile("(?m)" + re).MatchString(text)
}

// httpGet fetches path from addr with a raw HTTP/1.0 request.
func httpGet(t *testing.T, addr, path string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Scenario: a job gets the container's environment plus env_file and env,
// runs as its user, and its output lines carry its name.
func TestJobEnvUserLogs(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	cfgWriteFile(t, filepath.Join(dir, "job.env"), "FROM_FILE=file\nBOTH=file\n")
	script := `echo "uid=$(id -u) outer=$OUTER file=$FROM_FILE both=$BOTH"`
	cfg := writeConfig(t, dir, shJob("who", "0 0 1 1 *", script, `user = "65534"
env_file = "job.env"
env = { BOTH = "table" }`))
	sock := filepath.Join(dir, "ctl.sock")
	r := startIn(t, dir, opts{Env: []string{"OUTER=outer"}}, "-c", cfg, "--socket", sock)
	r.waitJob(sock, "who", "scheduled", func(s svcStatus) bool { return s.State == "scheduled" })
	if code, _, errs := tendCtl(t, sock, "run", "who"); code != 0 {
		t.Fatalf("tend run who: %d %s", code, errs)
	}
	const want = "who | uid=65534 outer=outer file=file both=table\n"
	r.Poll("the job's output line", func() bool { return strings.Contains(r.Stdout(), want) })
	s := r.waitJob(sock, "who", "run finished", func(s svcStatus) bool { return s.LastExit != nil })
	if *s.LastExit != 0 {
		t.Errorf("who exited %d", *s.LastExit)
	}
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)
}
