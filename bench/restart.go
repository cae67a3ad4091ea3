package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ---- restarts under traffic: start-first vs stop-first vs supervisord ----
//
// A client sends HTTP requests in a loop (a new connection each, 2 s
// timeout) to a server (examples/zero-downtime) behind a supervisor, first
// for a baseline window, then while the service is restarted Restarts
// times through the supervisor's own command (`tend restart web`,
// `supervisorctl restart web`), one after the other. Reported per column:
// requests failed, the longest gap between two answered requests, and the
// p99 latency with restarts against the baseline's.

// RestartOptions say what to run and how often.
type RestartOptions struct {
	Tend     string        // tend binary
	Server   string        // examples/zero-downtime binary
	Restarts int           // restarts per column
	Baseline time.Duration // traffic before the first restart
	Warmup   time.Duration // the server's start-up work (its -warmup)
	Columns  []string      // a subset of RestartColumns (none: all)
	Log      func(format string, a ...any)
}

// Restart columns.
const (
	RestartStartFirst = "tend start-first (listen, notify)"
	RestartStopFirst  = "tend stop-first (listen, notify)"
	RestartNoListen   = "tend stop-first, server binds itself"
	RestartSuper      = "supervisord (server binds itself)"
)

// RestartColumns in table order.
var RestartColumns = []string{RestartStartFirst, RestartStopFirst, RestartNoListen, RestartSuper}

// RestartResult is one column's measurement.
type RestartResult struct {
	Tool        string
	Skipped     string // why it was not measured ("" = measured)
	Requests    int    // during the restarts
	Failed      int
	LongestGap  time.Duration // between two answered requests, during the restarts
	P99Base     time.Duration // p99 latency before the restarts
	P99Restarts time.Duration // p99 latency during the restarts
	RestartCmd  time.Duration // median duration of the restart command
	CmdFailed   int           // restart commands that exited non-zero
}

// RestartReport is the whole table.
type RestartReport struct {
	Start, End time.Time
	Load       [2]string
	Opts       RestartOptions
	Results    []RestartResult
}

// RunRestart measures every column, one after the other.
func RunRestart(o RestartOptions) (*RestartReport, error) {
	if o.Restarts <= 0 {
		o.Restarts = 10
	}
	if o.Baseline <= 0 {
		o.Baseline = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	for _, p := range []*string{&o.Tend, &o.Server} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, err
		}
		*p = abs
	}
	rep := &RestartReport{Start: time.Now(), Opts: o}
	rep.Load[0] = loadavg()
	for _, col := range RestartColumns {
		if len(o.Columns) > 0 && !slices.Contains(o.Columns, col) {
			rep.Results = append(rep.Results, RestartResult{Tool: col, Skipped: "not asked for (-columns)"})
			continue
		}
		o.Log("restart: %s", col)
		res, err := runRestartColumn(o, col)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", col, err)
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Load[1] = loadavg()
	rep.End = time.Now()
	return rep, nil
}

