package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// UsageOptions says how to measure "tend status" with per-service usage
// (issue 21) against ps -e: tend runs Services services of PerService
// processes each as PID 1 of a fresh PID namespace; inside it, testprog
// timecmd runs `tend status` and `ps -e` alternately, Runs times each, so
// both read the same /proc with the same processes in it.
type UsageOptions struct {
	Tend, Testprog   string
	Services         int // services (default 200)
	PerService       int // processes per service: a shell and PerService-1 sleeps (default 5)
	Runs             int // measured runs per command (default 30)
	Ps               string
	Log              func(format string, a ...any)
	StartupTimeout   time.Duration // for all processes to exist (default 60 s)
	MeasureTimeout   time.Duration // for the runs (default 5 min)
	ExtraStatusFlags []string      // e.g. --json
}

// UsageReport is the measured result.
type UsageReport struct {
	Start, End time.Time
	Load       [2]string
	Services   int
	Processes  int // processes in the namespace when the runs began
	Runs       int
	Status, Ps []float64 // ms per run
	Command    []string  // the tend status command line
}

// RunUsage measures.
func RunUsage(o UsageOptions) (*UsageReport, error) {
	if o.Services == 0 {
		o.Services = 200
	}
	if o.PerService == 0 {
		o.PerService = 5
	}
	if o.Runs == 0 {
		o.Runs = 30
	}
	if o.Ps == "" {
		o.Ps = "ps"
	}
	if o.StartupTimeout == 0 {
		o.StartupTimeout = 60 * time.Second
	}
	if o.MeasureTimeout == 0 {
		o.MeasureTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	ps, err := lookPath(o.Ps)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "tendbench-usage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	sock, trigger, out := filepath.Join(tmp, "ctl.sock"), filepath.Join(tmp, "go"), filepath.Join(tmp, "times")
	status := append([]string{o.Tend, "status", "--socket", sock}, o.ExtraStatusFlags...)

	var b strings.Builder
	sleeps := strings.Repeat("sleep 1000000 & ", o.PerService-1) + "wait"
	for i := range o.Services {
		fmt.Fprintf(&b, "[service.s%03d]\ncommand = [\"/bin/sh\", \"-c\", %q]\n\n", i, sleeps)
	}
	timer := append([]string{o.Testprog, "timecmd", "--wait", trigger, "--runs", strconv.Itoa(o.Runs), "--out", out, "--"}, status...)
	timer = append(append(timer, ":::"), ps, "-e")
	q := make([]string, len(timer))
	for i, a := range timer {
		q[i] = strconv.Quote(a)
	}
	fmt.Fprintf(&b, "[service.timer]\ncommand = [%s]\n", strings.Join(q, ", "))
	conf := filepath.Join(tmp, "tend.toml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}

	rep := &UsageReport{Start: time.Now(), Services: o.Services, Runs: o.Runs, Command: status}
	rep.Load[0] = loadavg()
	p, err := startNS([]string{o.Tend, "-c", conf, "--socket", sock}, os.Stderr)
	if err != nil {
		return nil, err
	}
	defer p.kill()
	want := o.Services*o.PerService + 1
	o.Log("usage: waiting for %d processes under tend", want)
	deadline := time.Now().Add(o.StartupTimeout)
	for {
		rep.Processes = len(descendants(p.pid))
		if rep.Processes >= want {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("usage: only %d of %d processes after %v", rep.Processes, want, o.StartupTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	o.Log("usage: %d processes; timing %q against %s -e, %d runs each", rep.Processes, strings.Join(status, " "), ps, o.Runs)
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		return nil, err
	}
	if err := waitFile(out, o.MeasureTimeout); err != nil {
		return nil, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		which, ns, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			continue
		}
		v := float64(n) / 1e6
		if which == "a" {
			rep.Status = append(rep.Status, v)
		} else {
			rep.Ps = append(rep.Ps, v)
		}
	}
	if len(rep.Status) != o.Runs || len(rep.Ps) != o.Runs {
		return nil, fmt.Errorf("usage: %d and %d runs timed, want %d", len(rep.Status), len(rep.Ps), o.Runs)
	}
	rep.End = time.Now()
	rep.Load[1] = loadavg()
	return rep, nil
}

// descendants lists every descendant of pid.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		c := children(queue[0])
		queue = append(queue[1:], c...)
		out = append(out, c...)
	}
	return out
}

func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH", name)
}

// UsageBegin and UsageEnd delimit the generated usage table in
// BENCHMARKS.md.
const (
	UsageBegin = "<!-- tendbench-usage:begin (generated by `make bench-compare`; do not edit by hand) -->"
	UsageEnd   = "<!-- tendbench-usage:end -->"
)

// Markdown renders the usage table: medians, p90 and the ratio of tend
// status to ps -e.
func (rep *UsageReport) Markdown(command string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s (%.0f s) on %s: %s, %d CPUs, kernel %s; %d services, %d processes in the namespace; %d runs per command, alternating, after 3 warm-up runs each.\n",
		rep.Start.UTC().Format("2006-01-02 15:04 MST"), rep.End.Sub(rep.Start).Seconds(), host, cpuModel(), runtime.NumCPU(), kernel(), rep.Services, rep.Processes, rep.Runs)
	fmt.Fprintf(&b, "Load average at start: %s; at end: %s. Command: `%s`.\n\n", rep.Load[0], rep.Load[1], command)
	b.WriteString("| command (wall time, fork to exit) | median | p90 | ÷ ps -e (median) | target | met |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	ratio := median(rep.Status) / median(rep.Ps)
	name := "`tend " + strings.Join(rep.Command[1:2], " ") + strings.Join(flagsOnly(rep.Command[2:]), " ") + "` (usage of every service)"
	fmt.Fprintf(&b, "| %s | %s | %s | %.2f× | ≤ 1× | %s |\n", name, num(median(rep.Status), "ms"), num(pct(rep.Status, 90), "ms"), ratio, bold(yes(ratio <= 1)))
	fmt.Fprintf(&b, "| `ps -e` | %s | %s | 1× | | |\n", num(median(rep.Ps), "ms"), num(pct(rep.Ps, 90), "ms"))
	return b.String()
}

// flagsOnly keeps the flags of a tend status command line other than the
// socket, each with a leading space.
func flagsOnly(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--socket" {
			i++
			continue
		}
		out = append(out, " "+args[i])
	}
	return out
}

// UpdateUsageFile writes md between the usage markers of path (appended
// when they are absent), keeping everything else.
func UpdateUsageFile(path, md string) error {
	return updateBlock(path, UsageBegin, UsageEnd, "", md)
}