// freePort returns a loopback port free at the time of asking.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func runRestartColumn(o RestartOptions, col string) (RestartResult, error) {
	res := RestartResult{Tool: col}
	dir, err := os.MkdirTemp("", "tendbench-restart-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return res, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	server := []string{o.Server, "-addr", addr, "-warmup", o.Warmup.String()}
	var argv, restart []string
	var env []string
	switch col {
	case RestartSuper:
		if _, err := exec.LookPath("supervisord"); err != nil {
			res.Skipped = "supervisord not installed"
			return res, nil
		}
		conf := filepath.Join(dir, "supervisord.conf")
		sock := filepath.Join(dir, "supervisor.sock")
		var b strings.Builder
		fmt.Fprintf(&b, "[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s\nloglevel=warn\nuser=root\n\n", dir, dir, dir)
		fmt.Fprintf(&b, "[unix_http_server]\nfile=%s\n\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n[supervisorctl]\nserverurl=unix://%s\n\n", sock, sock)
		fmt.Fprintf(&b, "[program:web]\ncommand=%s\nautorestart=true\nstartsecs=0\nstopsignal=TERM\nstdout_logfile=NONE\nstderr_logfile=NONE\n", strings.Join(server, " "))
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return res, err
		}
		argv = []string{"supervisord", "-c", conf}
		restart = []string{"supervisorctl", "-c", conf, "restart", "web"}
	default:
		q := make([]string, len(server))
		for i, a := range server {
			q[i] = strconv.Quote(a)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "[service.web]\ncommand = [%s]\nrestart = \"always\"\n", strings.Join(q, ", "))
		switch col {
		case RestartStartFirst:
			fmt.Fprintf(&b, "listen = [%q]\nready = { notify = true, timeout = \"30s\" }\nupdate = \"start-first\"\n", "tcp://"+addr)
		case RestartStopFirst:
			fmt.Fprintf(&b, "listen = [%q]\nready = { notify = true, timeout = \"30s\" }\nupdate = \"stop-first\"\n", "tcp://"+addr)
		case RestartNoListen:
			fmt.Fprintf(&b, "ready = { tcp = %q, timeout = \"30s\" }\n", addr)
		}
		conf := filepath.Join(dir, "tend.toml")
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return res, err
		}
		sock := filepath.Join(dir, "control.sock")
		env = []string{"TEND_SOCKET=" + sock}
		argv = []string{o.Tend, "-c", conf}
		restart = []string{o.Tend, "restart", "web"}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	url := "http://" + addr + "/"
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// Ready: one answered request.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the server never answered on %s; supervisor's stderr:\n%s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var (
		mu       sync.Mutex
		phase    int // 0 baseline, 1 restarts, 2 done
		base     []time.Duration
		during   []time.Duration
		lastOK   time.Time
		lastBody string // "hello from pid N": who answered last
		gap      time.Duration
		failed   int
		requests int
	)
	stop := make(chan struct{})
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			resp, err := client.Get(url)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = errors.New(resp.Status)
				}
			}
			t1 := time.Now()
			mu.Lock()
			if err == nil {
				lastBody = string(body)
			}
			switch phase {
			case 0:
				if err == nil {
					base = append(base, t1.Sub(t0))
				}
				lastOK = t1
			case 1:
				requests++
				if err != nil {
					failed++
				} else {
					during = append(during, t1.Sub(t0))
					gap = max(gap, t1.Sub(lastOK))
					lastOK = t1
				}
			}
			mu.Unlock()
		}
	}()
	time.Sleep(o.Baseline)
	mu.Lock()
	phase = 1
	mu.Unlock()
	var cmdTimes []time.Duration
	answeredBy := func() string { mu.Lock(); defer mu.Unlock(); return lastBody }
	for i := 0; i < o.Restarts; i++ {
		before := answeredBy()
		rc := exec.Command(restart[0], restart[1:]...)
		rc.Env = append(os.Environ(), env...)
		t0 := time.Now()
		out, err := rc.CombinedOutput()
		cmdTimes = append(cmdTimes, time.Since(t0))
		if err != nil {
			res.CmdFailed++
			o.Log("restart: %s: %v: %s", strings.Join(restart, " "), err, strings.TrimSpace(string(out)))
		}
		// One restart at a time: the next once the new process answers
		// (a restart command may return before it does), at most 30 s.
		for t := time.Now(); answeredBy() == before && time.Since(t) < 30*time.Second; {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(o.Warmup + 500*time.Millisecond) // the last restart's new instance serves
	mu.Lock()
	phase = 2
	mu.Unlock()
	close(stop)
	<-clientDone
	res.Requests, res.Failed, res.LongestGap = requests, failed, gap
	res.P99Base, res.P99Restarts = pctl(base, 0.99), pctl(during, 0.99)
	res.RestartCmd = pctl(cmdTimes, 0.5)
	return res, nil
}

// pctl is the q-quantile of ds (nearest rank), 0 for none.
func pctl(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Markdown renders the restart table.
func (rep *RestartReport) Markdown(command string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s (%.0f s) on %s: %s, %d CPUs, kernel %s. Load average at start: %s; at end: %s. Command: `%s`.\n",
		rep.Start.UTC().Format("2006-01-02 15:04 MST"), rep.End.Sub(rep.Start).Seconds(), host, cpuModel(), runtime.NumCPU(), kernel(), rep.Load[0], rep.Load[1], command)
	fmt.Fprintf(&b, "A client sends HTTP requests in a loop (a new connection each, 2 s timeout) to examples/zero-downtime (-warmup %s: its start-up work before it serves) while the service is restarted %d times, one after the other: the next restart command 200 ms after the new process answered.\n\n", rep.Opts.Warmup, rep.Opts.Restarts)
	b.WriteString("| supervisor, restart policy | requests during the restarts | failed | longest gap between answers | p99 latency, no restart | p99 latency, restarting | restart command, median | target | met |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	for _, r := range rep.Results {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | skipped: %s | | | | | | | |\n", r.Tool, r.Skipped)
			continue
		}
		target, met := "", ""
		if r.Tool == RestartStartFirst {
			target, met = "0 failed", "NO"
			if r.Failed == 0 && r.CmdFailed == 0 && r.Requests > 0 {
				met = "yes"
			}
		}
		fail := strconv.Itoa(r.Failed)
		if r.CmdFailed > 0 {
			fail += fmt.Sprintf(" (%d restart commands failed)", r.CmdFailed)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.Tool, r.Requests, fail, ms(r.LongestGap), ms(r.P99Base), ms(r.P99Restarts), ms(r.RestartCmd), target, bold(met))
	}
	return b.String()
}

// The restart table's markers in BENCHMARKS.md.
const (
	RestartBegin = "<!-- tendbench-restart:begin (generated by `make bench-compare`; do not edit by hand) -->"
	RestartEnd   = "<!-- tendbench-restart:end -->"
)

// UpdateRestartFile writes md between the restart markers of path.
func UpdateRestartFile(path, md string) error {
	return updateBlock(path, RestartBegin, RestartEnd, "## Restarts under traffic\n\n", md)
}
